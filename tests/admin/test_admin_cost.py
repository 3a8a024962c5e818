"""Routes outside /admin do no more work with Admin() installed (deterministic call counts).

The instruction counts under callgrind are in docs/admin.md; this test is the
cheap guard: the number of Python function calls a request to another route
makes is the same with and without the admin.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest

from oakling import App, PlainTextResponse
from oakling.auth import Auth
from oakling.config import Settings
from oakling.csrf import CSRF
from oakling.db import Database
from oakling.sessions import Sessions
from oakling.testing import TestClient

from .conftest import SECRET


def _app(with_admin: bool) -> App:
    plugins: list[Any] = [Database("sqlite://"), Sessions(), Auth(), CSRF()]
    if with_admin:
        from oakling.admin import Admin

        plugins.append(Admin())
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=plugins)

    @app.get("/plaintext")
    async def plaintext() -> PlainTextResponse:
        return PlainTextResponse("Hello, World!")

    @app.get("/json")
    async def json_() -> dict[str, str]:
        return {"message": "Hello, World!"}

    return app


async def _get(app: App, path: str) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def _calls(app: App, path: str, requests: int = 20) -> int:
    """Count the Python calls of ``requests`` requests, run in this thread."""
    count = 0

    def profile(_frame: Any, event: str, _arg: Any) -> None:
        nonlocal count
        if event == "call":
            count += 1

    async def run() -> None:
        for _ in range(20):  # warm caches first
            assert await _get(app, path) == 200
        previous: Callable[..., Any] | None = sys.getprofile()
        sys.setprofile(profile)
        try:
            for _ in range(requests):
                await _get(app, path)
        finally:
            sys.setprofile(previous)

    with TestClient(app):  # startup (lifespan) once
        asyncio.run(run())
    return count


@pytest.mark.parametrize("path", ["/plaintext", "/json"])
def test_admin_adds_no_calls_to_other_routes(path: str) -> None:
    assert _calls(_app(True), path) == _calls(_app(False), path)


def test_the_count_sees_work_added_to_every_request() -> None:
    hooked = _app(True)
    hooked.before_request(lambda request: None)
    assert _calls(hooked, "/plaintext") > _calls(_app(True), "/plaintext")
