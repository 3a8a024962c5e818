from __future__ import annotations

import contextlib
import logging

import pytest

from oakling import App, HTTPException, JSONResponse, PlainTextResponse, Request, Router, abort
from oakling.exceptions import ImproperlyConfigured
from oakling.testing import TestClient

SECRET = "s" * 50


def test_hello_app_in_a_few_lines():
    app = App(secret_key=SECRET)

    @app.get("/")
    def index():
        return "Hello, World!"

    with TestClient(app) as client:
        response = client.get("/")
    assert response.text == "Hello, World!"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_lifespan_hooks_sync_and_async_and_context():
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app):
        events.append("ctx-start")
        yield {"pool": "ready"}
        events.append("ctx-stop")

    app = App(secret_key=SECRET, lifespan=lifespan)

    @app.on_startup
    def sync_start():
        events.append("sync-start")

    @app.on_startup
    async def async_start():
        events.append("async-start")

    @app.on_shutdown
    async def stop():
        events.append("stop")

    @app.get("/")
    async def index():
        return "ok"

    with TestClient(app) as client:
        assert events == ["ctx-start", "sync-start", "async-start"]
        client.get("/")
    assert events[-2:] == ["stop", "ctx-stop"]


def test_secret_key_required_outside_debug(monkeypatch):
    monkeypatch.delenv("OAKLING_SECRET_KEY", raising=False)
    monkeypatch.delenv("OAKLING_DEBUG", raising=False)
    app = App(debug=False)
    with pytest.raises(Exception, match="SECRET_KEY"):
        with TestClient(app):
            pass
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        app.check_settings()


def test_return_value_coercion():
    app = App(secret_key=SECRET)

    @app.get("/dict")
    def as_dict():
        return {"a": 1}

    @app.get("/html")
    def as_html():
        return "<p>hi</p>"

    @app.get("/tuple")
    def as_tuple():
        return "made", 201, {"X-Thing": "1"}

    @app.get("/tuple-headers")
    def as_tuple_headers():
        return {"ok": True}, {"X-Other": "2"}

    @app.get("/none")
    def nothing():
        return None

    @app.get("/bytes")
    def raw():
        return b"\x00\x01"

    @app.get("/plain", response_class=PlainTextResponse)
    def plain():
        return "<not html>"

    @app.get("/bad")
    def bad():
        return object()

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/dict").headers["content-type"] == "application/json"
        assert client.get("/html").headers["content-type"] == "text/html; charset=utf-8"
        response = client.get("/tuple")
        assert (response.status_code, response.text, response.headers["x-thing"]) == (
            201,
            "made",
            "1",
        )
        assert client.get("/tuple-headers").headers["x-other"] == "2"
        assert client.get("/none").status_code == 204
        assert client.get("/bytes").headers["content-type"] == "application/octet-stream"
        assert client.get("/plain").headers["content-type"] == "text/plain; charset=utf-8"
        assert client.get("/bad").status_code == 500


def test_errors_negotiate_html_for_browsers_and_json_for_apis():
    app = App(secret_key=SECRET)

    @app.get("/gone")
    def gone():
        abort(410, "This page <b>left</b>")

    with TestClient(app) as client:
        api = client.get("/gone", headers={"Accept": "application/json"})
        assert api.status_code == 410
        assert api.json() == {"detail": "This page <b>left</b>"}
        browser = client.get(
            "/gone", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        )
        assert browser.headers["content-type"] == "text/html; charset=utf-8"
        assert "This page &lt;b&gt;left&lt;/b&gt;" in browser.text
        assert client.get("/gone", headers={"Accept": "*/*"}).json()["detail"]
        assert client.get("/missing", headers={"Accept": "text/html"}).text.count("404") >= 1


def test_server_error_is_plain_and_logged_outside_debug(caplog):
    app = App(secret_key=SECRET, debug=False)

    @app.get("/crash")
    def crash():
        password = "hunter2"  # noqa: F841 - must never reach the client
        raise ValueError("secret detail")

    with caplog.at_level(logging.ERROR, logger="oakling.error"):
        with TestClient(app, raise_server_exceptions=False) as client:
            json_response = client.get("/crash")
            html_response = client.get("/crash", headers={"Accept": "text/html"})
    assert json_response.status_code == 500
    assert json_response.json() == {"detail": "Internal Server Error"}
    for body in (json_response.text, html_response.text):
        assert "secret detail" not in body
        assert "hunter2" not in body
        assert "Traceback" not in body
    assert "secret detail" in caplog.text


def test_server_errors_reach_the_test_client_by_default():
    app = App(secret_key=SECRET)

    @app.get("/crash")
    async def crash():
        raise ValueError("visible in tests")

    with TestClient(app) as client, pytest.raises(ValueError, match="visible in tests"):
        client.get("/crash")


def test_error_handlers_by_status_and_class_router_first():
    app = App(secret_key=SECRET)
    router = Router("/r", name="r")

    class Conflict(Exception):
        pass

    @app.errorhandler(404)
    def not_found(request, exc):
        return JSONResponse({"where": "app", "path": request.url.path}, 404)

    @app.errorhandler(Conflict)
    async def conflict(request, exc):
        return JSONResponse({"where": "app"}, 409)

    @router.errorhandler(Conflict)
    def router_conflict(request, exc):
        return {"where": "router"}, 409

    @app.errorhandler(500)
    def on_500(request, exc):
        return PlainTextResponse(f"custom 500: {type(exc).__name__}", 500)

    @router.get("/c")
    def router_conflict_route():
        raise Conflict()

    @app.get("/c")
    def app_conflict_route():
        raise Conflict()

    @app.get("/oops")
    def oops():
        raise KeyError("x")

    app.include(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/nope").json() == {"where": "app", "path": "/nope"}
        assert client.get("/r/c").json() == {"where": "router"}
        assert client.get("/c").json() == {"where": "app"}
        assert client.get("/oops").text == "custom 500: KeyError"


def test_before_and_after_request_hooks_app_and_router():
    app = App(secret_key=SECRET)
    router = Router("/admin", name="admin")
    order: list[str] = []

    @app.before_request
    def app_before(request):
        order.append("app-before")

    @router.before_request
    async def require_header(request):
        order.append("router-before")
        if request.headers.get("x-admin") != "yes":
            return PlainTextResponse("forbidden", 403)

    @router.after_request
    def router_after(response):
        order.append("router-after")
        response.headers["x-router"] = "1"
        return response

    @app.after_request
    async def app_after(request, response):
        order.append("app-after")
        response.headers["x-app"] = "1"

    @router.get("/panel")
    def panel():
        order.append("handler")
        return "panel"

    @app.get("/public")
    def public():
        return "public"

    app.include(router)
    with TestClient(app) as client:
        denied = client.get("/admin/panel")
        assert denied.status_code == 403
        assert order == ["app-before", "router-before", "router-after", "app-after"]
        order.clear()
        allowed = client.get("/admin/panel", headers={"x-admin": "yes"})
        assert allowed.text == "panel"
        assert allowed.headers["x-router"] == "1" and allowed.headers["x-app"] == "1"
        assert order == ["app-before", "router-before", "handler", "router-after", "app-after"]
        public = client.get("/public")
        assert "x-router" not in public.headers and public.headers["x-app"] == "1"


def test_router_middleware_wraps_only_its_routes():
    from oakling.middleware import Middleware

    class Tag:
        def __init__(self, app, value):
            self.app = app
            self.value = value

        async def __call__(self, scope, receive, send):
            async def tagged(message):
                if message["type"] == "http.response.start":
                    message["headers"] = [*message["headers"], (b"x-tag", self.value.encode())]
                await send(message)

            await self.app(scope, receive, tagged)

    app = App(secret_key=SECRET, middleware=[Middleware(Tag, "app")])
    router = Router("/api", name="api", middleware=[Middleware(Tag, "api")])

    @router.get("/x")
    def inside():
        return "in"

    @app.get("/y")
    def outside():
        return "out"

    app.include(router)
    with TestClient(app) as client:
        assert client.get("/api/x").headers.get_list("x-tag") == ["api", "app"]
        assert client.get("/y").headers.get_list("x-tag") == ["app"]


def test_middleware_errors_become_500_not_tracebacks():
    class Broken:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                raise RuntimeError("middleware bug")
            await self.app(scope, receive, send)

    app = App(secret_key=SECRET)
    app.add_middleware(Broken)

    @app.get("/")
    def index():
        return "x"

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/")
    assert response.status_code == 500
    assert "middleware bug" not in response.text


class GreetingPlugin:
    """A plugin touching every hook a battery uses."""

    name = "greeting"

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting
        self.started = False

    def install(self, app: App) -> None:
        import click

        router = Router("/greet", name="greeting")

        @router.get("/")
        def greet():
            return {"greeting": self.greeting}

        app.include(router)
        app.extensions["greeting"] = self
        app.add_template_global("greeting", self.greeting)

        @app.on_startup
        def start():
            self.started = True

        @click.command("greet")
        def greet_command():
            click.echo(self.greeting)

        app.cli_commands.append(greet_command)

        class Header:
            def __init__(self, inner):
                self.inner = inner

            async def __call__(self, scope, receive, send):
                async def with_header(message):
                    if message["type"] == "http.response.start":
                        message["headers"] = [*message["headers"], (b"x-greeting", b"1")]
                    await send(message)

                await self.inner(scope, receive, with_header)

        app.add_middleware(Header)


def test_an_outermost_middleware_stays_outside_later_additions():
    order = []

    def layer(label, outermost=False):
        class Layer:
            def __init__(self, inner):
                self.inner = inner

            async def __call__(self, scope, receive, send):
                if scope["type"] == "http":
                    order.append(label)
                await self.inner(scope, receive, send)

        Layer.outermost = outermost
        return Layer

    app = App(secret_key=SECRET)
    app.add_middleware(layer("inner"))
    app.add_middleware(layer("guard", outermost=True))
    app.add_middleware(layer("later"))
    app.add_middleware(layer("last"))

    @app.get("/")
    def index():
        return "ok"

    with TestClient(app) as client:
        assert client.get("/").status_code == 200
    assert order == ["guard", "last", "later", "inner"]


def test_plugin_hook():
    plugin = GreetingPlugin("hello")
    app = App(secret_key=SECRET, plugins=[plugin])
    with TestClient(app) as client:
        response = client.get("/greet/")
        assert response.json() == {"greeting": "hello"}
        assert response.headers["x-greeting"] == "1"
    assert plugin.started
    assert app.extensions["greeting"] is plugin
    assert app.template_globals["greeting"] == "hello"
    assert app.url_path_for("greeting:greet") == "/greet/"
    with pytest.raises(RuntimeError):
        app.install(GreetingPlugin("late"))
    with pytest.raises(TypeError):
        App(secret_key=SECRET).install(object())  # type: ignore[arg-type]


def test_http_exception_headers_and_detail_objects():
    app = App(secret_key=SECRET)

    @app.get("/limited")
    def limited():
        raise HTTPException(429, {"retry_after": 3}, headers={"Retry-After": "3"})

    with TestClient(app) as client:
        response = client.get("/limited")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json() == {"detail": {"retry_after": 3}}


def test_after_request_runs_on_error_handler_responses():
    app = App(secret_key=SECRET)

    @app.after_request
    def stamp(response):
        response.headers["x-stamp"] = "1"

    @app.get("/gone")
    def gone():
        abort(410)

    with TestClient(app) as client:
        response = client.get("/gone")
    assert response.status_code == 410
    assert response.headers["x-stamp"] == "1"


def test_missing_static_dir_fails_at_startup(tmp_path):
    app = App(secret_key=SECRET, static_dir=tmp_path / "nope")
    with pytest.raises(ImproperlyConfigured, match="static_dir"):
        app.build()


def test_shell_context_processor_registers_names():
    app = App(secret_key=SECRET)

    @app.shell_context_processor
    def names():
        return {"answer": 42}

    assert app.shell_context_processors == [names]


def test_before_request_hooks_see_the_endpoint_and_its_marks():
    app = App(secret_key=SECRET)
    seen: list[object] = []

    @app.before_request
    def refuse_marked(request):
        seen.append(request.endpoint)
        if getattr(request.endpoint, "closed", False):
            return PlainTextResponse("closed", 403)

    @app.get("/open")
    def open_view():
        return "open"

    @app.get("/closed")
    def closed_view():
        return "closed?"

    closed_view.closed = True  # type: ignore[attr-defined]
    with TestClient(app) as client:
        assert client.get("/open").text == "open"
        assert client.get("/closed").status_code == 403
    assert seen == [open_view, closed_view]


def _lifespan_state_app() -> App:
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield {"pool": ["connection"], "name": "main"}

    app = App(secret_key=SECRET, lifespan=lifespan)

    @app.before_request
    def tag(request: Request) -> None:
        request.state.tagged = True  # per request: the next one must not see it

    @app.get("/")
    def index(request: Request) -> dict:
        seen = {
            "pool": request.state.pool,
            "name": request.state.name,
            "tagged": request.state.tagged,
            "leaked": request.state.get("leaked", False),
        }
        request.state.leaked = True
        return seen

    return app


def test_lifespan_state_is_request_state_as_in_starlette():
    app = _lifespan_state_app()
    with TestClient(app) as client:
        first = client.get("/").json()
        second = client.get("/").json()
    expected = {"pool": ["connection"], "name": "main", "tagged": True, "leaked": False}
    assert first == second == expected


def test_lifespan_state_is_request_state_under_uvicorn():
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(_lifespan_state_app(), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started
        for _ in range(2):
            response = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
            assert response.json()["leaked"] is False
            assert response.json()["pool"] == ["connection"]
    finally:
        server.should_exit = True
        thread.join(10)


def test_request_state_without_lifespan_state_still_works():
    app = App(secret_key=SECRET)

    @app.get("/")
    def index(request: Request) -> str:
        request.state.x = 1
        return str(request.state.x)

    with TestClient(app) as client:
        assert client.get("/").text == "1"
