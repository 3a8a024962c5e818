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

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import io
import json
import pstats
import sys
import tempfile
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from db_apps import (  # noqa: E402
    BACKENDS,
    CASE,
    VARIANTS,
    Backend,
    Variant,
    define_world,
    prepare_backend,
)
from harness import (  # noqa: E402 - the sibling helpers, found through HERE
    Answer,
    ASGIApp,
    BenchError,
    Prepared,
    Timings,
    add_common_arguments,
    call_once,
    check_media,
    header_lines,
    loop_factory,
    prepare,
    run_info,
    shutdown_all,
    time_interleaved,
    time_requests,
    versions_of,
)

VERIFY_REQUESTS = 20

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

# -- checking -------------------------------------------------------------------------


def check_row(answer: Answer, rows: dict[int, int]) -> int:
    """Check ``answer`` is one row of ``rows`` as JSON; return its id.

    Raises:
        BenchError: Saying what is wrong (status, content type or length,
            keys, a value that is not the row's).
    """
    check_media(answer, "application/json")
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


@dataclass(kw_only=True)
class Result(Timings):
    """Timings of one variant on one backend, in microseconds per request."""

    backend: str
    variant: Variant


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
            **run_info(self.versions),
            "case": CASE.description,
            "results": rows,
            "overhead": self.overheads(),
            "skipped": self.skipped,
            "profile": self.profile,
        }

    def to_text(self) -> str:
        """Return the report as a table, then the battery's overhead per backend."""
        lines = header_lines(
            f"oakling.db in-process: {self.requests} requests x {self.repeat} repeats, "
            f"{self.rows} rows, loop {self.loop}",
            self.versions,
        )
        lines += [
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


async def _run_async(
    backends: Sequence[Backend],
    requests: int,
    repeat: int,
    warmup: int,
    profile: str | None,
) -> tuple[list[Result], str | None]:
    prepared: list[tuple[Prepared, Backend]] = []
    results: list[Result] = []
    for backend in backends:
        for variant_ in VARIANTS:
            if backend.name not in variant_.backends:
                continue
            result = Result(backend=backend.name, variant=variant_)
            results.append(result)

            async def verify_rows(
                app: ASGIApp, state: dict[str, Any], backend: Backend = backend
            ) -> Answer:
                return await verify(app, backend, state)

            item = await prepare(
                result,
                functools.partial(variant_.factory, backend),
                CASE,
                verify_rows,
                warmup,
            )
            if item is not None:
                prepared.append((item, backend))
    await time_interleaved([item for item, _ in prepared], requests, repeat)
    profile_text = None
    if profile is not None:
        profile_text = await _profile(prepared, profile, requests)
    await shutdown_all(item for item, _ in prepared)
    return results, profile_text


async def _profile(prepared: Sequence[tuple[Prepared, Backend]], wanted: str, requests: int) -> str:
    """Serve ``requests`` more requests of one variant under cProfile; return the stats.

    Sync handlers run in oakling's thread pool: for the run, that pool is
    replaced by one whose threads each profile themselves, and their stats
    are added to the event loop thread's.
    """
    import oakling.concurrency

    backend_name, _, label = wanted.partition(":")
    matches = [
        item for item, backend in prepared if backend.name == backend_name and _label(item) == label
    ]
    if not matches or matches[0].timings.error is not None:
        known = ", ".join(f"{backend.name}:{_label(item)}" for item, backend in prepared)
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
        await time_requests(item.app, CASE, item.lifespan.state, requests, item.messages)
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


def _label(item: Prepared) -> str:
    assert isinstance(item.timings, Result)
    return item.timings.variant.label


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
    factory, loop_name = loop_factory(loop)
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
        versions_of(("oakling", "sqlalchemy", "psycopg", "asyncpg", "aiosqlite")),
        table=str(world.__tablename__),
        profile=profile_text,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run from the command line; exit status 1 if any variant failed."""
    parser = argparse.ArgumentParser(
        description="Time a one-row read handler: oakling.db vs plain SQLAlchemy, in-process.",
        epilog="variants: " + "; ".join(f"{item.kind} {item.label}" for item in VARIANTS),
    )
    add_common_arguments(parser, requests=800, repeat=7, warmup=300)
    parser.add_argument("--rows", type=int, default=10_000, help="rows in the table")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated")
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
