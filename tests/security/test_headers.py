"""Security headers on every response, errors included; the handler's own win."""

from __future__ import annotations

from typing import Any

import pytest

from oakling import App, HTTPException, Request, Response
from oakling.config import Settings
from oakling.exceptions import ImproperlyConfigured
from oakling.middleware import Middleware
from oakling.responses import StreamingResponse
from oakling.security import Security, frame_options_exempt
from oakling.testing import TestClient

KEY = "k" * 40
DEFAULTS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


def make_app(*, debug: bool = False, extra: dict[str, Any] | None = None, **options: Any) -> App:
    settings = Settings(
        DEBUG=debug, SECRET_KEY=KEY, ALLOWED_HOSTS=["testserver"], extra=extra or {}
    )
    app = App(settings=settings, plugins=[Security(**options)])

    @app.get("/")
    def index() -> str:
        return "ok"

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("bug")

    @app.get("/teapot")
    def teapot() -> str:
        raise HTTPException(418, "short and stout")

    @app.get("/framed")
    def framed() -> Response:
        return Response(
            "embed me",
            headers={
                "X-Frame-Options": "SAMEORIGIN",
                "Referrer-Policy": "no-referrer",
                "Content-Security-Policy": "frame-ancestors https://partner.example",
            },
        )

    @app.get("/widget")
    @frame_options_exempt
    def widget(request: Request) -> str:
        return "widget"

    @app.get("/fast-widget")
    @frame_options_exempt
    def fast_widget() -> str:
        return "widget"

    @app.get("/stream")
    def stream() -> StreamingResponse:
        async def chunks() -> Any:
            yield b"a"
            yield b"b"

        return StreamingResponse(chunks(), media_type="text/plain")

    return app


def assert_defaults(response: Any) -> None:
    for name, value in DEFAULTS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    assert "strict-transport-security" not in response.headers  # plain http


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_headers_on_200_404_405_418_and_500(debug: bool, accept: str) -> None:
    app = make_app(debug=debug)
    with TestClient(app, raise_server_exceptions=False, headers={"Accept": accept}) as client:
        expected = {"/": 200, "/missing": 404, "/teapot": 418, "/boom": 500, "/stream": 200}
        for path, status in expected.items():
            response = client.get(path)
            assert response.status_code == status, path
            assert_defaults(response)
        not_allowed = client.post("/")
        assert not_allowed.status_code == 405
        assert_defaults(not_allowed)
        head = client.head("/")
        assert head.status_code == 200 and head.content == b""
        assert_defaults(head)
        error = client.get("/boom")
        if accept == "text/html":
            assert error.headers["content-type"].startswith("text/html")
            assert ("Traceback" in error.text or "RuntimeError" in error.text) is debug
        assert error.headers.get_list("x-frame-options") == ["DENY"]


def test_header_set_by_the_handler_wins() -> None:
    app = make_app()
    with TestClient(app) as client:
        response = client.get("/framed")
        assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
        assert response.headers.get_list("referrer-policy") == ["no-referrer"]
        assert response.headers["x-content-type-options"] == "nosniff"


def test_header_set_by_the_handler_wins_over_the_csp_setting() -> None:
    app = make_app(csp={"default-src": ["'self'"], "script-src": ["'self'", "'nonce'"]})
    with TestClient(app) as client:
        response = client.get("/framed")
        assert response.headers.get_list("content-security-policy") == [
            "frame-ancestors https://partner.example"
        ]
        assert "nonce-" in client.get("/").headers["content-security-policy"]


def test_frame_options_exempt_view_has_no_x_frame_options() -> None:
    app = make_app()
    with TestClient(app) as client:
        widget = client.get("/widget")
        assert widget.text == "widget"
        assert "x-frame-options" not in widget.headers
        assert widget.headers["x-content-type-options"] == "nosniff"
        assert client.get("/").headers["x-frame-options"] == "DENY"


def test_frame_options_exempt_on_a_handler_without_parameters() -> None:
    app = make_app()
    with TestClient(app) as client:
        widget = client.get("/fast-widget")
        assert widget.text == "widget"
        assert "x-frame-options" not in widget.headers


def test_each_header_can_be_configured_or_turned_off_by_settings() -> None:
    app = make_app(
        extra={
            "X_FRAME_OPTIONS": "sameorigin",
            "SECURE_CONTENT_TYPE_NOSNIFF": "0",
            "SECURE_REFERRER_POLICY": "no-referrer, strict-origin-when-cross-origin",
            "SECURE_CROSS_ORIGIN_OPENER_POLICY": "",
        }
    )
    with TestClient(app) as client:
        response = client.get("/")
        assert response.headers["x-frame-options"] == "SAMEORIGIN"
        assert "x-content-type-options" not in response.headers
        assert response.headers["referrer-policy"] == "no-referrer,strict-origin-when-cross-origin"
        assert "cross-origin-opener-policy" not in response.headers


def test_constructor_arguments_override_settings() -> None:
    app = make_app(
        extra={"X_FRAME_OPTIONS": "SAMEORIGIN"},
        x_frame_options=False,
        content_type_nosniff=False,
        referrer_policy=["origin"],
        cross_origin_opener_policy="same-origin-allow-popups",
    )
    with TestClient(app) as client:
        response = client.get("/")
        assert "x-frame-options" not in response.headers
        assert "x-content-type-options" not in response.headers
        assert response.headers["referrer-policy"] == "origin"
        assert response.headers["cross-origin-opener-policy"] == "same-origin-allow-popups"


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from oakling.config import load_settings

    monkeypatch.setenv("OAKLING_SECRET_KEY", KEY)
    monkeypatch.setenv("OAKLING_ALLOWED_HOSTS", "testserver, .example.com")
    monkeypatch.setenv("OAKLING_SECURE_HSTS_SECONDS", "3600")
    monkeypatch.setenv("OAKLING_SECURE_HSTS_INCLUDE_SUBDOMAINS", "yes")
    monkeypatch.setenv("OAKLING_X_FRAME_OPTIONS", "")
    monkeypatch.setenv("OAKLING_SECURE_CSP", '{"default-src": ["\'self\'"]}')
    settings = load_settings(env_file=None)
    app = App(settings=settings, plugins=[Security()])

    @app.get("/")
    def index() -> str:
        return "ok"

    with TestClient(app, base_url="https://www.example.com") as client:
        response = client.get("/")
        assert response.status_code == 200
        assert response.headers["strict-transport-security"] == "max-age=3600; includeSubDomains"
        assert "x-frame-options" not in response.headers
        assert response.headers["content-security-policy"] == "default-src 'self'"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"x_frame_options": "ALLOWALL"}, "X_FRAME_OPTIONS"),
        ({"referrer_policy": "everyone"}, "SECURE_REFERRER_POLICY"),
        ({"cross_origin_opener_policy": "sometimes"}, "SECURE_CROSS_ORIGIN_OPENER_POLICY"),
        ({"hsts_seconds": -1}, "SECURE_HSTS_SECONDS"),
        ({"redirect_exempt": ["("]}, "SECURE_REDIRECT_EXEMPT"),
        ({"ssl_host": "evil.example/x"}, "SECURE_SSL_HOST"),
        ({"csp": {"script-src": ["'self'; img-src *"]}}, "SECURE_CSP"),
        ({"csp": {"bad directive": ["'self'"]}}, "SECURE_CSP"),
        ({"csp_report_only": "default-src 'self'\r\nSet-Cookie: a=b"}, "SECURE_CSP_REPORT_ONLY"),
    ],
)
def test_invalid_configuration_fails_at_startup(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        make_app(**options)


def test_invalid_setting_from_environment_names_it() -> None:
    with pytest.raises(ImproperlyConfigured, match="SECURE_HSTS_SECONDS"):
        make_app(extra={"SECURE_HSTS_SECONDS": "a year"})


def test_lifespan_and_extension() -> None:
    app = make_app()
    battery = app.extensions["security"]
    assert isinstance(battery, Security)
    assert battery.config is not None and battery.config.x_frame_options == "DENY"
    with pytest.raises(ImproperlyConfigured):
        app.install(Security())
    with TestClient(app) as client:  # the lifespan passes through the middleware
        assert client.get("/").status_code == 200


class _BrokenMiddleware:
    """Inner middleware that fails before any response starts."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/":
            raise RuntimeError("broken middleware")
        await self.app(scope, receive, send)


@pytest.mark.parametrize("debug", [False, True])
def test_headers_on_a_500_raised_by_inner_middleware(debug: bool) -> None:
    settings = Settings(DEBUG=debug, SECRET_KEY=KEY, ALLOWED_HOSTS=["testserver"])
    app = App(settings=settings, middleware=[Middleware(_BrokenMiddleware)], plugins=[Security()])

    @app.get("/")
    def index() -> str:
        return "never"  # pragma: no cover

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/", headers={"Accept": "text/html"})
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("text/html")
        assert_defaults(response)
    with TestClient(app) as client, pytest.raises(RuntimeError, match="broken middleware"):
        client.get("/")
