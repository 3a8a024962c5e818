"""The demo's live feed across two server processes sharing Redis.

Two uvicorn processes (two "hosts") serve the demo on one database with
``OAKLING_CHANNELS_URL`` naming the test Redis: a page whose ``GET /events``
stream is served by one of them hears a change made through the other.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.channels.conftest import redis_url

ROOT = Path(__file__).resolve().parents[2]
PORTS = (16510, 16511)
CSRF_FIELD = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
PASSWORD = "a long enough password 123"


def serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "examples.tasks.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    with log.open("wb") as handle:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def wait_up(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the demo exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/auth/login", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"the demo did not start:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def two_hosts(tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "OAKLING_SECRET_KEY": secrets.token_urlsafe(40),
        "OAKLING_DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}",
        "OAKLING_CHANNELS_URL": redis_url(),
        "OAKLING_CHANNELS_PREFIX": f"oakling-test:{uuid.uuid4().hex[:12]}:",
        "OAKLING_ALLOWED_HOSTS": '["127.0.0.1"]',
        "OAKLING_SIGNUP_THROTTLE_IP": "1000/hour",
        "OAKLING_LOGIN_THROTTLE_IP": "1000/hour",
    }
    processes = []
    try:
        for port in PORTS:  # NOTE: one after the other: the first migrates
            log = tmp_path / f"demo-{port}.log"
            processes.append(serve(port, env, log))
            wait_up(processes[-1], port, log)
        yield tuple(f"http://127.0.0.1:{port}" for port in PORTS)  # type: ignore[misc]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def csrf(page: httpx.Response) -> str:
    match = CSRF_FIELD.search(page.text)
    assert match, page.text[:500]
    return match.group(1)


def test_a_change_on_one_host_reaches_a_feed_on_the_other(two_hosts: tuple[str, str]) -> None:
    host_a, host_b = two_hosts
    with httpx.Client(base_url=host_a, timeout=10) as on_a:
        form = on_a.get("/auth/signup")
        signed_up = on_a.post(
            "/auth/signup",
            data={
                "csrf_token": csrf(form),
                "username": "ann",
                "email": "ann@example.com",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )
        assert signed_up.status_code == 303, signed_up.text[:500]
        # The session lives in the shared database: host B knows it too.
        with httpx.Client(base_url=host_b, timeout=10, cookies=on_a.cookies) as on_b:
            with on_b.stream("GET", "/events", headers={"accept": "text/event-stream"}) as feed:
                assert feed.status_code == 200
                chunks = feed.iter_raw()
                assert next(chunks).startswith(b"retry:")  # subscribed on host B
                page = on_a.get("/")
                added = on_a.post("/tasks", data={"csrf_token": csrf(page), "title": "Heard on B"})
                assert added.status_code == 303
                started = time.monotonic()
                received = b""
                while b"Heard on B" not in received:
                    received += next(chunks)
                    assert time.monotonic() - started < 5
                assert b"event: task" in received and b"id: " in received
