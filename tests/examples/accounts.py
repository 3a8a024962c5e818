"""Helpers for the Tasks demo's tests: users, and logging in through the real forms.

Logging in goes through the demo's pages exactly as a browser does: GET the
login page, scrape the CSRF token from its form, POST the form. Afterwards
the client sends the session's CSRF token in ``X-CSRFToken`` on every
request, as the demo's JavaScript would, so JSON calls made with the session
pass the CSRF check (attack tests use clients without it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx

from oakling.auth.services import create_user_sync
from oakling.testing import AsyncClient, TestClient

__all__ = [
    "PASSWORD",
    "alogin",
    "demo_with_users",
    "csrf_from",
    "login",
    "make_user",
    "session_cookie",
]

PASSWORD = "correct-horse-battery-7"
"""The password of every test user (passes the auth battery's validators)."""

_CSRF_FIELD = re.compile(r'name="csrf_token" value="([A-Za-z0-9]+)"')


def csrf_from(html: str) -> str:
    """Return the first CSRF token of a page's forms."""
    found = _CSRF_FIELD.search(html)
    assert found is not None, f"no csrf_token field in the page:\n{html[:2000]}"
    return found.group(1)


def make_user(app: Any, username: str, password: str = PASSWORD) -> int:
    """Create an active user in the app's database (started and migrated); return its id."""
    with app.extensions["db"].session() as db:
        user = create_user_sync(db, username, password)
        db.commit()
        return user.id


def login(
    client: TestClient, username: str, password: str = PASSWORD, next_url: str = ""
) -> httpx.Response:
    """Log in through the login form; return the form post's response.

    After a successful login the client carries the new session's CSRF token
    in ``X-CSRFToken`` (tokens from before the login stop working).
    """
    client.headers.pop("x-csrftoken", None)
    page = client.get("/auth/login")
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf_from(page.text), "username": username, "password": password}
    if next_url:
        data["next"] = next_url
    response = client.post("/auth/login", data=data, follow_redirects=False)
    if response.status_code == 303:
        client.headers["x-csrftoken"] = csrf_from(client.get("/").text)
    return response


async def alogin(client: AsyncClient, username: str, password: str = PASSWORD) -> None:
    """Do what :func:`login` does with an async client; fail unless it worked."""
    page = await client.get("/auth/login")
    data = {"csrf_token": csrf_from(page.text), "username": username, "password": password}
    response = await client.post("/auth/login", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    client.headers["x-csrftoken"] = csrf_from((await client.get("/")).text)


def session_cookie(client: httpx.Client | httpx.AsyncClient) -> str:
    """Return the client's ``Cookie`` header value for the app's cookies."""
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def demo_with_users(database_url: str, *usernames: str) -> Iterator[Any]:
    """Yield the demo on ``database_url``, started (so migrated), with these users.

    For a fixture: ``yield from demo_with_users(url, "ann", "bob")``.
    """
    from examples.tasks.app import create_app

    demo = create_app(database_url)
    with TestClient(demo):
        for username in usernames:
            make_user(demo, username)
        yield demo
