"""Real concurrency: 50 parallel clients against 2 worker processes sharing Redis.

``oakling run --workers 2`` serves a route limited to 30 a minute per client
address; 50 clients send 4 requests each at once, with forged
``X-Forwarded-For`` headers (the server trusts no proxy). Exactly the limit
gets through, and nothing but 200 and 429 comes back.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import httpx

PORT = 18101
LIMIT = 30

APP = """
import os

from oakling import App
from oakling.ratelimit import Limiter, ratelimit

app = App(plugins=[Limiter(storage_uri=os.environ["TEST_RATELIMIT_URL"])])


@app.get("/limited")
@ratelimit("{limit}/minute", scope=os.environ["TEST_RATELIMIT_SCOPE"])
async def limited() -> dict[str, int]:
    return {{"pid": os.getpid()}}


@app.get("/pid")
async def pid() -> dict[str, int]:
    return {{"pid": os.getpid()}}
"""


def _wait_for_port(process: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


async def _burst(clients: int, each: int) -> tuple[list[int], set[int]]:
    statuses: list[int] = []
    pids: set[int] = set()

    async def one(n: int) -> None:
        # one connection per client, as 50 separate users would have
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", timeout=10) as client:
            for i in range(each):
                answer = await client.get(
                    "/limited", headers={"X-Forwarded-For": f"203.0.113.{(n * each + i) % 250}"}
                )
                statuses.append(answer.status_code)
                if answer.status_code == 200:
                    pids.add(answer.json()["pid"])
                seen = await client.get("/pid")
                pids.add(seen.json()["pid"])

    await asyncio.gather(*(one(n) for n in range(clients)))
    return statuses, pids


def test_fifty_clients_two_workers_never_exceed_the_limit(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "limited_app.py").write_text(textwrap.dedent(APP.format(limit=LIMIT)))
    env = {
        **os.environ,
        "OAKLING_SECRET_KEY": "x" * 50,
        "TEST_RATELIMIT_URL": redis_url,
        "TEST_RATELIMIT_SCOPE": f"workers-{uuid.uuid4().hex}",
        "PYTHONPATH": str(tmp_path),
    }
    log = tmp_path / "server.log"
    output = log.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oakling.cli",
            "run",
            "limited_app:app",
            "--workers",
            "2",
            "--port",
            str(PORT),
        ],
        cwd=tmp_path,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(process, log, time.monotonic() + 20)
        statuses, pids = asyncio.run(_burst(50, 4))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()
    assert len(statuses) == 200
    assert set(statuses) <= {200, 429}
    assert statuses.count(200) == LIMIT
    assert len(pids) == 2, "both workers served"
    assert "Traceback" not in log.read_text()
