"""Overload: 500 concurrent connections on ``GET /api/tasks`` of the Tasks demo, 2 workers.

It starts the demo as ``soak.py`` does (uvicorn, 2 workers, a fresh
PostgreSQL database made for the run and dropped after it, Redis sessions),
signs one user up, stores a few tasks, makes an API token on the list page,
and then holds ``--connections`` connections busy on ``GET /api/tasks`` with
``Authorization: Bearer <token>`` for ``--duration`` seconds: with ``wrk``
(a Lua script counts the statuses) when it is installed, else with an
``httpx`` pool of that many connections.

Targets (issue 9): no 5xx other than 503 (a full pool is a 503 with
``Retry-After``, never a 500); no worker crash (the worker PIDs are the same
before, during and after); each worker's RSS, read ``--settle`` (30) seconds
after the load ends, within 10% of its value before the load (read after a
short warm-up, so the first requests' imports are not counted as growth).
The exit code is 1 when one is missed. Client-side timeouts and socket
errors are reported, not judged.

    python bench/overload.py --duration 60 --connections 500

The JSON summary goes to stdout, the table to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

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
    client_for,
    demo_env,
    emit,
    fresh_database,
    percentile,
    print_table,
)

RSS_TOLERANCE = 10.0  # percent
WRK_SCRIPT = """
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer %(token)s"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  local key = tostring(status)
  if status == 503 and headers["retry-after"] == nil and headers["Retry-After"] == nil then
    key = "503-without-Retry-After"
  end
  statuses[key] = (statuses[key] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, string.format('"%%s": %%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %%d, "duration_us": %%d, "statuses": {%%s}, ' ..
    '"errors": {"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d}, ' ..
    '"p50_ms": %%.1f, "p99_ms": %%.1f, "max_ms": %%.1f}\\n',
    summary.requests, summary.duration, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


async def prepare(server: DemoServer, tasks: int) -> str:
    """Sign a user up, store ``tasks`` tasks, and return a new API token (read and write)."""
    recorder = Recorder()
    async with client_for(server.url) as client:
        user = User(client, recorder, WriteLog().new(), f"over{os.urandom(3).hex()}")
        if not await user.signup():
            raise RuntimeError(f"sign-up failed: {recorder.summary()}")
        await user.index()
        for _ in range(tasks):
            await user.create()
        token = await user.make_token()
    if not token:
        raise RuntimeError(f"no token from POST /tokens: {recorder.summary()}")
    return token


async def warm_up(url: str, token: str, requests: int, concurrency: int = 10) -> Counter[int]:
    """Send ``requests`` authenticated list requests, ``concurrency`` at a time."""
    statuses: Counter[int] = Counter()
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:

        async def one_by_one(count: int) -> None:
            for _ in range(count):
                statuses[(await client.get("/api/tasks")).status_code] += 1

        await asyncio.gather(*(one_by_one(requests // concurrency) for _ in range(concurrency)))
    return statuses


def run_wrk(
    url: str, token: str, connections: int, duration: float, timeout: float
) -> dict[str, Any]:
    """Run wrk against ``url``/api/tasks and return its figures (the Lua script's JSON)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"token": token})
    try:
        threads = max(1, min(os.cpu_count() or 1, connections))
        completed = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{int(duration)}s",
                f"--timeout={int(timeout)}s",
                "-s",
                script.name,
                url + "/api/tasks",
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
        )
    finally:
        os.unlink(script.name)
    for line in completed.stdout.splitlines():
        if line.startswith("WRK-JSON "):
            figures: dict[str, Any] = json.loads(line.removeprefix("WRK-JSON "))
            figures["tool"] = "wrk"
            return figures
    raise RuntimeError(f"wrk gave no figures:\n{completed.stdout}\n{completed.stderr}")


async def run_httpx(
    url: str, token: str, connections: int, duration: float, timeout: float
) -> dict[str, Any]:
    """Hold ``connections`` httpx connections busy on ``/api/tasks`` for ``duration`` s."""
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"authorization": f"Bearer {token}"}
    started = time.monotonic()
    deadline = started + duration
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=timeout, limits=limits
    ) as client:

        async def loop() -> None:
            while time.monotonic() < deadline:
                sent = time.monotonic()
                try:
                    response = await client.get("/api/tasks")
                except httpx.HTTPError as ex:
                    errors[type(ex).__name__] += 1
                    continue
                latencies.append(time.monotonic() - sent)
                key = str(response.status_code)
                if key == "503" and "retry-after" not in response.headers:
                    key = "503-without-Retry-After"
                statuses[key] += 1

        await asyncio.gather(*(loop() for _ in range(connections)))
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    return {
        "tool": "httpx",
        "requests": sum(statuses.values()),
        "duration_us": int((time.monotonic() - started) * 1e6),
        "statuses": dict(statuses),
        "errors": dict(errors),
        "p50_ms": None if p50 is None else round(p50 * 1000, 1),
        "p99_ms": None if p99 is None else round(p99 * 1000, 1),
        "max_ms": round(max(latencies, default=0) * 1000, 1),
    }


def _rounded(rss: dict[int, float | None]) -> dict[str, float | None]:
    return {str(pid): None if mb is None else round(mb, 1) for pid, mb in rss.items()}


def watch_workers(server: DemoServer, stop: list[bool], seen: set[tuple[int, ...]]) -> None:
    """Record each distinct set of worker PIDs seen, every 0.5 s, until ``stop[0]``."""
    while not stop[0]:
        seen.add(tuple(server.worker_pids()))
        time.sleep(0.5)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    parser.add_argument("--connections", type=int, default=500, help="open connections (500)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (2)")
    parser.add_argument("--port", type=int, default=18111, help="the demo's port (18111)")
    parser.add_argument(
        "--tasks", type=int, default=20, help="tasks in the listed user's list (20)"
    )
    parser.add_argument(
        "--settle", type=float, default=30.0, help="s after the load before RSS is read (30)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="client timeout per request, s (30)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="load rounds, each followed by --settle s (1; the targets judge the first)",
    )
    parser.add_argument(
        "--warmup-connections",
        type=int,
        default=10,
        help="concurrent connections of the 400-request warm-up before RSS is read (10)",
    )
    parser.add_argument(
        "--tool", choices=("auto", "wrk", "httpx"), default="auto", help="load generator (auto)"
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="an extra uvicorn option, e.g. --server-arg=--limit-concurrency=200 (repeatable)",
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL URL (a server)")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis URL for sessions/throttles")
    parser.add_argument("--log", type=Path, default=None, help="the server's log file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "httpx"
    prefix = (args.postgres.rsplit("/", 1)[-1] or "oakling") + "_over"
    import threading

    with fresh_database(args.postgres, prefix) as database_url:
        server = DemoServer(
            args.port, demo_env(database_url, args.redis), args.workers, args.log, args.server_arg
        )
        server.migrate()
        server.start()
        try:
            token = asyncio.run(prepare(server, args.tasks))
            warm = asyncio.run(warm_up(server.url, token, 400, args.warmup_connections))
            time.sleep(2)
            pids_before = server.worker_pids()
            rss_before = server.rss()
            seen: set[tuple[int, ...]] = set()
            stop = [False]
            watcher = threading.Thread(target=watch_workers, args=(server, stop, seen))
            watcher.start()
            rounds: list[dict[str, Any]] = []
            try:
                for _ in range(args.rounds):
                    if tool == "wrk":
                        load = run_wrk(
                            server.url, token, args.connections, args.duration, args.timeout
                        )
                    else:
                        load = asyncio.run(
                            run_httpx(
                                server.url, token, args.connections, args.duration, args.timeout
                            )
                        )
                    ended = time.monotonic()
                    load["rss_end_of_load_mb"] = _rounded(server.rss())
                    time.sleep(max(0.0, args.settle - (time.monotonic() - ended)))
                    load["rss_after_settle_mb"] = _rounded(server.rss())
                    rounds.append(load)
            finally:
                stop[0] = True
                watcher.join()
            load = rounds[0]
            rss_end = {int(k): v for k, v in load["rss_end_of_load_mb"].items()}
            rss_after = {int(k): v for k, v in load["rss_after_settle_mb"].items()}
            pids_after = server.worker_pids()
            after = asyncio.run(warm_up(server.url, token, 20, 2))
            master_alive = server.process is not None and server.process.poll() is None
        finally:
            exit_code = server.stop()
        text = server.log_text()
    statuses = {str(k): v for k, v in load["statuses"].items()}
    bad_5xx = {s: n for s, n in statuses.items() if s.startswith("5") and s != "503"}
    rss = {}
    for pid, before in rss_before.items():
        later = rss_after.get(pid)
        rss[str(pid)] = {
            "before_mb": None if before is None else round(before, 1),
            "end_of_load_mb": None if rss_end.get(pid) is None else round(rss_end[pid] or 0, 1),
            "after_settle_mb": None if later is None else round(later, 1),
            "change_pct": None
            if not before or later is None
            else round(100 * (later - before) / before, 2),
        }
    targets = {
        "no_5xx_but_503": not bad_5xx,
        "no_worker_crash": pids_before == pids_after
        and seen <= {tuple(pids_before)}
        and master_alive,
        "rss_within_10pct": all(
            r["change_pct"] is not None and abs(r["change_pct"]) <= RSS_TOLERANCE
            for r in rss.values()
        ),
        "serves_after": set(after) == {200},
    }
    summary = {
        "script": "overload",
        "tool": tool,
        "connections": args.connections,
        "duration_s": args.duration,
        "workers": args.workers,
        "server_args": args.server_arg,
        "warm_up_statuses": dict(warm),
        "load": {k: v for k, v in load.items() if not k.startswith("rss_")},
        "rounds": rounds,
        "requests_per_s": round(load["requests"] / (load["duration_us"] / 1e6), 1),
        "non_503_5xx": bad_5xx,
        "worker_pids": {
            "before": pids_before,
            "after": pids_after,
            "seen": sorted(list(p) for p in seen),
        },
        "rss": rss,
        "after_load_statuses": dict(after),
        "server_exit_code": exit_code,
        "server_log": {
            "tracebacks": text.count("Traceback"),
            "pool_timeouts": text.count("QueuePool limit"),
            "lines": len(text.splitlines()),
        },
        "machine": {"cpus": os.cpu_count(), "loadavg_after": list(os.getloadavg())},
        "targets": targets,
        "passed": all(targets.values()),
    }
    emit(summary)
    rows: list[tuple[str, object]] = [
        ("tool, connections, duration", f"{tool}, {args.connections}, {args.duration:g} s"),
        ("requests", f"{load['requests']} ({summary['requests_per_s']}/s)"),
        ("statuses", statuses),
        ("client errors", load["errors"]),
        ("p50 / p99 / max (ms)", f"{load['p50_ms']} / {load['p99_ms']} / {load['max_ms']}"),
        ("5xx other than 503", bad_5xx or 0),
        ("worker PIDs before / after", f"{pids_before} / {pids_after}"),
    ]
    for worker, r in rss.items():
        rows.append(
            (
                f"worker {worker} RSS before/end/+{args.settle:g}s",
                f"{r['before_mb']} / {r['end_of_load_mb']} / {r['after_settle_mb']} MiB "
                f"({r['change_pct']}%)",
            )
        )
    for number, later in enumerate(rounds[1:], 2):
        rows.append(
            (
                f"round {number}: statuses; RSS +{args.settle:g}s",
                f"{later['statuses']}; {later['rss_after_settle_mb']} MiB",
            )
        )
    rows.append(("server log tracebacks", summary["server_log"]["tracebacks"]))
    rows.append(("server log pool-timeout lines", summary["server_log"]["pool_timeouts"]))
    rows.extend((f"target {name}", "ok" if ok else "MISSED") for name, ok in targets.items())
    print_table("overload: GET /api/tasks, bearer token", rows)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
