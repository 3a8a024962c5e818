"""CSRF and the test clients: off by default (Django's), on and self-filling on request."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from oakling import App, Request, render
from oakling.config import Settings
from oakling.csrf import CSRF
from oakling.sessions import Sessions
from oakling.testing import AsyncClient, TestClient

SECRET = "csrf-testing-secret-key-" + "t" * 30
PAGE = '<form method="post" action="/submit">{{ csrf_input() }}<button>Go</button></form>'


@pytest.fixture
def app(tmp_path: Any) -> App:
    (tmp_path / "form.html").write_text(PAGE)
    app = App(
        settings=Settings(SECRET_KEY=SECRET),
        plugins=[Sessions(), CSRF()],
        template_folder=tmp_path,
    )

    @app.get("/form")
    def form(request: Request) -> Any:
        return render(request, "form.html")

    @app.post("/submit")
    def submit() -> dict[str, bool]:
        return {"done": True}

    return app


def test_the_default_client_posts_forms_without_tokens(app: App) -> None:
    with TestClient(app) as client:
        assert client.post("/submit", data={"title": "x"}).json() == {"done": True}


def test_the_async_client_skips_them_too(app: App) -> None:
    async def post() -> int:
        async with AsyncClient(app) as client:
            return (await client.post("/submit")).status_code

    assert asyncio.run(post()) == 200


def test_enforced_checks_refuse_a_post_without_a_token(app: App) -> None:
    with TestClient(app, enforce_csrf_checks=True, fill_csrf_token=False) as client:
        client.get("/form")
        response = client.post("/submit")
    assert response.status_code == 403
    assert "CSRF token missing" in response.text


def test_enforced_checks_with_filling_send_the_token_of_the_last_page(app: App) -> None:
    with TestClient(app, enforce_csrf_checks=True) as client:
        # NOTE: no page seen yet, no token: refused, like a forged request.
        assert client.post("/submit").status_code == 403
        client.get("/form")
        assert client.post("/submit", data={"title": "x"}).json() == {"done": True}
        # A token the test sends itself wins over the filled one.
        wrong = client.post("/submit", headers={"X-CSRFToken": "a" * 64})
        assert wrong.status_code == 403


def test_a_request_from_a_server_is_always_checked(app: App) -> None:
    """Requests that did not come from oakling's test clients carry no skip key."""

    async def post() -> int:
        transport = httpx.ASGITransport(app=app)  # builds its own scope, as a server does
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return (await client.post("/submit")).status_code

    assert asyncio.run(post()) == 403


def test_a_header_cannot_turn_the_checks_off(app: App) -> None:
    with TestClient(app, enforce_csrf_checks=True, fill_csrf_token=False) as client:
        for header in ("oakling.enforce_csrf_checks", "oakling-enforce-csrf-checks"):
            assert client.post("/submit", headers={header: "false"}).status_code == 403
