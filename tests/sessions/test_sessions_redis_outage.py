"""Fault tests: a private redis-server killed and restarted under the app.

The server runs on port 6391 (reserved for these tests), never the shared
Redis on 6379.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from session_support import SECRET

from oakling import App, Request
from oakling.config import Settings
from oakling.exceptions import ServiceUnavailable
from oakling.sessions import RedisBackend, Sessions
from oakling.testing import TestClient
from tests.conftest import skip_or_fail

PORT = 6391
URL = f"redis://127.0.0.1:{PORT}/0"


class _Server:
    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(PORT),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--bind",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", PORT), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def server() -> Iterator[_Server]:
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    running = _Server()
    running.start()
    yield running
    running.stop()


def _app() -> App:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Sessions(RedisBackend(URL))])

    @app.post("/write")
    def write(request: Request) -> dict[str, int]:
        request.session["n"] = 1
        return {"n": 1}

    @app.get("/read")
    def read(request: Request) -> dict[str, object]:
        return dict(request.session)

    @app.get("/plain")
    def plain() -> str:
        return "plain"

    return app


def test_redis_down_is_a_503_not_a_500(server: _Server, caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        assert client.post("/write").status_code == 200
        cookies = dict(client.cookies)
        server.stop()
        with caplog.at_level(logging.INFO):
            statuses = []
            for _ in range(20):
                answer = client.get("/read", headers={"Accept": "application/json"})
                statuses.append(answer.status_code)
                assert answer.headers.get("retry-after")
                assert "Redis" in answer.json()["detail"]
            # a request that does not read the session needs no Redis,
            # with its session cookie or without one
            assert client.get("/plain").status_code == 200
            client.cookies.clear()
            assert client.get("/plain").status_code == 200
            client.cookies.update(cookies)
            assert set(statuses) == {503}
            started = time.monotonic()
            server.start()
            first = client.get("/read")
            assert first.status_code == 200, first.text
            assert first.json() == {}  # the server lost its data (no persistence)
            assert time.monotonic() - started < 1.5
        outage_lines = [r for r in caplog.records if r.name == "oakling.outage"]
        assert 1 <= len(outage_lines) <= 3
        assert not any(r.exc_info for r in caplog.records)


def test_with_auth_only_requests_that_ask_who_is_there_get_the_503(
    server: _Server, tmp_path: Path
) -> None:
    from oakling.auth import Auth
    from oakling.db import Database
    from oakling.staticfiles import StaticFiles

    (tmp_path / "site.css").write_text("body{}")
    app = App(
        settings=Settings(SECRET_KEY=SECRET),
        plugins=[Database("sqlite://"), Sessions(RedisBackend(URL)), Auth()],
    )
    app.mount("/static", StaticFiles(directory=tmp_path), name="static")

    @app.post("/write")
    def write(request: Request) -> dict[str, int]:
        request.session["n"] = 1
        return {"n": 1}

    @app.get("/who")
    def who(request: Request) -> dict[str, bool]:
        return {"in": request.user.is_authenticated}

    @app.get("/plain")
    def plain() -> str:
        return "plain"

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/write").status_code == 200
        assert client.get("/who").json() == {"in": False}
        server.stop()
        assert client.get("/static/site.css").text == "body{}"
        assert client.get("/plain").text == "plain"
        answer = client.get("/who", headers={"Accept": "application/json"})
        assert answer.status_code == 503
        assert "Redis" in answer.json()["detail"]
        assert answer.headers["retry-after"]
        server.start()
        assert client.get("/who").status_code == 200


def test_session_save_failure_is_a_503_not_the_handlers_2xx(server: _Server) -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        server.stop()
        answer = client.post("/write", headers={"Accept": "application/json"})
        assert answer.status_code == 503
        assert answer.headers["retry-after"]
        assert "set-cookie" not in answer.headers


def test_throttle_store_down_fails_closed(server: _Server) -> None:
    import asyncio

    from oakling.auth.throttling import LoginThrottle

    throttle = LoginThrottle(URL)

    async def attempt() -> None:
        try:
            assert await throttle.attempt("ann", "10.0.0.1") is None
            server.stop()
            with pytest.raises(ServiceUnavailable):
                await throttle.attempt("ann", "10.0.0.1")
            server.start()
            # NOTE: the storage's circuit breaker skips Redis for 0.5 s after a
            # failure (still a 503, fail closed); then it counts again.
            deadline = time.monotonic() + 1.0
            while True:
                try:
                    assert await throttle.attempt("ann", "10.0.0.1") is None
                    break
                except ServiceUnavailable:
                    assert time.monotonic() < deadline, "no recovery within 1 s"
                    await asyncio.sleep(0.02)
            await throttle.succeeded("ann")
        finally:
            await throttle.close()

    asyncio.run(attempt())
