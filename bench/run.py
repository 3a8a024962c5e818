"""Run the TechEmpower-style benchmark of oakling and its peers.

Usage::

    python bench/run.py [--quick] [--frameworks raw,oakling,...]
                        [--tests json,plaintext,db,queries,fortunes,updates]
                        [--servers uvicorn,granian] [--duration S] [--warmup S]
                        [--rounds N] [--connections N] [--no-setup] [--out PATH]
                        [--repeat-until-stable [--max-rounds N] [--stable-within F]]

(also ``python -m bench ...``). Steps:

1. Environment: ``bench/.venv`` with oakling (editable) and the pinned peers of
   ``bench/requirements.txt``, reused while those files are unchanged; the
   runner re-executes itself there (``--no-setup``: use this interpreter).
2. Database: ``tfb`` in PostgreSQL is created and filled if needed.
3. For each server, the apps are started together (each pinned to core 0, one
   worker; as many at once as PostgreSQL's connection limit allows), every
   endpoint is verified against the TFB rules, then for each test every
   framework is loaded in turn with wrk (pinned to core 1), in interleaved
   rounds (a warm-up before the first), and the median round is reported.
   With ``--repeat-until-stable``, rounds go on (up to ``--max-rounds``) until
   every ratio's 95% bootstrap CI is within ``--stable-within`` of its median.
   An endpoint that fails verification is not timed.
4. ``bench/results.md``, ``bench/results.png`` and ``bench/results.json``
   (``--quick``: ``bench/results-quick.md`` only).

The exit status is 1 when any verification failed, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import importlib.metadata
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.tfb import db as tfb_db  # noqa: E402
from bench.tfb.load import WrkError, run_wrk  # noqa: E402
from bench.tfb.report import (  # noqa: E402
    Failure,
    Memory,
    Results,
    Run,
    bootstrap_ci,
    label_for,
    write_all,
)
from bench.tfb.servers import (  # noqa: E402
    ALL_SERVERS,
    FRAMEWORKS,
    ROOT,
    SERVERS,
    AppInfo,
    Server,
    ServerError,
    app_info,
)
from bench.tfb.verify import DB_TESTS, TESTS, check_date_changes, fetch, verify_endpoint  # noqa: E402

__all__ = [
    "Plan",
    "Settings",
    "build_parser",
    "estimate_seconds",
    "main",
    "median_runs",
    "plan_runs",
    "unstable_ratios",
]

VENV = ROOT / "bench" / ".venv"
REQUIREMENTS = ROOT / "bench" / "requirements.txt"
_STAMP = ".requirements.sha256"

# Defaults of a full run: 3 interleaved rounds of 2 s counted (1 s warm-up in
# the first), 64 connections, N=20; each result is the median of its rounds.
# NOTE: on a shared 2-core VM one 6 s run of the same app varied by +-25% from
# the next; the median of interleaved rounds is what holds (docs/performance.md).
DEFAULT_DURATION = 2
DEFAULT_WARMUP = 1
DEFAULT_ROUNDS = 3
DEFAULT_CONNECTIONS = 64
# --repeat-until-stable: stop once every ratio's 95% CI is within +-5% of its
# median, or after 15 rounds (about 5 minutes per app and server at 2 s runs).
DEFAULT_MAX_ROUNDS = 15
DEFAULT_STABLE_WITHIN = 0.05
QUERIES = "20"
QUICK_FRAMEWORKS = ("raw", "oakling")
QUICK_TESTS = ("json", "plaintext")
# Per run on top of warm-up + duration: wrk start, parsing, settling (see _settle).
_RUN_OVERHEAD_S = 1.0
_SETTLE_CAP_S = 30.0
# Per group of servers: start-up, verification of every endpoint, Date check.
_GROUP_OVERHEAD_S = 8.0
_VERIFY_PER_APP_S = 8.0  # measured: 5-12 s per app on a busy 2-core machine
# PostgreSQL connections an app may hold: two pools (ORM and raw) of 8.
_CONNECTIONS_PER_APP = 16
_CONNECTIONS_RAW_APP = 8
_CONNECTION_MARGIN = 12  # left for everyone else on the database server

_VERSIONED = (
    "oakling",
    "starlette",
    "fastapi",
    "litestar",
    "blacksheep",
    "falcon",
    "flask",
    "flask-sqlalchemy",
    "django",
    "uvicorn",
    "granian",
    "uvloop",
    "httptools",
    "asyncpg",
    "psycopg",
    "sqlalchemy",
    "jinja2",
    "msgspec",
)


@dataclass
class Settings:
    """What to run and how long."""

    quick: bool
    frameworks: list[str]
    tests: list[str]
    servers: list[str]
    duration: int
    warmup: int
    connections: int
    dsn: str
    out: Path
    timed_frameworks: list[str] = field(default_factory=list)
    timed_tests: list[str] = field(default_factory=list)
    rounds: int = 1
    until_stable: bool = False
    max_rounds: int = DEFAULT_MAX_ROUNDS
    stable_within: float = DEFAULT_STABLE_WITHIN
    server_cpu: str | None = "0"
    wrk_cpu: str | None = "1"


@dataclass
class Plan:
    """The servers to start and the runs to make, per server, in groups."""

    groups: list[tuple[str, list[AppInfo]]] = field(default_factory=list)
    not_applicable: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def runs(self, settings: Settings) -> list[tuple[str, str, str, str]]:
        """Return every (server, test, framework, variant) to time, in order."""
        planned = []
        for server, apps in self.groups:
            for test in settings.timed_tests:
                for app in apps:
                    if app.name not in settings.timed_frameworks:
                        continue
                    for variant in variants(app, test):
                        planned.append((server, test, app.name, variant))
        return planned


def variants(app: AppInfo, test: str) -> list[str]:
    """Return the variants of ``test`` that ``app`` serves: ``[""]``, or orm/raw."""
    if test not in DB_TESTS:
        return [""]
    return ["orm", "raw"] if app.orm else ["raw"]


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python bench/run.py", description="TFB benchmark of oakling and its peers."
    )
    parser.add_argument("--quick", action="store_true", help="verify all, time a little")
    parser.add_argument(
        "--frameworks", help="comma-separated, default all: " + ",".join(FRAMEWORKS)
    )
    parser.add_argument("--tests", help="comma-separated, default all: " + ",".join(TESTS))
    parser.add_argument(
        "--servers",
        help="comma-separated, default: " + ",".join(SERVERS) + "; also: rsgi (granian's RSGI)",
    )
    parser.add_argument(
        "--duration", type=int, help=f"counted seconds (default {DEFAULT_DURATION})"
    )
    parser.add_argument("--warmup", type=int, help=f"warm-up seconds (default {DEFAULT_WARMUP})")
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"interleaved rounds, median reported (default {DEFAULT_ROUNDS}; quick: 1)",
    )
    parser.add_argument(
        "--repeat-until-stable",
        action="store_true",
        help="after --rounds, add rounds until every ratio's 95%% CI is within --stable-within",
    )
    parser.add_argument(
        "--max-rounds",
        type=int,
        default=DEFAULT_MAX_ROUNDS,
        help=f"with --repeat-until-stable: at most this many rounds (default {DEFAULT_MAX_ROUNDS})",
    )
    parser.add_argument(
        "--stable-within",
        type=float,
        default=DEFAULT_STABLE_WITHIN,
        help="with --repeat-until-stable: the CI's half-width relative to the median "
        f"(default {DEFAULT_STABLE_WITHIN}: +-5%%)",
    )
    parser.add_argument(
        "--connections", type=int, help=f"wrk connections (default {DEFAULT_CONNECTIONS})"
    )
    parser.add_argument("--no-setup", action="store_true", help="use this interpreter as is")
    parser.add_argument("--out", type=Path, help="the Markdown report (default bench/results.md)")
    return parser


def _pick(value: str | None, allowed: Sequence[str], what: str) -> list[str]:
    if not value:
        return list(allowed)
    chosen = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(allowed)})")
    return [item for item in allowed if item in chosen]


def _settings(args: argparse.Namespace) -> Settings:
    frameworks = _pick(args.frameworks, FRAMEWORKS, "frameworks")
    tests = _pick(args.tests, TESTS, "tests")
    servers = _pick(args.servers, ALL_SERVERS, "servers") if args.servers else list(SERVERS)
    rounds = args.rounds or (1 if args.quick else DEFAULT_ROUNDS)
    if args.quick:
        duration, warmup, connections = 1, 1, 16
        timed_frameworks = [name for name in frameworks if name in QUICK_FRAMEWORKS]
        timed_tests = [test for test in tests if test in QUICK_TESTS]
        out = ROOT / "bench" / "results-quick.md"
    else:
        duration, warmup, connections = DEFAULT_DURATION, DEFAULT_WARMUP, DEFAULT_CONNECTIONS
        timed_frameworks, timed_tests = frameworks, tests
        out = ROOT / "bench" / "results.md"
    settings = Settings(
        quick=args.quick,
        frameworks=frameworks,
        tests=tests,
        servers=servers,
        duration=args.duration or duration,
        warmup=warmup if args.warmup is None else args.warmup,
        connections=args.connections or connections,
        dsn=tfb_db.database_dsn(),
        rounds=max(1, rounds),
        until_stable=bool(args.repeat_until_stable) and not args.quick,
        max_rounds=max(max(1, rounds), args.max_rounds),
        stable_within=args.stable_within,
        out=args.out or out,
        timed_frameworks=timed_frameworks,
        timed_tests=timed_tests,
    )
    # Pin only where there are two cores to pin to (and taskset to do it).
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if not {0, 1} <= cpus or shutil.which("taskset") is None:
        settings.server_cpu = settings.wrk_cpu = None
    return settings


# -- environment ---------------------------------------------------------------------------


def _requirements_digest() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _inside_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_environment(argv: Sequence[str]) -> None:
    """Create or refresh ``bench/.venv`` and re-execute this runner in it.

    Returns only when already inside the environment; otherwise replaces the
    process (``os.execv``).

    Raises:
        subprocess.CalledProcessError: venv creation or pip failed.
    """
    if _inside_venv():
        return
    python = VENV / "bin" / "python"
    stamp = VENV / _STAMP
    digest = _requirements_digest()
    if not python.exists() or not stamp.exists() or stamp.read_text().strip() != digest:
        _progress(f"preparing {VENV.relative_to(ROOT)} (pip install -e .[postgres] -r ...)")
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "-e",
                f"{ROOT}[postgres]",
                "-r",
                str(REQUIREMENTS),
            ],
            check=True,
        )
        stamp.write_text(digest + "\n")
    script = str(ROOT / "bench" / "run.py")
    os.execv(str(python), [str(python), script, *argv])


# -- planning ------------------------------------------------------------------------------


def _connection_budget(dsn: str) -> int:
    async def read() -> int:
        import asyncpg  # type: ignore[import-untyped]  # NOTE: asyncpg ships no stubs

        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            limit = int(await conn.fetchval("SHOW max_connections"))
            reserved = int(await conn.fetchval("SHOW superuser_reserved_connections"))
            used = int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity"))
        finally:
            await conn.close()
        return limit - reserved - used - _CONNECTION_MARGIN

    return asyncio.run(read())


def plan_runs(settings: Settings, budget: int | None) -> Plan:
    """Group the apps of each server so their database pools fit ``budget``.

    All apps of a group run at once, so each test is loaded on every framework
    in turn and drift hits all alike. ``raw`` is always in the first group.
    ``budget`` None: no database test, one group per server.
    """
    plan = Plan()
    apps = []
    for name in settings.frameworks:
        info = app_info(name)
        if info.exists:
            apps.append(info)
        else:
            plan.missing.append(name)
    for server in settings.servers:
        group: list[AppInfo] = []
        used = 0
        for app in apps:
            if (server == "uvicorn" and app.kind != "asgi") or (
                server == "rsgi" and app.rsgi is None
            ):
                plan.not_applicable.append((server, app.name))
                continue
            need = _CONNECTIONS_PER_APP if app.orm else _CONNECTIONS_RAW_APP
            if budget is not None and group and used + need > budget:
                plan.groups.append((server, group))
                group, used = [], 0
            group.append(app)
            used += need
        if group:
            plan.groups.append((server, group))
    return plan


def estimate_seconds(settings: Settings, plan: Plan) -> float:
    """Return the expected wall time of the run, in seconds."""
    runs = len(plan.runs(settings))
    timed = runs * (settings.rounds * (settings.duration + _RUN_OVERHEAD_S) + settings.warmup)
    apps = sum(len(apps) for _, apps in plan.groups)
    return timed + len(plan.groups) * _GROUP_OVERHEAD_S + apps * _VERIFY_PER_APP_S


# -- running -------------------------------------------------------------------------------


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _verify_group(
    settings: Settings, server: str, servers: dict[str, Server], results: Results
) -> set[tuple[str, str, str]]:
    """Verify every endpoint of every started app; returns the failed keys."""
    failed: set[tuple[str, str, str]] = set()
    first_dates: dict[str, dict[str, str]] = {}
    for name, running in servers.items():
        try:
            first_dates[name] = fetch(running.base_url, "/plaintext").headers
        except OSError:
            first_dates[name] = {}
        for test in settings.tests:
            for variant in variants(running.app, test):
                problems = verify_endpoint(running.base_url, test, variant, settings.dsn)
                if not running.alive():
                    problems.append("the server died: " + running.log_tail())
                if any("rows not in the response were changed" in p for p in problems):
                    problems.append(
                        "(is another client writing to the tfb database? nothing else "
                        "may use it during a run)"
                    )
                if problems:
                    failed.add((name, test, variant))
                    results.failures.append(
                        Failure(server, name, test, variant, "; ".join(problems))
                    )
                    _progress(
                        f"  FAILED {server} {test} {label_for(name, test, variant)}: "
                        + "; ".join(problems)[:400]
                    )
    # Date must move: a second request more than a second after the first.
    time.sleep(1.1)
    for name, running in servers.items():
        try:
            second = fetch(running.base_url, "/plaintext").headers
        except OSError:
            second = {}
        problems = check_date_changes(first_dates[name], second)
        if not problems:
            continue
        # A frozen Date is the app's or the server's, not one endpoint's: fail them all.
        _progress(f"  FAILED {server} Date of {name}: {problems[0]}")
        for test in settings.tests:
            for variant in variants(running.app, test):
                if (name, test, variant) not in failed:
                    failed.add((name, test, variant))
                    results.failures.append(
                        Failure(server, name, test, variant, f"/plaintext: {problems[0]}")
                    )
    return failed


@dataclass
class _Progress:
    done: int = 0
    run_seconds: list[float] = field(default_factory=list)


def _eta(settings: Settings, progress: _Progress, total: int, groups_left: int) -> str:
    """Return "ETA 3m10s": runs left at the observed pace, plus group start-ups."""
    per_run = settings.duration + _RUN_OVERHEAD_S + settings.warmup / settings.rounds
    if progress.run_seconds:
        per_run = sum(progress.run_seconds) / len(progress.run_seconds)
    left = (total - progress.done) * per_run + groups_left * _GROUP_OVERHEAD_S
    return f"ETA {_clock(left)}"


def _run_group(
    settings: Settings,
    server: str,
    apps: list[AppInfo],
    group: int,
    results: Results,
    progress: _Progress,
    total: int,
    remaining_groups: int,
) -> None:
    servers: dict[str, Server] = {}
    try:
        for app in apps:
            running = Server(
                server, app, settings.dsn, python=sys.executable, cpu=settings.server_cpu
            )
            running.start()
            servers[app.name] = running
        for name, running in list(servers.items()):
            try:
                running.wait_ready()
            except ServerError as ex:
                _progress(f"  FAILED {server} {name}: the server did not start: {ex}")
                for test in settings.tests:
                    for variant in variants(running.app, test):
                        results.failures.append(
                            Failure(server, name, test, variant, f"server did not start: {ex}")
                        )
                running.stop()
                del servers[name]
        _progress(f"{server}: verifying {', '.join(servers)}")
        failed = _verify_group(settings, server, servers, results)
        # NOTE: rounds interleave: every app runs each test once per round, so
        # a slow spell of the machine hits all of them alike.
        dead: set[str] = set()
        round_index = 0
        while _another_round(settings, server, results, round_index):
            for test in settings.timed_tests:
                for name, running in servers.items():
                    if name not in settings.timed_frameworks:
                        continue
                    for variant in variants(running.app, test):
                        progress.done += 1
                        label = label_for(name, test, variant)
                        prefix = f"[{progress.done}/{total}] {server} {test} {label}"
                        if (name, test, variant) in failed:
                            if round_index == 0:
                                _progress(f"{prefix}: not timed (failed verification)")
                            continue
                        if name in dead or not running.alive():
                            if name not in dead:
                                dead.add(name)
                                reason = "the server died: " + running.log_tail()
                                results.failures.append(
                                    Failure(server, name, test, variant, reason)
                                )
                                _progress(f"{prefix}: {reason[:300]}")
                            continue
                        begun = time.monotonic()
                        _time_one(
                            settings,
                            server,
                            test,
                            name,
                            variant,
                            running,
                            results,
                            group,
                            prefix,
                            lambda: _eta(settings, progress, total, remaining_groups),
                            warm=round_index == 0,
                        )
                        progress.run_seconds.append(time.monotonic() - begun)
            round_index += 1
        for name, running in servers.items():
            rss = running.rss_bytes() if running.alive() else 0
            if rss:
                results.memory.append(Memory(server, name, rss))
    finally:
        for running in servers.values():
            running.stop()


def unstable_ratios(runs: Sequence[Run], server: str, within: float) -> list[str]:
    """Return the ratios on ``server`` whose 95% bootstrap CI is still too wide.

    Each timed app's rounds are divided, round by round, by those of the
    reference (raw, else oakling) on the same test; a ratio is stable when
    its CI's half-width is at most ``within`` times its median. A ratio with
    fewer than two rounds is unstable; an app with rounds missing (it failed
    or died) is left out.

    Returns:
        ``"test label +-7%"`` strings, empty when everything is stable.
    """
    rounds: dict[tuple[str, str, str], list[float]] = {}
    for run in runs:
        if run.server == server:
            key = (run.test, run.framework, run.variant)
            rounds.setdefault(key, []).append(run.requests_per_s)
    unstable = []
    for (test, framework, variant), values in rounds.items():
        reference = None
        for name in ("raw", "oakling"):
            if name == framework:
                break
            matches = [v for (t, f, _), v in rounds.items() if t == test and f == name]
            if matches:
                reference = matches[0]
                break
        if reference is None:
            continue
        if len(values) != len(reference):
            continue
        label = f"{test} {label_for(framework, test, variant)}"
        pairs = zip(values, reference, strict=True)
        ratios = sorted(mine / theirs for mine, theirs in pairs if theirs > 0)
        if len(ratios) < 2:
            unstable.append(f"{label} (1 round)")
            continue
        low, high = bootstrap_ci(ratios)
        middle = statistics.median(ratios)
        half = (high - low) / 2 / middle if middle else float("inf")
        if half > within:
            unstable.append(f"{label} +-{half:.0%}")
    return unstable


def _another_round(settings: Settings, server: str, results: Results, done: int) -> bool:
    """Tell whether to run round ``done + 1`` (see ``--repeat-until-stable``)."""
    if done < settings.rounds:
        return True
    if not settings.until_stable or done >= settings.max_rounds:
        return False
    unstable = unstable_ratios(results.runs, server, settings.stable_within)
    if not unstable:
        _progress(f"{server}: every ratio's 95% CI is within +-{settings.stable_within:.0%}")
        return False
    shown = ", ".join(unstable[:6]) + (" ..." if len(unstable) > 6 else "")
    _progress(f"{server}: round {done + 1} of at most {settings.max_rounds}: {shown}")
    return True


def _active_queries(dsn: str) -> int:
    async def read() -> int:
        import asyncpg

        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state = 'active' AND pid <> pg_backend_pid()"
                )
            )
        finally:
            await conn.close()

    return asyncio.run(read())


def _settle(running: Server, dsn: str, database: bool) -> float:
    """Wait until the server has finished the requests wrk left behind.

    wrk stops at its deadline with up to ``connections`` requests in flight;
    the servers finish them anyway (they do not cancel a handler when the
    client goes away). On one shared core, that backlog would run during the
    next measurement, of this framework or of the next one: wait until the
    server's processes use under 5% of a core for two 0.2 s windows, and, for
    database tests, until PostgreSQL has no query of ours running.

    Returns:
        The seconds waited (at most ``_SETTLE_CAP_S``).
    """
    started = time.monotonic()
    quiet = 0
    last = running.cpu_seconds()
    while time.monotonic() - started < _SETTLE_CAP_S and running.alive():
        time.sleep(0.2)
        now = running.cpu_seconds()
        busy = now - last > 0.01
        last = now
        if not busy and database:
            with contextlib.suppress(Exception):
                busy = _active_queries(dsn) > 0
        quiet = 0 if busy else quiet + 1
        if quiet >= 2:
            break
    return time.monotonic() - started


def _time_one(
    settings: Settings,
    server: str,
    test: str,
    name: str,
    variant: str,
    running: Server,
    results: Results,
    group: int,
    prefix: str,
    eta: Callable[[], str],
    *,
    warm: bool = True,
) -> None:
    from bench.tfb.verify import path_for

    url = running.base_url + path_for(test, variant or "orm", QUERIES)
    database = test in DB_TESTS
    try:
        if warm and settings.warmup > 0:
            run_wrk(
                url,
                test,
                duration=settings.warmup,
                connections=settings.connections,
                cpu=settings.wrk_cpu,
            )
            _settle(running, settings.dsn, database)
        measured = run_wrk(
            url,
            test,
            duration=settings.duration,
            connections=settings.connections,
            cpu=settings.wrk_cpu,
        )
    except WrkError as ex:
        results.failures.append(Failure(server, name, test, variant, f"wrk: {ex}"))
        _progress(f"{prefix}: wrk failed: {ex}")
        return
    finally:
        # The backlog of this run must not be billed to the next one.
        _settle(running, settings.dsn, database)
    if measured.requests == 0:
        reason = f"no request completed in {settings.duration} s ({measured.errors} errors)"
        results.failures.append(Failure(server, name, test, variant, reason))
        _progress(f"{prefix}: {reason}")
        return
    run = Run(
        server=server,
        test=test,
        framework=name,
        variant=variant,
        requests_per_s=measured.requests_per_s,
        p99_ms=measured.p99_ms,
        requests=measured.requests,
        errors=measured.errors,
        socket_errors=measured.socket_errors,
        non_2xx=measured.non_2xx,
        group=group,
    )
    results.runs.append(run)
    p99 = "-" if measured.p99_ms is None else f"{measured.p99_ms:.1f} ms"
    flag = f", {measured.errors:,} ERRORS" if measured.errors else ""
    _progress(f"{prefix}: {measured.requests_per_s:,.0f} req/s, p99 {p99}{flag} ({eta()})")


def median_runs(runs: Sequence[Run]) -> list[Run]:
    """Collapse the rounds of each (server, test, framework, variant) to their median.

    The median is taken by requests per second; that round's p99 is kept
    (p99s of different rounds do not average). Errors are summed over all
    rounds, so a flaky app stays flagged. Each round's req/s is kept, in
    order, for the per-round ratios of the report.
    """
    rounds: dict[tuple[str, str, str, str], list[Run]] = {}
    for run in runs:
        rounds.setdefault((run.server, run.test, run.framework, run.variant), []).append(run)
    collapsed = []
    for same in rounds.values():
        ordered = sorted(same, key=lambda run: run.requests_per_s)
        middle = ordered[(len(ordered) - 1) // 2]
        collapsed.append(
            dataclasses.replace(
                middle,
                errors=sum(run.errors for run in same),
                non_2xx=sum(run.non_2xx for run in same),
                rounds=[run.requests_per_s for run in same],
            )
        )
    return collapsed


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def _versions() -> dict[str, str]:
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        versions["wrk"] = (done.stdout + done.stderr).split()[1]
    except (OSError, IndexError):
        versions["wrk"] = "?"
    return versions


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (0, 1 on failures, 2 on setup errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if not args.no_setup:
        ensure_environment(argv)
    settings = _settings(args)
    if shutil.which("wrk") is None and settings.timed_tests:
        _progress("wrk is not installed (apt-get install wrk)")
        return 2
    budget = None
    if DB_TESTS & set(settings.tests):
        try:
            asyncio.run(tfb_db.prepare_database(settings.dsn))
            budget = _connection_budget(settings.dsn)
        except Exception as ex:  # noqa: BLE001 - any driver error: report and stop
            _progress(f"PostgreSQL at {settings.dsn} is not usable: {ex!r}")
            return 2
    plan = plan_runs(settings, budget)
    total = len(plan.runs(settings)) * settings.rounds
    estimate = estimate_seconds(settings, plan)
    groups = ", ".join(
        f"{server}: {'+'.join(a.name for a in apps)}" for server, apps in plan.groups
    )
    _progress(
        f"{total} timed runs ({settings.rounds} round(s); {settings.warmup} s warm-up in the "
        f"first, {settings.duration} s counted each, "
        f"{settings.connections} connections); groups {groups}; "
        f"estimated {_clock(estimate)}"
    )
    command = "python bench/run.py" + ("" if not argv else " " + shlex.join(argv))
    pinned = (
        f"server on CPU {settings.server_cpu}, wrk on CPU {settings.wrk_cpu}"
        if settings.server_cpu is not None
        else "not pinned (fewer than 2 CPUs or no taskset)"
    )
    results = Results(
        meta={
            "title": "TFB benchmark results" + (" (quick)" if settings.quick else ""),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": _machine(),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "command": command,
            "load": (
                f"wrk -t1 -c{settings.connections}; {settings.rounds} interleaved round(s) of "
                f"{settings.duration} s counted per run ({settings.warmup} s warm-up before the "
                "first), the median round reported"
                + (
                    f" (repeated until every ratio's 95% CI was within "
                    f"+-{settings.stable_within:.0%}, at most {settings.max_rounds} rounds)"
                    if settings.until_stable
                    else ""
                )
                + "; plaintext pipelined 16 deep; "
                f"queries and updates at N={QUERIES}; {pinned}; one server worker"
            ),
            "versions": _versions(),
            "estimate_s": round(estimate),
        }
    )
    for name in plan.missing:
        for server in settings.servers:
            results.failures.append(
                Failure(server, name, "json", "", f"bench/tfb/apps/{name}.py does not exist")
            )
    results.not_applicable = plan.not_applicable
    started_at = time.monotonic()
    progress = _Progress()
    for index, (server, apps) in enumerate(plan.groups):
        left = len(plan.groups) - index - 1
        _run_group(settings, server, apps, index, results, progress, total, left)
    wall = time.monotonic() - started_at
    results.runs = median_runs(results.runs)
    results.meta["wall_time"] = f"{_clock(wall)} (estimated {_clock(estimate)})"
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    if settings.quick:
        write_all(results, settings.out, None, None)
    else:
        write_all(
            results,
            settings.out,
            settings.out.with_suffix(".png"),
            settings.out.with_suffix(".json"),
        )
    _progress(f"wrote {settings.out} in {_clock(wall)}; {len(results.failures)} failure(s)")
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
