"""user_logged_in, user_logged_out and user_login_failed (Django's auth signals)."""

from __future__ import annotations

from typing import Any

from oakling.auth import User
from oakling.signals import user_logged_in, user_logged_out, user_login_failed
from oakling.testing import TestClient
from tests.auth.conftest import WEB_PASSWORD, log_in


def test_login_logout_and_failure_signals(make_app: Any, add_user: Any) -> None:
    app = make_app()
    add_user(app)
    events: list[tuple[Any, ...]] = []

    def logged_in(sender: Any, request: Any, user: Any, **extra: Any) -> None:
        events.append(("in", sender, user.username, request.url.path))

    async def logged_out(sender: Any, request: Any, user: Any, **extra: Any) -> None:
        events.append(("out", sender, user.username if user else None))

    def failed(sender: Any, credentials: dict[str, Any], request: Any, **extra: Any) -> None:
        events.append(("failed", sender, credentials))

    with (
        user_logged_in.connected_to(logged_in),
        user_logged_out.connected_to(logged_out),
        user_login_failed.connected_to(failed),
    ):
        with TestClient(app, follow_redirects=False) as client:
            assert log_in(client, password="wrong password") == 400
            assert log_in(client) == 303
            assert client.post("/auth/logout").status_code == 303
            assert client.post("/auth/logout").status_code == 303  # anonymous now
    assert events == [
        # SECURITY: receivers never get the password.
        ("failed", "oakling.auth", {"username": "ann"}),
        ("in", User, "ann", "/auth/login"),
        ("out", User, "ann"),
        ("out", None, None),
    ]
    assert WEB_PASSWORD not in repr(events)
