"""Allowed hosts: forged Host headers are refused before the app runs."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from oakling import App, Request, WebSocket, WebSocketDisconnect
from oakling.config import Settings
from oakling.exceptions import ImproperlyConfigured
from oakling.security import Security, SecurityMiddleware
from oakling.security.config import SecurityConfig
from oakling.testing import TestClient, WebSocketDenied

KEY = "k" * 40


def make_app(
    allowed: list[str] | None = None, *, debug: bool = False, **options: Any
) -> tuple[App, list[str]]:
    """An app whose handlers record that they ran (the side effect a refusal must prevent)."""
    settings = Settings(DEBUG=debug, SECRET_KEY=KEY, ALLOWED_HOSTS=allowed or [])
    app = App(settings=settings, plugins=[Security(**options)])
    ran: list[str] = []

    @app.get("/")
    def index() -> str:
        ran.append("index")
        return "ok"

    @app.post("/reset")
    def reset() -> str:
        ran.append("reset")
        return "sent"

    @app.websocket("/ws")
    async def chat(websocket: WebSocket) -> None:
        ran.append("ws")
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    @app.before_request
    def hook() -> None:
        ran.append("hook")

    return app, ran


FORGED = [
    "evil.example",
    "evil.example:80",
    "allowed.example.evil.example",
    "allowed.example@evil.example",
    "evil.example@allowed.example",
    "allowed.example:99999",
    "allowed.example:80@evil.example",
    "allowed.example/evil",
    "allowed.example evil.example",
    "allowed.example\tx",
    "",
    ":80",
    "[::1",
    "xallowed.example",
    "allowed.example..",
    "allowed_example",
]


@pytest.mark.parametrize("host", FORGED)
def test_forged_host_gets_400_and_the_handler_never_runs(
    host: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, ran = make_app(["allowed.example"])
    with TestClient(app) as client:
        for response in (
            client.get("/", headers={"Host": host}),
            client.post("/reset", headers={"Host": host}, data={"email": "a@b.example"}),
        ):
            assert response.status_code == 400
            assert response.text == "Invalid Host header"  # short outside debug
            assert response.headers["content-type"] == "text/plain; charset=utf-8"
            assert response.headers["x-frame-options"] == "DENY"
    assert ran == []
    assert "oakling.security" in {record.name for record in caplog.records}


def test_duplicate_host_is_refused_even_if_both_are_allowed() -> None:
    app, ran = make_app(["allowed.example", "evil.example"])
    with TestClient(app) as client:
        for pair in (
            [("Host", "allowed.example"), ("Host", "evil.example")],
            [("Host", "allowed.example"), ("Host", "allowed.example")],
        ):
            response = client.get("/", headers=pair)
            assert response.status_code == 400
    assert ran == []


@pytest.mark.anyio
async def test_missing_host_is_refused() -> None:
    app, ran = make_app(["*"])
    app.build()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "scheme": "http"}
    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert ran == []


@pytest.mark.parametrize(
    "host",
    [
        "allowed.example",
        "ALLOWED.Example",
        "allowed.example.",
        "allowed.example:8000",
        "allowed.example:",
    ],
)
def test_allowed_host_variants_reach_the_app(host: str) -> None:
    app, ran = make_app(["allowed.example"])
    with TestClient(app) as client:
        assert client.get("/", headers={"Host": host}).text == "ok"
    assert "index" in ran


def test_subdomain_wildcard() -> None:
    app, ran = make_app([".allowed.example"])
    with TestClient(app) as client:
        for host in ("allowed.example", "www.allowed.example", "a.b.allowed.example:443"):
            assert client.get("/", headers={"Host": host}).status_code == 200, host
        for host in ("evilallowed.example", "allowed.example.evil", "evil.example"):
            assert client.get("/", headers={"Host": host}).status_code == 400, host
    assert ran.count("index") == 3


def test_star_allows_any_well_formed_host_but_not_junk() -> None:
    app, ran = make_app(["*"])
    with TestClient(app) as client:
        assert client.get("/", headers={"Host": "anything.example:8080"}).status_code == 200
        assert client.get("/", headers={"Host": "[::1]:8000"}).status_code == 200
        for junk in ("a@b", "a/b", "a:99999", ""):
            assert client.get("/", headers={"Host": junk}).status_code == 400, junk
    assert ran.count("index") == 2


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:8000", "app.localhost", "127.0.0.1:5000", "[::1]", "testserver"],
)
def test_debug_with_no_allowed_hosts_allows_local_names(host: str) -> None:
    app, _ = make_app(debug=True)
    with TestClient(app) as client:
        assert client.get("/", headers={"Host": host}).status_code == 200


def test_debug_refusal_names_the_host_and_the_setting() -> None:
    app, ran = make_app(debug=True)
    with TestClient(app) as client:
        response = client.get("/", headers={"Host": "evil.example"})
        assert response.status_code == 400
        assert response.text.startswith("Invalid Host header: 'evil.example'.")
        assert "ALLOWED_HOSTS" in response.text
        configured, ran2 = make_app(["allowed.example"], debug=True)
    with TestClient(configured) as client:
        response = client.get("/", headers={"Host": "evil.example"})
        assert response.text == "Invalid Host header: 'evil.example'. Add it to ALLOWED_HOSTS."
        junk = client.get("/", headers={"Host": "a@evil.example"})
        assert junk.status_code == 400 and "'a@evil.example' is not a host name" in junk.text
    assert ran == [] and ran2 == []


def test_no_allowed_hosts_outside_debug_refuses_everything(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="oakling.security")
    app, ran = make_app()
    with TestClient(app) as client:
        for host in ("testserver", "localhost", "127.0.0.1"):
            assert client.get("/", headers={"Host": host}).status_code == 400
    assert ran == []
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "ALLOWED_HOSTS is empty" in messages
    assert "OAKLING_ALLOWED_HOSTS" in messages


def test_websocket_with_forged_host_is_refused_before_accept() -> None:
    app, ran = make_app(["allowed.example"])
    with TestClient(app, base_url="http://allowed.example") as client:
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_text() == "hello"
        assert ran == ["ws"]
        with pytest.raises(WebSocketDenied) as denied:
            with client.websocket_connect("/ws", headers={"Host": "evil.example"}):
                pass  # pragma: no cover - the handshake must fail
        assert denied.value.response.status_code == 400
    assert ran == ["ws"]


@pytest.mark.anyio
async def test_websocket_without_denial_extension_is_closed_with_1008() -> None:
    app, ran = make_app(["allowed.example"])
    app.build()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "headers": [(b"host", b"evil.example")]}
    await app(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Invalid Host header"}]
    assert ran == []


def test_testclient_disconnect_is_not_an_accept() -> None:
    # NOTE: with the extension stripped the TestClient sees the 1008 close.
    app, ran = make_app(["allowed.example"])

    async def no_extension(scope: Any, receive: Any, send: Any) -> None:
        scope = dict(scope)
        scope.pop("extensions", None)
        await app(scope, receive, send)

    with TestClient(no_extension) as client:
        with pytest.raises(WebSocketDisconnect) as closed:
            with client.websocket_connect("/ws", headers={"Host": "evil.example"}):
                pass  # pragma: no cover
        assert closed.value.code == 1008
    assert ran == []


def test_password_reset_link_cannot_be_poisoned() -> None:
    settings = Settings(SECRET_KEY=KEY, ALLOWED_HOSTS=["allowed.example"])
    app = App(settings=settings, plugins=[Security()])
    links: list[str] = []

    @app.post("/reset")
    def reset(request: Request) -> str:
        links.append(str(request.url_for("confirm", token="abc")))
        return "sent"

    @app.get("/confirm/{token}")
    def confirm(token: str) -> str:
        return token

    with TestClient(app, base_url="http://allowed.example") as client:
        assert client.post("/reset").status_code == 200
        for forged in (
            "evil.example",
            "allowed.example@evil.example",
            "evil.example/allowed.example",
        ):
            assert client.post("/reset", headers={"Host": forged}).status_code == 400
    assert links == ["http://allowed.example/confirm/abc"]


def test_bad_pattern_is_a_startup_error() -> None:
    with pytest.raises(ImproperlyConfigured, match="ALLOWED_HOSTS"):
        App(settings=Settings(SECRET_KEY=KEY, ALLOWED_HOSTS=["a@b"]), plugins=[Security()])
    with pytest.raises(TypeError):
        Security(allowed_hosts="example.com")


def test_constructor_allowed_hosts_override_the_setting() -> None:
    app, ran = make_app(["settings.example"], allowed_hosts=["code.example"])
    with TestClient(app) as client:
        assert client.get("/", headers={"Host": "code.example"}).status_code == 200
        assert client.get("/", headers={"Host": "settings.example"}).status_code == 400
    assert ran.count("index") == 1


def test_verdict_cache_is_bounded_and_stays_correct() -> None:
    async def ok(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("never reached")  # pragma: no cover

    middleware = SecurityMiddleware(ok, SecurityConfig(allowed_hosts=("allowed.example",)))
    for number in range(2000):
        assert not isinstance(middleware._verdict(f"h{number}.example".encode()), bytes)
    assert len(middleware._verdicts) <= 512
    assert middleware._verdict(b"allowed.example") == b"allowed.example"


def test_the_host_is_checked_before_middleware_added_after_the_battery() -> None:
    # Security listed first, then a plugin and a call that add middleware: the
    # Host check must still run before them (they could log, read a session,
    # or answer a CORS preflight for a forged host).
    seen: list[str] = []

    class Recorder:
        def __init__(self, app: Any, label: str) -> None:
            self.app, self.label = app, label

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append(self.label)
            await self.app(scope, receive, send)

    class AddsMiddleware:
        name = "adds-middleware"

        def install(self, app: App) -> None:
            app.add_middleware(Recorder, "plugin")

    settings = Settings(DEBUG=False, SECRET_KEY=KEY, ALLOWED_HOSTS=["allowed.example"])
    app = App(settings=settings, plugins=[Security(), AddsMiddleware()])
    app.add_middleware(Recorder, "call")

    @app.get("/")
    def index() -> str:
        return "ok"

    assert app.user_middleware[0].cls is SecurityMiddleware
    with TestClient(app, base_url="http://allowed.example") as client:
        assert client.get("/", headers={"host": "evil.example"}).status_code == 400
        assert seen == []
        assert client.get("/").status_code == 200
        # Later additions stay in their usual order inside the battery.
        assert seen == ["call", "plugin"]
