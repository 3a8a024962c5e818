"""Soak: the Tasks demo under mixed load for a bounded time, then its books checked.

It starts the demo itself, as an operator would: ``uvicorn --workers 2`` on a
fresh PostgreSQL database (created for the run, dropped after it), sessions
and auth throttles on Redis. K virtual users sign up once each, then loop:
list ``/api/tasks``, ``GET /``, create a task, toggle one, fetch a page asset,
sign in again now and then, and delete their oldest tasks beyond a few dozen
(so pages keep one size and RSS measures leaks, not data).

It reports requests, errors by status, p50/p99 latency, each worker's RSS
every ``--sample`` seconds (``psutil``; workers are the uvicorn master's
children), and acknowledged writes missing from the database: every create
that was answered 303 must be a row of ``tasks_task``, read with ``psycopg``
directly, with the ``completed`` flag its acknowledged toggles left (and an
acknowledged delete must be gone).

Targets (issue 9): 0 errors, 0 lost acknowledged writes, and each worker's
RSS grows by less than 5% over the last half of the run (the issue: the last
5 minutes of a 10-minute soak). The exit code is 1 when one is missed.

    python bench/soak.py --duration 600 --users 20

The JSON summary goes to stdout, the table to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from live import (  # noqa: E402 - the sibling helpers, found through HERE
    DEFAULT_POSTGRES,
    DEFAULT_REDIS,
    DemoServer,
    Recorder,
    User,
    WriteLog,
    check_writes,
    client_for,
    demo_env,
    emit,
    fresh_database,
    print_table,
)

RSS_GROWTH_LIMIT = 5.0  # percent, over the last half of the run


async def user_loop(user: User, deadline: float, think: float, login_every: int, keep: int) -> None:
    """Drive one signed-up user until ``deadline`` (monotonic seconds)."""
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        if login_every and rounds % login_every == 0:
            await user.login()
        await user.list_api()
        await user.index()
        await user.create()
        await user.list_api()
        await user.toggle()
        await user.static()
        if len(user.ids) > keep:
            await user.delete_oldest(keep)
        if think:
            await asyncio.sleep(random.uniform(0, 2 * think))


async def sample_rss(
    server: DemoServer, deadline: float, every: float, out: list[dict[str, Any]], start: float
) -> None:
    """Append a sample every ``every`` s until ``deadline``.

    Each is ``{"t": s since start, "rss_mb": {pid: MiB}, "load1": 1-minute load average}``.
    """
    while True:
        out.append(
            {
                "t": round(time.monotonic() - start, 1),
                "rss_mb": {str(pid): round(mb, 1) for pid, mb in server.rss().items() if mb},
                "load1": round(os.getloadavg()[0], 2),
            }
        )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(min(every, remaining))


def rss_growth(samples: list[dict[str, Any]], duration: float) -> dict[str, dict[str, float]]:
    """Each worker's RSS growth over the last half of the run, in MiB and %.

    Compared: the median of the samples in the first tenth of the run after
    its midpoint, and the median of those in the run's last tenth (at least
    one sample each). Medians, because a sample taken while a login hashes
    its password holds argon2's transient 64 MiB: memory in use at that
    instant, not growth.
    """
    growth: dict[str, dict[str, float]] = {}
    if not samples:
        return growth
    span = max(duration / 10, 1e-9)
    half = duration / 2
    early = [s for s in samples if half <= s["t"] <= half + span] or [
        min(samples, key=lambda s: abs(s["t"] - half))
    ]
    late = [s for s in samples if s["t"] >= duration - span] or samples[-1:]
    for pid in samples[-1]["rss_mb"]:
        start = (
            statistics.median(s["rss_mb"][pid] for s in early if pid in s["rss_mb"])
            if any(pid in s["rss_mb"] for s in early)
            else None
        )
        end = statistics.median(s["rss_mb"][pid] for s in late if pid in s["rss_mb"])
        if start:
            values = [s["rss_mb"][pid] for s in samples if pid in s["rss_mb"] and s["t"] >= half]
            growth[pid] = {
                "mid_mb": round(start, 1),
                "end_mb": round(end, 1),
                "growth_pct": round(100 * (end - start) / start, 2),
                "max_last_half_mb": max(values),
            }
    return growth


async def run_load(
    server: DemoServer, args: argparse.Namespace, recorder: Recorder, log: WriteLog
) -> list[dict[str, Any]]:
    """Sign the users up, run their loops for ``args.duration`` s, sample RSS meanwhile."""
    clients = [client_for(server.url, 2) for _ in range(args.users)]
    run = os.urandom(3).hex()
    users = [User(c, recorder, log.new(), f"soak{run}u{i}") for i, c in enumerate(clients)]
    try:
        # NOTE: a few at a time: each sign-up hashes a password (argon2, ~50 ms of CPU).
        for start in range(0, len(users), 5):
            await asyncio.gather(*(user.signup() for user in users[start : start + 5]))
        started = time.monotonic()
        deadline = started + args.duration
        samples: list[dict[str, Any]] = []
        sampler = asyncio.create_task(sample_rss(server, deadline, args.sample, samples, started))
        await asyncio.gather(
            *(user_loop(u, deadline, args.think, args.login_every, args.keep) for u in users)
        )
        await sampler
        return samples
    finally:
        for client in clients:
            await client.aclose()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (600)")
    parser.add_argument("--users", type=int, default=20, help="virtual users (20)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (2)")
    parser.add_argument("--port", type=int, default=18101, help="the demo's port (18101)")
    parser.add_argument("--sample", type=float, default=10.0, help="RSS sample period, s (10)")
    parser.add_argument(
        "--think", type=float, default=0.2, help="mean pause between a user's rounds, s (0.2)"
    )
    parser.add_argument(
        "--login-every", type=int, default=20, help="sign in again every N rounds (20; 0: never)"
    )
    parser.add_argument("--keep", type=int, default=30, help="tasks kept per user (30)")
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help="a PostgreSQL URL on the server to use; the run makes its own database next to it",
    )
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis URL for sessions/throttles")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    parser.add_argument("--log", type=Path, default=None, help="the server's log file")
    parser.add_argument(
        "--migrate-in-workers",
        action="store_true",
        help="let each worker migrate at startup (default: migrate first from one process)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    recorder = Recorder()
    log = WriteLog()
    prefix = (args.postgres.rsplit("/", 1)[-1] or "oakling") + "_soak"
    import psutil

    load_before = os.getloadavg()
    with fresh_database(args.postgres, prefix, args.keep_database) as database_url:
        server = DemoServer(args.port, demo_env(database_url, args.redis), args.workers, args.log)
        if not args.migrate_in_workers:
            server.migrate()
        server.start()
        pids_before = server.worker_pids()
        cpu_before = psutil.cpu_times()
        try:
            samples = asyncio.run(run_load(server, args, recorder, log))
        finally:
            pids_after = server.worker_pids()
            cpu_after = psutil.cpu_times()
            exit_code = server.stop()
        writes = check_writes(database_url, log)
        tracebacks = server.log_text().count("Traceback")
    busy = sum(cpu_after) - sum(cpu_before) - (cpu_after.idle - cpu_before.idle)
    total = sum(cpu_after) - sum(cpu_before)
    growth = rss_growth(samples, args.duration)
    stats = recorder.summary()
    lost = writes["missing"] + writes["wrong_completed"] + writes["deleted_but_present"]
    targets = {
        "zero_errors": stats["errors"] == 0,
        "zero_lost_writes": lost == 0,
        "rss_growth_under_5pct": bool(growth)
        and all(g["growth_pct"] < RSS_GROWTH_LIMIT for g in growth.values()),
        "workers_unchanged": pids_before == pids_after,
    }
    summary = {
        "script": "soak",
        "duration_s": args.duration,
        "users": args.users,
        "workers": args.workers,
        **stats,
        "writes": writes,
        "rss_growth_last_half": growth,
        "rss_samples": samples,
        "worker_pids": {"before": pids_before, "after": pids_after},
        "server_exit_code": exit_code,
        "server_log_tracebacks": tracebacks,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "cpu_busy_pct": round(100 * busy / total, 1) if total else None,
        },
        "targets": targets,
        "passed": all(targets.values()),
    }
    emit(summary)
    rows: list[tuple[str, object]] = [
        ("duration, users, workers", f"{args.duration:g} s, {args.users}, {args.workers}"),
        ("requests", f"{stats['requests']} ({stats['requests'] / args.duration:.1f}/s)"),
        ("statuses", stats["statuses"]),
        ("errors", f"{stats['errors']} {stats['errors_by_kind'] or ''}"),
        ("p50 / p99 (ms)", f"{stats['p50_ms']} / {stats['p99_ms']}"),
        ("acknowledged creates", writes["acknowledged_creates"]),
        (
            "missing / wrong state / undeleted",
            f"{writes['missing']} / {writes['wrong_completed']} / {writes['deleted_but_present']}",
        ),
    ]
    for pid, g in growth.items():
        rows.append(
            (
                f"worker {pid} RSS mid -> end",
                f"{g['mid_mb']} -> {g['end_mb']} MiB "
                f"({g['growth_pct']:+.2f}%), max {g['max_last_half_mb']}",
            )
        )
    rows.append(
        (
            "machine load (1-min avg) before/after",
            f"{load_before[0]:.2f} / "
            f"{summary['machine']['loadavg_after'][0]:.2f}, CPU busy "
            f"{summary['machine']['cpu_busy_pct']}%",
        )
    )
    rows.extend((f"target {name}", "ok" if ok else "MISSED") for name, ok in targets.items())
    print_table("soak: the Tasks demo under mixed load", rows)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
