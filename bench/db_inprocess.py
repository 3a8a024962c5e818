"""In-process cost of ``oakling.db``: a handler reading one row, battery vs plain SQLAlchemy.

TechEmpower's "single query" test, served in-process (no server, no network
between client and app; the database is real): ``GET /db`` reads one random
row of ``bench_world(id, randomnumber)`` with ``session.get`` and answers
``{"id": .., "randomNumber": ..}``. The same model, query and JSON encoding
(a returned dict, encoded by oakling) in every variant; what differs is how
the handler gets its session:

- ``oakling.db Session`` / ``AsyncSession``: injected by the battery, one
  transaction per request (committed after the handler);
- ``[db.session() in handler]``: the battery's Database, but the handler
  opens its own session (``with db.session() as s``): no injection, no
  per-request transaction; it splits the battery's cost in two;
- ``plain sessionmaker`` / ``async_sessionmaker``: plain SQLAlchemy on an
  engine created here with the battery's engine option (``pool_pre_ping``),
  ``with Session() as s`` (no commit: the session rolls back on close);
- ``plain ... .begin() (commits)``: the same, in a transaction committed at
  the end (``with Session.begin() as s``), what the battery does;
- ``raw asyncpg pool``: ``pool.fetchrow`` in an async handler, for reference
  (PostgreSQL only).

Sync handlers run in oakling's thread pool, as users' sync handlers do.

Usage::

    python bench/db_inprocess.py [--requests N] [--repeat R] [--rows N] [--json]
                                 [--backends sqlite,postgresql] [--loop auto|asyncio|uvloop]
                                 [--profile BACKEND:LABEL]

Each app answers 20 requests first and every answer is checked (status,
content type and length, and the row's value against the data inserted); a
variant that fails is reported and not timed. PostgreSQL comes from
``OAKLING_BENCH_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
when it is unreachable it is reported as skipped. Each run creates its own
table (a random suffix) and drops it at the end.
"""

# NOTE: no ``from __future__ import annotations``: the handlers below are
# defined inside factories and oakling reads their annotations (``Session``)
# at startup; as strings they would not resolve (see bench/inprocess.py).

import argparse
import asyncio
import cProfile
import gc
import importlib.metadata
import io
import json
import os
import platform
import pstats
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from inprocess import (  # noqa: E402 - the sibling harness, found through HERE
    SECRET_KEY,
    Answer,
    ASGIApp,
    BenchError,
    Case,
    Lifespan,
    call_once,
    request_scope,
)

__all__ = [
    "BACKENDS",
    "VARIANTS",
    "Backend",
    "Report",
    "Result",
    "Variant",
    "check_row",
    "main",
    "run",
]

PG_URL = os.environ.get("OAKLING_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("postgresql", "sqlite")
CASE = Case(
    name="db",
    description='GET /db -> one random row as {"id":..,"randomNumber":..} (TFB single query)',
    path="/db",
    media_type="application/json",
    body=b"",
    is_json=True,
)
VERIFY_REQUESTS = 20


# -- the data -------------------------------------------------------------------


@dataclass
class Backend:
    """One database for one run: its URL, the World model and the rows inserted.

    Attributes:
        name: ``postgresql`` or ``sqlite``.
        url: The URL given to ``Database(url)`` (drivers derived by oakling.db).
        world: The mapped class of this run's table.
        rows: ``{id: randomnumber}`` as inserted.
        cleanup: Callables run at the end (drop the table, remove files).
    """

    name: str
    url: str
    world: Any
    rows: dict[int, int]
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    @property
    def table(self) -> str:
        """The table's name (``bench_world_<suffix>``)."""
        return str(self.world.__tablename__)


def define_world(table: str) -> Any:
    """Return a model ``World`` on ``table``, a subclass of ``oakling.db.Model``."""
    from sqlalchemy.orm import Mapped, mapped_column

    from oakling.db import Model

    return type(
        "World",
        (Model,),
        {
            "__tablename__": table,
            "__annotations__": {"id": Mapped[int], "randomnumber": Mapped[int]},
            "id": mapped_column(primary_key=True, autoincrement=False),
            "randomnumber": mapped_column(),
        },
    )


def prepare_backend(name: str, world: Any, rows: int, workdir: str) -> Backend:
    """Create ``world``'s table on backend ``name`` and insert ``rows`` rows.

    Raises:
        BenchError: When the database is unreachable (the backend is skipped).
    """
    from sqlalchemy import create_engine, insert, text

    from oakling.db import sync_url

    url = f"sqlite:///{os.path.join(workdir, 'bench.db')}" if name == "sqlite" else PG_URL
    options: dict[str, Any] = {}
    if name == "postgresql":
        options["connect_args"] = {"connect_timeout": 3}
    engine = create_engine(sync_url(url), **options)
    seed = random.Random(2024)
    data = {index: seed.randint(1, 10_000) for index in range(1, rows + 1)}
    table = world.__table__
    try:
        with engine.begin() as connection:
            if name == "sqlite":
                # NOTE: the battery turns WAL on when it connects; WAL stays
                # with the file, so set it first and every variant reads alike.
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            table.create(connection)
            connection.execute(
                insert(table), [{"id": key, "randomnumber": value} for key, value in data.items()]
            )
            count = connection.execute(text(f"SELECT count(*) FROM {table.name}")).scalar_one()
    except Exception as ex:
        engine.dispose()
        raise BenchError(f"{name} unavailable: {type(ex).__name__}: {ex}") from ex
    if count != rows:
        raise BenchError(f"{name}: inserted {count} rows, expected {rows}")

    def drop() -> None:
        try:
            table.drop(engine, checkfirst=True)
        finally:
            engine.dispose()

    return Backend(name, url, world, data, [drop])


# -- the variants -------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One way of writing the ``/db`` handler.

    Attributes:
        label: Shown in the table (``oakling.db Session``).
        kind: ``sync`` or ``async``: which handlers it is compared with.
        role: ``battery`` (injected session), ``manual`` (the battery's
            ``db.session()`` opened in the handler), ``plain`` (plain
            SQLAlchemy, no commit), ``plain-tx`` (plain SQLAlchemy in a
            transaction: ``Session.begin()``, commits) or ``raw`` (the driver).
        factory: ``factory(backend)`` builds the oakling app.
        backends: The backends it runs on.
    """

    label: str
    kind: str
    role: str
    factory: Callable[[Backend], ASGIApp]
    backends: tuple[str, ...] = BACKENDS


VARIANTS: list[Variant] = []


def variant(
    label: str, kind: str, role: str, backends: tuple[str, ...] = BACKENDS
) -> Callable[[Callable[[Backend], ASGIApp]], Callable[[Backend], ASGIApp]]:
    """Register the decorated app factory as a variant."""

    def decorator(factory: Callable[[Backend], ASGIApp]) -> Callable[[Backend], ASGIApp]:
        VARIANTS.append(Variant(label, kind, role, factory, backends))
        return factory

    return decorator


def _random_id(backend: Backend) -> Callable[[], int]:
    top = len(backend.rows)
    randint = random.randint
    return lambda: randint(1, top)


@variant("oakling.db Session", "sync", "battery")
def sync_battery(backend: Backend) -> ASGIApp:
    from oakling import App
    from oakling.db import Database, Session

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    app = App(secret_key=SECRET_KEY, plugins=[Database(backend.url)])

    @app.get("/db")
    def world(session: Session) -> dict[str, int]:
        row = session.get(World, random_id())
        return {"id": row.id, "randomNumber": row.randomnumber}

    return app


@variant("oakling.db [db.session() in handler]", "sync", "manual")
def sync_manual(backend: Backend) -> ASGIApp:
    from oakling import App
    from oakling.db import Database

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    db = Database(backend.url)
    app = App(secret_key=SECRET_KEY, plugins=[db])

    @app.get("/db")
    def world() -> dict[str, int]:
        with db.session() as session:
            row = session.get(World, random_id())
            return {"id": row.id, "randomNumber": row.randomnumber}

    return app


@variant("plain sessionmaker", "sync", "plain")
def sync_plain(backend: Backend) -> ASGIApp:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from oakling import App
    from oakling.db import sync_url

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    engine = create_engine(sync_url(backend.url), pool_pre_ping=True)
    Session = sessionmaker(engine)  # noqa: N806 - SQLAlchemy's documented spelling
    app = App(secret_key=SECRET_KEY)

    @app.get("/db")
    def world() -> dict[str, int]:
        with Session() as session:
            row = session.get(World, random_id())
            return {"id": row.id, "randomNumber": row.randomnumber}

    app.on_shutdown(engine.dispose)
    return app


@variant("plain sessionmaker.begin() (commits)", "sync", "plain-tx")
def sync_plain_transaction(backend: Backend) -> ASGIApp:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from oakling import App
    from oakling.db import sync_url

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    engine = create_engine(sync_url(backend.url), pool_pre_ping=True)
    Session = sessionmaker(engine)  # noqa: N806 - SQLAlchemy's documented spelling
    app = App(secret_key=SECRET_KEY)

    @app.get("/db")
    def world() -> dict[str, int]:
        with Session.begin() as session:
            row = session.get(World, random_id())
            return {"id": row.id, "randomNumber": row.randomnumber}

    app.on_shutdown(engine.dispose)
    return app


@variant("oakling.db AsyncSession", "async", "battery")
def async_battery(backend: Backend) -> ASGIApp:
    from oakling import App
    from oakling.db import AsyncSession, Database

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    app = App(secret_key=SECRET_KEY, plugins=[Database(backend.url)])

    @app.get("/db")
    async def world(session: AsyncSession) -> dict[str, int]:
        row = await session.get(World, random_id())
        return {"id": row.id, "randomNumber": row.randomnumber}

    return app


@variant("oakling.db [db.async_session() in handler]", "async", "manual")
def async_manual(backend: Backend) -> ASGIApp:
    from oakling import App
    from oakling.db import Database

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    db = Database(backend.url)
    app = App(secret_key=SECRET_KEY, plugins=[db])

    @app.get("/db")
    async def world() -> dict[str, int]:
        async with db.async_session() as session:
            row = await session.get(World, random_id())
            return {"id": row.id, "randomNumber": row.randomnumber}

    return app


@variant("plain async_sessionmaker", "async", "plain")
def async_plain(backend: Backend) -> ASGIApp:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from oakling import App
    from oakling.db import async_url

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    engine = create_async_engine(async_url(backend.url), pool_pre_ping=True)
    Session = async_sessionmaker(engine, expire_on_commit=False)  # noqa: N806
    app = App(secret_key=SECRET_KEY)

    @app.get("/db")
    async def world() -> dict[str, int]:
        async with Session() as session:
            row = await session.get(World, random_id())
            return {"id": row.id, "randomNumber": row.randomnumber}

    app.on_shutdown(engine.dispose)
    return app


@variant("plain async_sessionmaker.begin() (commits)", "async", "plain-tx")
def async_plain_transaction(backend: Backend) -> ASGIApp:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from oakling import App
    from oakling.db import async_url

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    engine = create_async_engine(async_url(backend.url), pool_pre_ping=True)
    Session = async_sessionmaker(engine, expire_on_commit=False)  # noqa: N806
    app = App(secret_key=SECRET_KEY)

    @app.get("/db")
    async def world() -> dict[str, int]:
        async with Session.begin() as session:
            row = await session.get(World, random_id())
            return {"id": row.id, "randomNumber": row.randomnumber}

    app.on_shutdown(engine.dispose)
    return app


@variant("raw asyncpg pool (reference)", "async", "raw", backends=("postgresql",))
def async_raw_asyncpg(backend: Backend) -> ASGIApp:
    import asyncpg
    from sqlalchemy import make_url

    from oakling import App

    random_id = _random_id(backend)
    # NOTE: the table name is this run's own, made here: not user input.
    query = f"SELECT id, randomnumber FROM {backend.table} WHERE id = $1"
    dsn = make_url(backend.url).set(drivername="postgresql").render_as_string(False)
    pools: list[Any] = []
    app = App(secret_key=SECRET_KEY)

    @app.on_startup
    async def open_pool() -> None:
        pools.append(await asyncpg.create_pool(dsn, min_size=1, max_size=10))

    @app.on_shutdown
    async def close_pool() -> None:
        await pools.pop().close()

    @app.get("/db")
    async def world() -> dict[str, int]:
        row = await pools[0].fetchrow(query, random_id())
        return {"id": row["id"], "randomNumber": row["randomnumber"]}

    return app


# -- checking -------------------------------------------------------------------------


def check_row(answer: Answer, rows: dict[int, int]) -> int:
    """Check ``answer`` is one row of ``rows`` as JSON; return its id.

    Raises:
        BenchError: Saying what is wrong (status, content type or length,
            keys, a value that is not the row's).
    """
    if answer.status != 200:
        raise BenchError(f"status {answer.status}, expected 200 (body {answer.body[:300]!r})")
    types = [value for name, value in answer.headers if name == b"content-type"]
    if len(types) != 1 or types[0].split(b";", 1)[0].strip().lower() != b"application/json":
        raise BenchError(f"content-type {types!r}, expected application/json")
    lengths = [value for name, value in answer.headers if name == b"content-length"]
    if len(lengths) > 1 or (lengths and int(lengths[0]) != len(answer.body)):
        raise BenchError(f"content-length {lengths!r} for a body of {len(answer.body)} bytes")
    try:
        value = json.loads(answer.body)
    except ValueError as ex:
        raise BenchError(f"body is not JSON: {answer.body[:200]!r}") from ex
    if not isinstance(value, dict) or set(value) != {"id", "randomNumber"}:
        raise BenchError(f'body {answer.body[:200]!r}, expected {{"id":..,"randomNumber":..}}')
    row_id = value["id"]
    if type(row_id) is not int or row_id not in rows:
        raise BenchError(f"id {row_id!r} is not a row of the table (1..{len(rows)})")
    if value["randomNumber"] != rows[row_id]:
        raise BenchError(
            f"row {row_id}: randomNumber {value['randomNumber']!r}, the table has {rows[row_id]}"
        )
    return row_id


async def verify(app: ASGIApp, backend: Backend, state: dict[str, Any]) -> Answer:
    """Call ``app`` :data:`VERIFY_REQUESTS` times and check every answer.

    Raises:
        BenchError: For a wrong answer, or the same id every time (the
            handler does not pick a random row).
    """
    seen: set[int] = set()
    answer: Answer | None = None
    for _ in range(VERIFY_REQUESTS):
        answer = await call_once(app, CASE, state)
        seen.add(check_row(answer, backend.rows))
    assert answer is not None
    if len(backend.rows) > 1 and len(seen) == 1:
        raise BenchError(f"the same row ({seen.pop()}) every time: no random id")
    return answer


# -- running ----------------------------------------------------------------------------


async def time_requests(
    app: ASGIApp, state: dict[str, Any], requests: int, messages_each: int
) -> tuple[int, int]:
    """Serve ``requests`` requests back to back; return (wall, CPU) nanoseconds.

    Like ``inprocess.time_requests``, plus the process's CPU time over the
    run (every thread: the loop's, the thread pool's, aiosqlite's): waiting
    on the database server costs none, so the CPU column shows what the
    Python side costs with less of the server's and the network's noise.

    Raises:
        BenchError: If the app sent a different number of messages than it did
            when verified.
    """
    template = request_scope(CASE)
    request_message = {"type": "http.request", "body": b"", "more_body": False}
    count = 0

    async def receive() -> dict[str, Any]:
        return request_message

    async def send(message: Any) -> None:
        nonlocal count
        count += 1

    copy_scope = template.copy
    copy_state = state.copy
    gc.collect()
    cpu_start = time.process_time_ns()
    start = time.perf_counter_ns()
    for _ in range(requests):
        scope = copy_scope()
        scope["state"] = copy_state()
        await app(scope, receive, send)
    elapsed = time.perf_counter_ns() - start
    cpu = time.process_time_ns() - cpu_start
    if count != messages_each * requests:
        raise BenchError(
            f"sent {count} messages for {requests} requests; {messages_each} each when verified"
        )
    return elapsed, cpu


@dataclass
class Result:
    """Timings of one variant on one backend, in microseconds per request."""

    backend: str
    variant: Variant
    runs_us: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median_us(self) -> float:
        """The median over repeats."""
        return statistics.median(self.runs_us)

    @property
    def median_cpu_us(self) -> float:
        """The median CPU time (all the process's threads) over repeats."""
        return statistics.median(self.cpu_us)

    @property
    def best_us(self) -> float:
        """The fastest repeat."""
        return min(self.runs_us)


@dataclass
class Report:
    """Everything one run measured, plus the backends it skipped and why."""

    requests: int
    repeat: int
    rows: int
    loop: str
    results: list[Result]
    skipped: dict[str, str]
    versions: dict[str, str]
    table: str = ""
    profile: str | None = None

    def find(self, backend: str, kind: str, role: str) -> Result | None:
        """Return the timed result of ``(backend, kind, role)``, if any."""
        for result in self.results:
            if (
                result.backend == backend
                and result.variant.kind == kind
                and result.variant.role == role
                and result.error is None
                and result.runs_us
            ):
                return result
        return None

    def overheads(self) -> list[dict[str, Any]]:
        """Return, per backend and kind, the battery's cost over plain SQLAlchemy.

        Each entry: ``{"backend", "kind", "what", "median_us", "median_pct",
        "best_us", "best_pct", "cpu_us", "cpu_pct"}``, the differences of the
        medians, of the best runs and of the median CPU times, in microseconds
        per request and in percent of the second variant. ``what``:

        - ``battery - plain``: the total, against the brief's plain handler
          (``with Session() as s``: no commit);
        - ``battery - plain.begin()``: against plain SQLAlchemy doing what the
          battery does, a transaction per request (``with Session.begin()``);
        - ``manual - plain``: the Database's session and engine (RoutingSession,
          SQLite's BEGIN hook);
        - ``plain.begin() - plain``: the per-request transaction (COMMIT);
        - ``injection (derived)``: ``battery - manual - (plain.begin() -
          plain)``: the provider, its exit stack and thread hops, the Request
          (``best`` fields left out: a derived figure).
        """
        pairs = (
            ("battery - plain", "battery", "plain"),
            ("battery - plain.begin()", "battery", "plain-tx"),
            ("manual - plain", "manual", "plain"),
            ("plain.begin() - plain", "plain-tx", "plain"),
        )
        entries: list[dict[str, Any]] = []
        for backend in BACKENDS:
            for kind in ("sync", "async"):
                found = {
                    role: self.find(backend, kind, role)
                    for role in ("battery", "manual", "plain", "plain-tx")
                }
                for what, high, low in pairs:
                    top, base = found[high], found[low]
                    if top is None or base is None:
                        continue
                    entries.append(
                        {
                            "backend": backend,
                            "kind": kind,
                            "what": what,
                            "median_us": round(top.median_us - base.median_us, 2),
                            "median_pct": _pct(top.median_us, base.median_us),
                            "best_us": round(top.best_us - base.best_us, 2),
                            "best_pct": _pct(top.best_us, base.best_us),
                            "cpu_us": round(top.median_cpu_us - base.median_cpu_us, 2),
                            "cpu_pct": _pct(top.median_cpu_us, base.median_cpu_us),
                        }
                    )
                battery, manual = found["battery"], found["manual"]
                plain, plain_tx = found["plain"], found["plain-tx"]
                if battery and manual and plain and plain_tx:
                    wall = battery.median_us - manual.median_us - plain_tx.median_us
                    cpu = battery.median_cpu_us - manual.median_cpu_us - plain_tx.median_cpu_us
                    wall += plain.median_us
                    cpu += plain.median_cpu_us
                    entries.append(
                        {
                            "backend": backend,
                            "kind": kind,
                            "what": "injection (derived)",
                            "median_us": round(wall, 2),
                            "median_pct": round(100 * wall / plain.median_us, 1),
                            "cpu_us": round(cpu, 2),
                            "cpu_pct": round(100 * cpu / plain.median_cpu_us, 1),
                        }
                    )
        return entries

    @property
    def failed(self) -> list[Result]:
        """Results whose app failed verification or timing."""
        return [result for result in self.results if result.error is not None]

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        rows: list[dict[str, Any]] = []
        for result in self.results:
            row: dict[str, Any] = {
                "backend": result.backend,
                "label": result.variant.label,
                "kind": result.variant.kind,
                "role": result.variant.role,
                "ok": result.error is None,
                "error": result.error,
            }
            if result.error is None and result.runs_us:
                row.update(
                    median_us=round(result.median_us, 2),
                    best_us=round(result.best_us, 2),
                    runs_us=[round(value, 2) for value in result.runs_us],
                    median_cpu_us=round(result.median_cpu_us, 2),
                    cpu_us=[round(value, 2) for value in result.cpu_us],
                )
            rows.append(row)
        return {
            "requests": self.requests,
            "repeat": self.repeat,
            "rows": self.rows,
            "table": self.table,
            "loop": self.loop,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "versions": self.versions,
            "case": CASE.description,
            "results": rows,
            "overhead": self.overheads(),
            "skipped": self.skipped,
            "profile": self.profile,
        }

    def to_text(self) -> str:
        """Return the report as a table, then the battery's overhead per backend."""
        lines = [
            f"oakling.db in-process: {self.requests} requests x {self.repeat} repeats, "
            f"{self.rows} rows, loop {self.loop}, Python {platform.python_version()}, "
            f"{platform.machine()}",
            "versions: " + ", ".join(f"{name} {ver}" for name, ver in self.versions.items()),
            f"case: {CASE.description}",
            "",
            f"{'backend':<11} {'kind':<6} {'variant':<42} {'median us':>10} {'best us':>9} "
            f"{'cpu us':>8}",
        ]
        for backend in BACKENDS:
            for result in self.results:
                if result.backend != backend:
                    continue
                head = f"{backend:<11} {result.variant.kind:<6} {result.variant.label:<42}"
                if result.error is not None:
                    lines.append(f"{head} FAILED: {result.error}")
                elif result.runs_us:
                    lines.append(
                        f"{head} {result.median_us:>10.1f} {result.best_us:>9.1f} "
                        f"{result.median_cpu_us:>8.1f}"
                    )
        lines += ["", "battery overhead per request (medians; best runs; CPU of all threads):"]
        for entry in self.overheads():
            if "best_us" in entry:
                best = f"best {entry['best_us']:+7.1f} us ({entry['best_pct']:+6.1f}%)"
            else:
                best = " " * 27
            lines.append(
                f"  {entry['backend']:<11} {entry['kind']:<6} {entry['what']:<24} "
                f"median {entry['median_us']:+7.1f} us ({entry['median_pct']:+6.1f}%)  {best}  "
                f"cpu {entry['cpu_us']:+7.1f} us ({entry['cpu_pct']:+6.1f}%)"
            )
        for name, reason in self.skipped.items():
            lines.append(f"skipped {name}: {reason}")
        if self.profile:
            lines += ["", self.profile]
        return "\n".join(lines)


def _pct(value: float, base: float) -> float:
    return round(100 * (value / base - 1), 1)


def _versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for dist in ("oakling", "sqlalchemy", "psycopg", "asyncpg", "aiosqlite"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "-"
    return versions


@dataclass
class _Prepared:
    result: Result
    app: ASGIApp
    lifespan: Lifespan
    messages: int
    backend: Backend


async def _run_async(
    backends: Sequence[Backend],
    requests: int,
    repeat: int,
    warmup: int,
    profile: str | None,
) -> tuple[list[Result], str | None]:
    prepared: list[_Prepared] = []
    results: list[Result] = []
    for backend in backends:
        for variant_ in VARIANTS:
            if backend.name not in variant_.backends:
                continue
            result = Result(backend.name, variant_)
            results.append(result)
            try:
                app = variant_.factory(backend)
                lifespan = Lifespan(app)
                await lifespan.startup()
            except Exception as ex:  # noqa: BLE001 - report it, time the others
                result.error = f"could not start: {type(ex).__name__}: {ex}"
                continue
            try:
                answer = await verify(app, backend, lifespan.state)
                if warmup:
                    await time_requests(app, lifespan.state, warmup, answer.messages)
            except Exception as ex:  # noqa: BLE001 - report it, time the others
                result.error = f"{type(ex).__name__}: {ex}"
                await lifespan.shutdown()
                continue
            prepared.append(_Prepared(result, app, lifespan, answer.messages, backend))
    # NOTE: repeats interleaved, in a rotating order, so that drift on a shared
    # machine (another process, the database's own work) hits every variant.
    for round_index in range(repeat):
        shift = round_index % max(len(prepared), 1)
        for item in prepared[shift:] + prepared[:shift]:
            if item.result.error is not None:
                continue
            try:
                elapsed, cpu = await time_requests(
                    item.app, item.lifespan.state, requests, item.messages
                )
            except Exception as ex:  # noqa: BLE001 - report it, time the others
                item.result.error = f"{type(ex).__name__}: {ex}"
                item.result.runs_us.clear()
                continue
            item.result.runs_us.append(elapsed / requests / 1000)
            item.result.cpu_us.append(cpu / requests / 1000)
    profile_text = None
    if profile is not None:
        profile_text = await _profile(prepared, profile, requests)
    for item in prepared:
        await item.lifespan.shutdown()
    return results, profile_text


async def _profile(prepared: Sequence[_Prepared], wanted: str, requests: int) -> str:
    """Serve ``requests`` more requests of one variant under cProfile; return the stats.

    Sync handlers run in oakling's thread pool: for the run, that pool is
    replaced by one whose threads each profile themselves, and their stats
    are added to the event loop thread's.
    """
    import oakling.concurrency

    backend_name, _, label = wanted.partition(":")
    matches = [
        item
        for item in prepared
        if item.backend.name == backend_name and item.result.variant.label == label
    ]
    if not matches or matches[0].result.error is not None:
        known = ", ".join(f"{item.backend.name}:{item.result.variant.label}" for item in prepared)
        return f"profile: no timed variant {wanted!r}; known: {known}"
    item = matches[0]
    thread_profiles: list[cProfile.Profile] = []

    def start_thread_profile() -> None:
        profiler = cProfile.Profile()
        thread_profiles.append(profiler)
        profiler.enable()

    # NOTE: bench-only: swap oakling's private executor for a profiling one.
    previous = oakling.concurrency._executor
    executor = ThreadPoolExecutor(max_workers=40, initializer=start_thread_profile)
    oakling.concurrency._executor = executor
    main_profile = cProfile.Profile()
    try:
        main_profile.enable()
        await time_requests(item.app, item.lifespan.state, requests, item.messages)
        main_profile.disable()
    finally:
        oakling.concurrency._executor = previous
        executor.shutdown(wait=True)
    stream = io.StringIO()
    stats = pstats.Stats(main_profile, stream=stream)
    for profiler in thread_profiles:
        stats.add(profiler)
    stream.write(f"cProfile of {wanted}, {requests} requests (all threads)\n")
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(45)
    return stream.getvalue()


def _loop_factory(choice: str) -> tuple[Callable[[], asyncio.AbstractEventLoop], str]:
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            return uvloop.new_event_loop, f"uvloop {importlib.metadata.version('uvloop')}"
    return asyncio.new_event_loop, "asyncio"


def run(
    backends: Sequence[str] = BACKENDS,
    requests: int = 800,
    repeat: int = 7,
    rows: int = 10_000,
    loop: str = "auto",
    warmup: int | None = None,
    profile: str | None = None,
) -> Report:
    """Create the tables, verify and time every variant, drop the tables.

    Args:
        backends: ``postgresql`` and/or ``sqlite``.
        requests: Requests per timed run.
        repeat: Timed runs per variant (interleaved across variants).
        rows: Rows in the table.
        loop: ``auto`` (uvloop when installed), ``uvloop`` or ``asyncio``.
        warmup: Untimed requests per variant first (default ``min(requests, 300)``).
        profile: ``backend:label`` of a variant to run once more under cProfile.

    Raises:
        ValueError: For an unknown backend.
    """
    from oakling.db import Model

    for name in backends:
        if name not in BACKENDS:
            raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    world = define_world(f"bench_world_{uuid.uuid4().hex[:10]}")
    skipped: dict[str, str] = {}
    ready: list[Backend] = []
    factory, loop_name = _loop_factory(loop)
    try:
        with tempfile.TemporaryDirectory(prefix="oakling-bench-db-") as workdir:
            try:
                for name in BACKENDS:
                    if name not in backends:
                        continue
                    try:
                        ready.append(prepare_backend(name, world, rows, workdir))
                    except BenchError as ex:
                        skipped[name] = str(ex)
                with asyncio.Runner(loop_factory=factory) as runner:
                    results, profile_text = runner.run(
                        _run_async(
                            ready,
                            requests,
                            repeat,
                            min(requests, 300) if warmup is None else warmup,
                            profile,
                        )
                    )
            finally:
                for backend in ready:
                    for cleanup in backend.cleanup:
                        cleanup()
    finally:
        Model.metadata.remove(world.__table__)
    return Report(
        requests,
        repeat,
        rows,
        loop_name,
        results,
        skipped,
        _versions(),
        table=str(world.__tablename__),
        profile=profile_text,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run from the command line; exit status 1 if any variant failed."""
    parser = argparse.ArgumentParser(
        description="Time a one-row read handler: oakling.db vs plain SQLAlchemy, in-process.",
        epilog="variants: " + "; ".join(f"{item.kind} {item.label}" for item in VARIANTS),
    )
    parser.add_argument("--requests", type=int, default=800, help="requests per timed run")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per variant")
    parser.add_argument("--rows", type=int, default=10_000, help="rows in the table")
    parser.add_argument("--warmup", type=int, help="untimed requests first (default 300)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--profile",
        metavar="BACKEND:LABEL",
        help="then profile one variant (e.g. 'postgresql:oakling.db Session') with cProfile",
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.repeat < 1 or args.rows < 2:
        parser.error("--requests and --repeat must be at least 1, --rows at least 2")
    try:
        report = run(
            backends=[name for name in args.backends.split(",") if name],
            requests=args.requests,
            repeat=args.repeat,
            rows=args.rows,
            loop=args.loop,
            warmup=args.warmup,
            profile=args.profile,
        )
    except ValueError as ex:
        parser.error(str(ex))
    print(json.dumps(report.to_json(), indent=2) if args.json else report.to_text())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
