"""HSTS over https only; the https redirect keeps path and query, never a forged host."""

from __future__ import annotations

from typing import Any

import pytest

from oakling import App, Response, WebSocket
from oakling.config import Settings
from oakling.security import Security
from oakling.testing import TestClient

KEY = "k" * 40


def make_app(allowed: list[str], **options: Any) -> tuple[App, list[str]]:
    app = App(
        settings=Settings(SECRET_KEY=KEY, ALLOWED_HOSTS=allowed), plugins=[Security(**options)]
    )
    ran: list[str] = []

    @app.route("/{path:path}", methods=["GET", "POST"])
    def anything(path: str) -> str:
        ran.append(path)
        return f"served {path}"

    return app, ran


def test_hsts_only_over_https() -> None:
    app, _ = make_app(["site.example"], hsts_seconds=31536000)
    with TestClient(app, base_url="http://site.example") as client:
        assert "strict-transport-security" not in client.get("/a").headers
    with TestClient(app, base_url="https://site.example") as client:
        response = client.get("/a")
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        assert client.get("/missing/").headers["strict-transport-security"] == "max-age=31536000"


def test_hsts_flags_and_off_by_default() -> None:
    app, _ = make_app(
        ["site.example"], hsts_seconds=600, hsts_include_subdomains=True, hsts_preload=True
    )
    with TestClient(app, base_url="https://site.example") as client:
        assert client.get("/").headers["strict-transport-security"] == (
            "max-age=600; includeSubDomains; preload"
        )
    plain, _ = make_app(["site.example"])
    with TestClient(plain, base_url="https://site.example") as client:
        assert "strict-transport-security" not in client.get("/").headers


def test_handler_hsts_wins() -> None:
    app = App(
        settings=Settings(SECRET_KEY=KEY, ALLOWED_HOSTS=["site.example"]),
        plugins=[Security(hsts_seconds=600)],
    )

    @app.get("/")
    def index() -> Response:
        return Response("x", headers={"Strict-Transport-Security": "max-age=0"})

    with TestClient(app, base_url="https://site.example") as client:
        assert client.get("/").headers.get_list("strict-transport-security") == ["max-age=0"]


def test_ssl_redirect_keeps_path_and_query_and_skips_the_handler() -> None:
    app, ran = make_app(["site.example"], ssl_redirect=True)
    with TestClient(app, base_url="http://site.example", follow_redirects=False) as client:
        response = client.get("/tasks/7?tab=notes&x=%2F1")
        assert response.status_code == 301
        assert response.headers["location"] == "https://site.example/tasks/7?tab=notes&x=%2F1"
        assert response.headers["x-frame-options"] == "DENY"
        post = client.post("/tasks", data={"title": "x"})
        assert post.status_code == 308  # method and body survive
        assert post.headers["location"] == "https://site.example/tasks"
        ported = client.get("/", headers={"Host": "Site.Example:8080"})
        assert ported.headers["location"] == "https://site.example/"
        odd = client.get("/a/%2e%2e/x y")
        assert odd.headers["location"] == "https://site.example/a/%2e%2e/x%20y"
    assert ran == []
    with TestClient(app, base_url="https://site.example") as client:
        assert client.get("/tasks/7?tab=notes").text == "served tasks/7"
    assert ran == ["tasks/7"]


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "site.example@evil.example",
        "evil.example/site.example",
        "site.example:99999",
    ],
)
def test_ssl_redirect_never_goes_to_a_forged_host(host: str) -> None:
    app, ran = make_app(["site.example"], ssl_redirect=True)
    with TestClient(app, base_url="http://site.example", follow_redirects=False) as client:
        response = client.get("/login?next=/", headers={"Host": host})
        assert response.status_code == 400
        assert "location" not in response.headers
    assert ran == []


def test_ssl_redirect_with_star_uses_the_normalized_host_only() -> None:
    app, _ = make_app(["*"], ssl_redirect=True)
    with TestClient(app, follow_redirects=False) as client:
        response = client.get("/x", headers={"Host": "WWW.Site.Example.:80"})
        assert response.headers["location"] == "https://www.site.example/x"
        assert client.get("/x", headers={"Host": "a@evil.example"}).status_code == 400


def test_ssl_host_and_exempt_paths() -> None:
    app, ran = make_app(
        ["site.example"],
        ssl_redirect=True,
        ssl_host="secure.site.example",
        redirect_exempt=[r"^health/", r"^\.well-known/acme"],
    )
    with TestClient(app, base_url="http://site.example", follow_redirects=False) as client:
        assert client.get("/a?b=1").headers["location"] == "https://secure.site.example/a?b=1"
        assert client.get("/health/live").text == "served health/live"
        assert client.get("/.well-known/acme-challenge/t").status_code == 200
        assert client.get("/x/health/").status_code == 301
    assert ran == ["health/live", ".well-known/acme-challenge/t"]


def test_ssl_redirect_from_settings() -> None:
    app = App(
        settings=Settings(
            SECRET_KEY=KEY,
            ALLOWED_HOSTS=["site.example"],
            extra={"SECURE_SSL_REDIRECT": "true", "SECURE_REDIRECT_EXEMPT": "^ping$"},
        ),
        plugins=[Security()],
    )

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    with TestClient(app, base_url="http://site.example", follow_redirects=False) as client:
        assert client.get("/ping").text == "pong"
        assert client.get("/other").status_code == 301


def test_websocket_is_not_redirected() -> None:
    app = App(
        settings=Settings(SECRET_KEY=KEY, ALLOWED_HOSTS=["site.example"]),
        plugins=[Security(ssl_redirect=True)],
    )

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    with TestClient(app, base_url="http://site.example") as client:
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_text() == "hi"


@pytest.mark.anyio
async def test_redirect_of_a_network_path_stays_on_the_host() -> None:
    app, ran = make_app(["site.example"], ssl_redirect=True)
    app.build()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "//evil.example/x",
        "raw_path": b"//evil.example/x",
        "query_string": b"a=\r\nSet-Cookie:%20x",
        "headers": [(b"host", b"site.example")],
    }
    await app(scope, receive, send)
    location = dict(sent[0]["headers"])[b"location"]
    assert location == b"https://site.example//evil.example/x?a=%0D%0ASet-Cookie:%20x"
    assert ran == []
