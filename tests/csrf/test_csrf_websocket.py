"""Cross-site WebSocket hijacking: a handshake from another site's page is refused."""

from __future__ import annotations

from typing import Any

import pytest
from csrf_support import EVIL, SECRET, CheckedClient

from oakling import App, Request, WebSocket
from oakling.config import Settings
from oakling.csrf import CSRF, csrf_exempt
from oakling.exceptions import WebSocketDisconnect
from oakling.sessions import Sessions
from oakling.testing import TestClient


def make_app(**csrf: Any) -> tuple[App, list[str]]:
    """An app with a session-authenticated socket; ``ran`` records handlers that ran."""
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Sessions(), CSRF(**csrf)])
    ran: list[str] = []

    @app.get("/login")
    def login(request: Request) -> str:
        request.session["user"] = "ann"
        return "in"

    @app.websocket("/ws")
    async def private(websocket: WebSocket) -> None:
        ran.append("private")
        await websocket.accept()
        await websocket.send_text(f"secrets of {websocket.scope['session'].get('user')}")
        await websocket.close()

    @app.websocket("/public")
    @csrf_exempt
    async def public(websocket: WebSocket) -> None:
        ran.append("public")
        await websocket.accept()
        await websocket.send_text("news")
        await websocket.close()

    return app, ran


def _denied(client: TestClient, path: str, origin: str) -> None:
    with pytest.raises(WebSocketDisconnect) as refusal:
        with client.websocket_connect(path, headers={"Origin": origin}):
            pass  # pragma: no cover - the handshake must fail
    # A close before the accept: servers answer the handshake with HTTP 403.
    assert refusal.value.code == 1008
    assert "does not match any trusted origins" in str(refusal.value.reason)


@pytest.mark.parametrize(
    "origin",
    [
        EVIL,
        "null",
        "https://testserver",  # another scheme than the ws:// handshake's http
        "http://testserver.evil.example",
        "http://testserver:8080",
        "garbage",
    ],
)
def test_a_handshake_from_another_origin_is_refused_before_the_handler(origin: str) -> None:
    app, ran = make_app()
    with CheckedClient(app) as client:
        client.get("/login")  # the victim's browser holds a session cookie
        _denied(client, "/ws", origin)
    assert ran == []


def test_same_origin_trusted_and_non_browser_handshakes_are_served() -> None:
    app, ran = make_app(trusted_origins=["https://app.example", "http://*.example.org"])
    with CheckedClient(app) as client:
        client.get("/login")
        for origin in ("http://testserver", "https://app.example", "http://a.example.org", None):
            headers = {"Origin": origin} if origin else {}
            with client.websocket_connect("/ws", headers=headers) as websocket:
                assert websocket.receive_text() == "secrets of ann"
    assert ran == ["private"] * 4


def test_wss_compares_as_https() -> None:
    app, ran = make_app()
    with CheckedClient(app, base_url="https://testserver") as client:
        with client.websocket_connect("/ws", headers={"Origin": "https://testserver"}) as ws:
            assert ws.receive_text() == "secrets of None"
        _denied(client, "/ws", "http://testserver")
    assert ran == ["private"]


def test_an_exempt_socket_takes_any_origin() -> None:
    app, ran = make_app()
    with CheckedClient(app) as client:
        with client.websocket_connect("/public", headers={"Origin": EVIL}) as websocket:
            assert websocket.receive_text() == "news"
    assert ran == ["public"]
