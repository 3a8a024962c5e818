"""Bad input and vanished clients: a clear 4xx, one quiet log line, no traceback."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
import pytest

from oakling import App, Request
from oakling.testing import TestClient


class TaskIn(msgspec.Struct):
    title: str


def _app() -> App:
    app = App(debug=False, secret_key="k" * 50)

    @app.post("/typed")
    def typed(body: TaskIn) -> dict[str, str]:
        return {"title": body.title}

    @app.post("/raw")
    async def raw(request: Request) -> Any:
        return await request.json()

    @app.post("/form")
    async def form(request: Request) -> dict[str, int]:
        return {"fields": len(await request.form())}

    return app


@pytest.mark.parametrize(("path", "status"), [("/typed", 422), ("/raw", 400)])
def test_lone_surrogate_in_json_says_what_is_wrong(path: str, status: int) -> None:
    with TestClient(_app()) as client:
        response = client.post(
            path, content=b'{"title": "\\ud800"}', headers={"content-type": "application/json"}
        )
    assert response.status_code == status
    text = response.text
    assert "lone surrogate \\\\ud800 at byte 11" in text, text
    assert "truncated" not in text


def test_truncated_json_is_still_called_truncated() -> None:
    with TestClient(_app()) as client:
        response = client.post(
            "/raw", content=b'{"title": "\\ud800', headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert "truncated" in response.text


def _disconnecting_receive(first: bytes) -> Any:
    messages = [
        {"type": "http.request", "body": first, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return receive


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/raw", "application/json"),
        ("/typed", "application/json"),
        ("/form", "application/x-www-form-urlencoded"),
        ("/form", "multipart/form-data; boundary=xyz"),
    ],
)
def test_client_disconnect_mid_body_is_one_info_line(
    path: str, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app()
    app.build()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"content-type", content_type.encode()), (b"content-length", b"100")],
        "client": ("203.0.113.7", 5555),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    caplog.set_level(logging.DEBUG)
    asyncio.run(app(scope, _disconnecting_receive(b'{"ti'), send))
    records = [record for record in caplog.records if record.name.startswith("oakling")]
    assert [record.levelno for record in records] == [logging.INFO], records
    assert records[0].exc_info is None
    assert "disconnected" in records[0].getMessage()
    assert "203.0.113.7" in records[0].getMessage()
