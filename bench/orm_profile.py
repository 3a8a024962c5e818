"""Where one ORM request spends its time: oakling.db, plain SQLAlchemy, asyncpg.

The TFB "single query" (``/db``) and "fortunes" (``/fortunes``) requests, served
in-process one at a time (no server, no concurrency, so no pool wait) from the
TFB database, in four ways:

- ``oakling.db``: the TFB app ``bench/tfb/apps/oakling.py`` (an injected
  ``AsyncSession``, one transaction per request), called as an ASGI app;
- ``plain SQLAlchemy``: the same model and query in a bare coroutine,
  ``async with async_sessionmaker() as session`` (what FastAPI's documented
  session dependency runs), no framework;
- ``plain SQLAlchemy .begin()``: the same inside ``async with
  Session.begin()``, a transaction committed per request;
- ``oakling raw``: the TFB app's asyncpg path (``/raw/db``, ``/raw/fortunes``).

For each it reports, per request:

- the round trips to PostgreSQL and which were ``BEGIN``/``COMMIT``, counted
  on the wire (``bench/pgwire.py``, a recording proxy, in a separate pass);
- wall and CPU microseconds (the main thread's CPU time; the rest of the wall
  time is spent waiting for PostgreSQL);
- greenlet switches (SQLAlchemy's async bridge) and compiled-cache hits and
  misses (SQLAlchemy's ``context.cache_hit``);
- the CPU split by layer (from cProfile's own time per function, grouped by
  module: oakling core, oakling.db, SQLAlchemy ORM / engine / sql / pool,
  asyncpg with SQLAlchemy's adapter, greenlet, the socket and epoll system
  calls each round trip makes, Jinja2, asyncio, the harness and builtins as
  "other"), as shares scaled to the unprofiled CPU time.

Usage::

    python bench/orm_profile.py [--requests N] [--dsn URL] [--json PATH]

``--dsn`` (default ``TFB_DATABASE_URL``, else ``postgresql://postgres@127.0.0.1:5432/tfb``)
names the TFB database; it is created and filled when missing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import json
import os
import pstats
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column  # noqa: E402

from bench.harness import Case, Lifespan, call_once  # noqa: E402
from bench.pgwire import WireLog  # noqa: E402
from bench.tfb import db as tfb_db  # noqa: E402

__all__ = ["LAYERS", "layer_of", "main"]


class Base(DeclarativeBase):
    """Plain SQLAlchemy's models: the same tables as the TFB apps'."""


class World(Base):
    __tablename__ = "world"
    id: Mapped[int] = mapped_column(primary_key=True)
    randomnumber: Mapped[int]


class Fortune(Base):
    __tablename__ = "fortune"
    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str]


# (module path fragment, layer), first match wins.
LAYERS: tuple[tuple[str, str], ...] = (
    ("/oakling/db/", "oakling.db"),
    ("/oakling/", "oakling core"),
    ("/sqlalchemy/dialects/postgresql/asyncpg", "asyncpg + adapter"),
    ("/asyncpg/", "asyncpg + adapter"),
    ("asyncpg.protocol", "asyncpg + adapter"),
    ("/sqlalchemy/orm/", "SQLAlchemy ORM"),
    ("/sqlalchemy/engine/", "SQLAlchemy engine"),
    ("/sqlalchemy/pool/", "SQLAlchemy pool"),
    ("/sqlalchemy/sql/", "SQLAlchemy sql (cache keys, compile)"),
    ("/sqlalchemy/ext/asyncio/", "SQLAlchemy asyncio facade"),
    ("/sqlalchemy/util/", "SQLAlchemy util (greenlet bridge)"),
    ("/sqlalchemy/event/", "SQLAlchemy events"),
    ("greenlet", "greenlet switches"),
    ("of '_socket.socket'", "socket and epoll syscalls"),
    ("of 'select.epoll'", "socket and epoll syscalls"),
    ("/selectors.py", "socket and epoll syscalls"),
    ("/jinja2/", "Jinja2"),
    ("/markupsafe/", "Jinja2"),
    ("template", "Jinja2"),
    ("/asyncio/", "asyncio"),
    ("/msgspec/", "oakling core"),
)


def layer_of(filename: str, name: str) -> str:
    """Return the layer a profiled function belongs to (see :data:`LAYERS`)."""
    where = f"{filename} {name}"
    for fragment, layer in LAYERS:
        if fragment in where:
            return layer
    return "other"


def _case(path: str) -> Case:
    media = "text/html" if "fortunes" in path else "application/json"
    return Case(name=path, description=path, path=path, media_type=media, body=b"")


class Counters:
    """Compiled-cache outcomes, counted from the engine's ``after_cursor_execute``."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    def listen(self, engine: Any) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine.default import CACHE_HIT

        def after(_conn: Any, _cur: Any, _sql: Any, _params: Any, context: Any, _m: Any) -> None:
            hit = getattr(context, "cache_hit", None)
            if hit is None:
                return
            if hit is CACHE_HIT:
                self.hits += 1
            else:
                self.misses += 1

        event.listen(engine, "after_cursor_execute", after)


Cases = dict[str, tuple[Callable[[], Awaitable[Any]], Any]]


async def _build(dsn: str) -> tuple[Cases, Lifespan]:
    """Return ``{label: (one request, sync engine or None)}`` and the app's lifespan.

    Once per process: the TFB app reads its DSN at import.
    """
    os.environ["TFB_DATABASE_URL"] = dsn
    module = importlib.import_module("bench.tfb.apps.oakling")
    app = module.app
    lifespan = Lifespan(app)
    await lifespan.startup()
    state = lifespan.state

    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    engine = create_async_engine(
        dsn.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=8, max_overflow=0
    )
    maker = async_sessionmaker(engine, expire_on_commit=False)
    env = Environment(
        loader=FileSystemLoader(ROOT / "bench" / "tfb" / "templates"),
        autoescape=select_autoescape(["html"]),
    )
    template = env.get_template("fortunes.html")
    import msgspec

    encode = msgspec.json.encode

    async def plain_db() -> bytes:
        async with maker() as session:
            world = await session.get(World, random.randint(1, 10000))
            return encode({"id": world.id, "randomNumber": world.randomnumber})

    async def plain_db_begin() -> bytes:
        async with maker.begin() as session:
            world = await session.get(World, random.randint(1, 10000))
            return encode({"id": world.id, "randomNumber": world.randomnumber})

    def render(rows: list[Any]) -> str:
        rows.append(Fortune(id=0, message=tfb_db.ADDITIONAL_FORTUNE[1]))
        rows.sort(key=lambda fortune: fortune.message)
        return template.render(fortunes=rows)

    async def plain_fortunes() -> str:
        async with maker() as session:
            return render(list(await session.scalars(select(Fortune))))

    async def plain_fortunes_begin() -> str:
        async with maker.begin() as session:
            return render(list(await session.scalars(select(Fortune))))

    def through_app(path: str) -> Callable[[], Awaitable[Any]]:
        case = _case(path)

        async def one() -> Any:
            answer = await call_once(app, case, state)
            if answer.status != 200:
                raise RuntimeError(f"{path}: {answer.status} {answer.body[:200]!r}")
            return answer

        return one

    db = app.extensions["db"]
    oak_engine = db.async_engine().sync_engine
    return {
        "db oakling.db": (through_app("/db"), oak_engine),
        "db plain SQLAlchemy": (plain_db, engine.sync_engine),
        "db plain SQLAlchemy .begin()": (plain_db_begin, engine.sync_engine),
        "db oakling raw (asyncpg)": (through_app("/raw/db"), None),
        "fortunes oakling.db": (through_app("/fortunes"), oak_engine),
        "fortunes plain SQLAlchemy": (plain_fortunes, engine.sync_engine),
        "fortunes plain SQLAlchemy .begin()": (plain_fortunes_begin, engine.sync_engine),
        "fortunes oakling raw (asyncpg)": (through_app("/raw/fortunes"), None),
    }, lifespan


def _switch_counter() -> tuple[Callable[[], int], Callable[[], None]]:
    """Count greenlet switches with ``greenlet.settrace`` (every switch and throw)."""
    import greenlet

    count = 0

    def trace(event: str, _args: Any) -> None:
        nonlocal count
        if event in ("switch", "throw"):
            count += 1

    def start() -> None:
        nonlocal count
        count = 0
        greenlet.settrace(trace)

    def stop() -> int:
        greenlet.settrace(None)
        return count

    return stop, start


async def _measure(
    label: str, one: Callable[[], Awaitable[Any]], engine: Any, requests: int
) -> dict[str, Any]:
    counters = Counters()
    if engine is not None:
        counters.listen(engine)
    for _ in range(50):  # warm-up: connections, prepared statements, compiled cache
        await one()
    counters.hits = counters.misses = 0
    walls, cpus = [], []
    for _ in range(5):
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        for _ in range(requests):
            await one()
        walls.append((time.perf_counter() - wall0) / requests * 1e6)
        cpus.append((time.thread_time() - cpu0) / requests * 1e6)
    hits, misses = counters.hits, counters.misses
    stop, start = _switch_counter()
    start()
    for _ in range(requests):
        await one()
    switches = stop() / requests
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(requests):
        await one()
    profile.disable()
    layers: dict[str, float] = {}
    others: list[tuple[float, str]] = []
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]  # NOTE: documented dict
    for (filename, line, name), (_cc, _nc, own, _cum, _callers) in stats.items():
        layer = layer_of(filename, name)
        layers[layer] = layers.get(layer, 0.0) + own
        if layer == "other":
            others.append((own, f"{filename}:{line}({name})"))
    total = sum(layers.values()) or 1.0
    cpu = statistics.median(cpus)
    return {
        "label": label,
        "wall_us": round(statistics.median(walls), 1),
        "cpu_us": round(cpu, 1),
        "waiting_us": round(statistics.median(walls) - cpu, 1),
        "greenlet_switches": round(switches, 1),
        "cache_hits": round(hits / (5 * requests), 2),
        "cache_misses": round(misses / (5 * requests), 2),
        "other_top": [where for _own, where in sorted(others, reverse=True)[:8]],
        "layers_us": {
            layer: round(own / total * cpu, 1)
            for layer, own in sorted(layers.items(), key=lambda item: -item[1])
        },
    }


async def _wire(dsn: str, requests: int) -> dict[str, dict[str, Any]]:
    """Count round trips per request of every case, through the recording proxy."""
    from sqlalchemy import make_url

    url = make_url(dsn)
    with WireLog((url.host or "127.0.0.1", url.port or 5432)) as wire:
        proxied = url.set(host="127.0.0.1", port=wire.port).render_as_string(False)
        cases, lifespan = await _build(proxied)
        counted = {}
        try:
            for label, (one, _engine) in cases.items():
                for _ in range(20):
                    await one()
                wire.clear()
                for _ in range(requests):
                    await one()
                commands = wire.transaction_commands()
                counted[label] = {
                    "round_trips": round(wire.round_trips() / requests, 2),
                    "begin_commit": sorted(set(commands)),
                    "transaction_commands": round(len(commands) / requests, 2),
                }
        finally:
            await lifespan.shutdown()
    return counted


def _table(rows: list[dict[str, Any]]) -> str:
    layers: list[str] = []
    for row in rows:
        for layer in row["layers_us"]:
            if layer not in layers:
                layers.append(layer)
    head = [
        "case",
        "round trips",
        "BEGIN/COMMIT",
        "wall us",
        "CPU us",
        "waiting us",
        "greenlet switches",
        "cache hit/miss",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        lines.append(
            f"| {row['label']} | {row['round_trips']} | {row['transaction_commands']} | "
            f"{row['wall_us']} | {row['cpu_us']} | {row['waiting_us']} | "
            f"{row['greenlet_switches']} | {row['cache_hits']}/{row['cache_misses']} |"
        )
    lines += ["", "CPU microseconds per request by layer (cProfile shares x CPU us):", ""]
    lines.append("| layer | " + " | ".join(row["label"] for row in rows) + " |")
    lines.append("|" + " --- |" * (len(rows) + 1))
    for layer in layers:
        cells = [str(row["layers_us"].get(layer, "-")) for row in rows]
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def _only(dsn: str, label: str, requests: int) -> None:
    cases, lifespan = await _build(dsn)
    try:
        one = cases[label][0]
        for _ in range(50 + requests):
            await one()
    finally:
        await lifespan.shutdown()


def _wire_in_child(dsn: str, requests: int) -> dict[str, dict[str, Any]]:
    """Run the wire count in a child process (its proxy threads stay out of the timings)."""
    import subprocess

    done = subprocess.run(
        [sys.executable, __file__, "--wire", "--dsn", dsn, "--requests", str(requests)],
        capture_output=True,
        text=True,
        check=True,
    )
    counted: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return counted


async def _run(dsn: str, requests: int) -> list[dict[str, Any]]:
    await tfb_db.prepare_database(dsn)
    wire = _wire_in_child(dsn, min(requests, 200))
    cases, lifespan = await _build(dsn)
    rows = []
    try:
        for label, (one, engine) in cases.items():
            row = await _measure(label, one, engine, requests)
            row.update(wire[label])
            rows.append(row)
            print(f"{label}: {row['wall_us']} us wall, {row['cpu_us']} us CPU", file=sys.stderr)
    finally:
        await lifespan.shutdown()
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the profile; print a Markdown table (and write JSON with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python bench/orm_profile.py")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--dsn", default=tfb_db.database_dsn())
    parser.add_argument("--json", type=Path)
    parser.add_argument("--wire", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--only",
        help="run just this case, --requests times after 50 warm-up requests, and exit "
        "(for callgrind: two runs with different --requests give instructions per request)",
    )
    args = parser.parse_args(argv)
    random.seed(0)
    if args.only:
        asyncio.run(_only(args.dsn, args.only, args.requests))
        return 0
    if args.wire:
        print(json.dumps(asyncio.run(_wire(args.dsn, args.requests))))
        return 0
    rows = asyncio.run(_run(args.dsn, args.requests))
    print(_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
