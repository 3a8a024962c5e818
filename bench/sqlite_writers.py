"""Concurrent writers on the demo's embedded SQLite: how many get "database is locked"?

Serves the Tasks demo (``examples/tasks``) with uvicorn on a fresh SQLite
file, the embedded default, then runs ``--writers`` concurrent clients, each
sending ``--writes`` ``PATCH /api/tasks/{id}`` (toggle ``completed``) one
after the other, authenticated with a bearer token. Every PATCH reads the
task, then writes it: the read-then-write transaction that SQLite refuses
with ``SQLITE_BUSY`` ("database is locked", a 503) when it began deferred
and another connection wrote meanwhile.

Usage::

    python bench/sqlite_writers.py [--writers 32] [--writes 5] [--workers 1]
                                   [--source DIR] [--method PATCH|GET] [--json]

``--source`` serves another checkout of oakling (its ``oakling`` package
and ``examples``, put first on ``PYTHONPATH``), to compare with an older
commit: ``git archive <commit> | tar -x -C /tmp/base`` then
``--source /tmp/base``. The report gives the answers by status, the
latency p50/p99 (ms), and checks that every acknowledged write is in the
database (each task's final ``completed`` matches the number of 200s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent

_PREPARE = """
import sys
from examples.tasks.app import create_app, migrate_database
from oakling.auth.services import create_user_sync
from oakling.auth.tokens import create_token_sync

app = create_app(sys.argv[1])
database = app.extensions["db"]
migrate_database(database)
with database.session() as session:
    user = create_user_sync(session, "writer", "correct-horse-battery-7")
    session.flush()
    _, token = create_token_sync(session, user, name="bench", scopes=["tasks:read", "tasks:write"])
    session.commit()
database.sync_engine().dispose()
print(token)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(source: Path, url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    env["OAKLING_DATABASE_URL"] = url
    env["OAKLING_SECRET_KEY"] = "bench-sqlite-writers-" + "k" * 40
    return env


def _wait_until_up(base: str, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            httpx.get(base + "/auth/login", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the server did not come up")


async def _writer(
    client: httpx.AsyncClient, task_id: int, writes: int, latencies: list[float], method: str
) -> list[int]:
    statuses = []
    for number in range(writes):
        started = time.perf_counter()
        if method == "GET":
            response = await client.get(f"/api/tasks/{task_id}")
        else:
            response = await client.patch(
                f"/api/tasks/{task_id}", json={"completed": number % 2 == 0}
            )
        latencies.append((time.perf_counter() - started) * 1000)
        statuses.append(response.status_code)
    return statuses


async def _load(base: str, token: str, writers: int, writes: int, method: str) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=writers, max_keepalive_connections=writers)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=60.0
    ) as client:
        ids = []
        for number in range(writers):
            created = await client.post("/api/tasks", json={"title": f"task {number}"})
            created.raise_for_status()
            ids.append(created.json()["id"])
        latencies: list[float] = []
        started = time.perf_counter()
        results = await asyncio.gather(
            *(_writer(client, task_id, writes, latencies, method) for task_id in ids)
        )
        elapsed = time.perf_counter() - started
        # Acknowledged writes are in the database: the last 200 of each writer decides.
        lost = 0
        for task_id, statuses in zip(ids, results, strict=True):
            acknowledged = [n for n, status in enumerate(statuses) if status == 200]
            if method == "GET":
                continue
            if acknowledged:
                final = (await client.get(f"/api/tasks/{task_id}")).json()["completed"]
                lost += final != (acknowledged[-1] % 2 == 0)
    statuses = Counter(status for result in results for status in result)
    latencies.sort()
    return {
        "requests": writers * writes,
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "failures": sum(count for status, count in statuses.items() if status != 200),
        "seconds": round(elapsed, 2),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
        "lost_acknowledged_writes": lost,
    }


def run(
    writers: int, writes: int, workers: int, source: Path, method: str = "PATCH"
) -> dict[str, Any]:
    """Serve the demo on a fresh SQLite file and run the writers; return the report."""
    with tempfile.TemporaryDirectory(prefix="sqlite-writers-") as folder:
        url = f"sqlite:///{Path(folder) / 'tasks.db'}"
        env = _environment(source, url)
        token = subprocess.run(
            [sys.executable, "-c", _PREPARE, url],
            cwd=source,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        port = _free_port()
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "examples.tasks.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        server = subprocess.Popen(command, cwd=source, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, server)
            report = asyncio.run(_load(base, token, writers, writes, method))
        finally:
            server.terminate()
            server.wait(timeout=30)
    report.update(
        writers=writers, writes=writes, workers=workers, source=str(source), method=method
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--writes", type=int, default=5, help="PATCHes per writer, in a row")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--source", type=Path, default=ROOT, help="the oakling checkout to serve")
    parser.add_argument(
        "--method",
        choices=["PATCH", "GET"],
        default="PATCH",
        help="GET: readers instead of writers (the cost of the write lock to reads)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    report = run(args.writers, args.writes, args.workers, args.source.resolve(), args.method)
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"{report['writers']} clients x {report['writes']} {report['method']} = "
        f"{report['requests']} "
        f"({report['workers']} worker(s), {report['source']}): "
        f"{report['failures']} failed, statuses {report['statuses']}, "
        f"in {report['seconds']} s, p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms, "
        f"lost acknowledged writes {report['lost_acknowledged_writes']}"
    )


if __name__ == "__main__":
    main()
