"""Every auth page is ``never_cache`` (Django's auth views are too)."""

from __future__ import annotations

from typing import Any

from oakling.testing import TestClient
from tests.auth.conftest import WEB_PASSWORD

NEVER_CACHE = "no-cache, no-store, must-revalidate, private"


def test_every_auth_page_and_answer_is_never_cached(make_app: Any, add_user: Any) -> None:
    app = make_app(signup=True)
    add_user(app, email="ann@example.com")
    with TestClient(app, follow_redirects=False) as client:
        answers = {
            "login form": client.get("/auth/login"),
            "wrong password": client.post(
                "/auth/login", data={"username": "ann", "password": "wrong"}
            ),
            "signup form": client.get("/auth/signup"),
            "signup refused": client.post("/auth/signup", data={"username": "x"}),
            "reset form": client.get("/auth/password/reset"),
            "reset asked": client.post("/auth/password/reset", data={"email": "ann@example.com"}),
            "reset sent": client.get("/auth/password/reset/sent"),
            "bad reset link": client.get("/auth/password/reset/not-a-token"),
            "reset set without link": client.get("/auth/password/reset/set"),
            "logged in": client.post(
                "/auth/login", data={"username": "ann", "password": WEB_PASSWORD}
            ),
            "change form": client.get("/auth/password/change"),
            "change refused": client.post("/auth/password/change", data={"old_password": "x"}),
            "logout": client.post("/auth/logout"),
        }
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "login form": 200,
        "wrong password": 400,
        "signup form": 200,
        "signup refused": 400,
        "reset form": 200,
        "reset asked": 303,
        "reset sent": 200,
        "bad reset link": 400,
        "reset set without link": 400,
        "logged in": 303,
        "change form": 200,
        "change refused": 400,
        "logout": 303,
    }
    for name, response in answers.items():
        assert response.headers.get_list("cache-control") == [NEVER_CACHE], name
