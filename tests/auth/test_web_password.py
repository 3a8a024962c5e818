"""Password change and reset, attacked through the running app."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from oakling.auth import User, make_reset_token
from oakling.mail import outbox
from oakling.testing import TestClient
from tests.auth.conftest import WEB_PASSWORD, WEB_SECRET_KEY, add_whoami, log_in

NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture(autouse=True)
def _empty_outbox(outbox: list[Any]) -> None:
    """Every test here counts mails."""


def _change(client: TestClient, old: str, new1: str, new2: str | None = None) -> Any:
    return client.post(
        "/auth/password/change",
        data={"old_password": old, "new_password1": new1, "new_password2": new2 or new1},
    )


def test_password_change_logs_out_other_sessions(make_app: Any, add_user: Any) -> None:
    app = make_app()
    add_whoami(app)
    add_user(app)
    with TestClient(app) as laptop, TestClient(app) as phone:
        assert log_in(laptop) == log_in(phone) == 303
        assert phone.get("/whoami").text == "ann"
        stolen = phone.cookies.get("session")
        assert "Old password" in laptop.get("/auth/password/change").text
        wrong_old = _change(laptop, "not it", NEW_PASSWORD)
        assert wrong_old.status_code == 400
        assert "old password was entered incorrectly" in wrong_old.text
        mismatch = _change(laptop, WEB_PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")
        assert (mismatch.status_code, "do not match" in mismatch.text) == (400, True)
        weak = _change(laptop, WEB_PASSWORD, "12345678")
        assert weak.status_code == 400
        assert "entirely numeric" in weak.text or "too common" in weak.text
        done = _change(laptop, WEB_PASSWORD, NEW_PASSWORD)
        assert done.status_code == 200
        assert "Your password was changed" in done.text
        assert laptop.get("/whoami").text == "ann"  # this session stays logged in
        assert phone.get("/whoami").text == "anonymous"  # the other one is out
    with TestClient(app, cookies={"session": stolen}) as thief:
        assert thief.get("/whoami").text == "anonymous"  # a copied cookie too
    with TestClient(app) as client:
        assert log_in(client) == 400
        assert log_in(client, NEW_PASSWORD) == 303


def test_password_change_needs_login(make_app: Any) -> None:
    app = make_app()
    with TestClient(app, follow_redirects=False) as client:
        response = client.get("/auth/password/change", headers={"Accept": "text/html"})
        assert response.status_code == 302
        assert response.headers["location"] == "/auth/login?next=%2Fauth%2Fpassword%2Fchange"
        assert (
            client.post("/auth/password/change", headers={"Accept": "application/json"}).status_code
            == 401
        )


def _request_reset(client: TestClient, email: str, **headers: str) -> Any:
    return client.post(
        "/auth/password/reset", data={"email": email}, headers=headers, follow_redirects=False
    )


def _link(message: Any) -> str:
    match = re.search(r"(https?://\S+/auth/password/reset/\S+)", message.body)
    assert match, message.body
    return match.group(1)


@pytest.mark.parametrize("web_url", ["sqlite", "postgresql"], indirect=True)
def test_reset_link_works_once(make_app: Any, add_user: Any) -> None:
    app = make_app(settings={"ALLOWED_HOSTS": ["testserver"]})
    add_whoami(app)
    add_user(app, email="ann@example.com")
    with TestClient(app, follow_redirects=False) as client:
        assert 'name="email"' in client.get("/auth/password/reset").text
        sent = _request_reset(client, "ANN@example.com")
        assert (sent.status_code, sent.headers["location"]) == (303, "/auth/password/reset/sent")
        assert "If an account exists" in client.get("/auth/password/reset/sent").text
        assert len(outbox) == 1
        message = outbox[0]
        assert message.to == ("ann@example.com",)
        assert message.subject == "Password reset on http://testserver"
        link = _link(message)
        assert link.startswith("http://testserver/auth/password/reset/")
        path = link.removeprefix("http://testserver")
        opened = client.get(path)
        # The token leaves the address bar at once (no Referer leak).
        assert (opened.status_code, opened.headers["location"]) == (302, "/auth/password/reset/set")
        form = client.get("/auth/password/reset/set")
        assert 'name="new_password1"' in form.text
        mismatch = client.post(
            "/auth/password/reset/set",
            data={"new_password1": NEW_PASSWORD, "new_password2": "other"},
        )
        assert mismatch.status_code == 400
        done = client.post(
            "/auth/password/reset/set",
            data={"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        )
        assert done.status_code == 200
        assert "Your password has been set" in done.text
        # Used once: the same link is now refused, and so is replaying the form.
        again = client.get(path)
        assert again.status_code == 400
        assert "invalid" in again.text
        replay = client.post(
            "/auth/password/reset/set",
            data={"new_password1": "another one 1234", "new_password2": "another one 1234"},
        )
        assert replay.status_code == 400
        assert log_in(client, NEW_PASSWORD) == 303


def test_reset_answer_is_the_same_for_unknown_addresses(make_app: Any, add_user: Any) -> None:
    app = make_app()
    add_user(app, email="ann@example.com")
    with TestClient(app, follow_redirects=False) as client:
        known = _request_reset(client, "ann@example.com")
        unknown = _request_reset(client, "nobody@example.com")
        assert (known.status_code, known.headers["location"]) == (
            unknown.status_code,
            unknown.headers["location"],
        )
        assert known.content == unknown.content
        assert len(outbox) == 1
        assert _request_reset(client, "not an address").status_code == 400


def test_expired_and_forged_links_fail(make_app: Any, add_user: Any) -> None:
    app = make_app(reset_timeout=3600)
    ann = add_user(app, email="ann@example.com")
    with app.extensions["db"].session() as session:
        user = session.get(User, ann)
        keys = [WEB_SECRET_KEY]
        old = make_reset_token(user, keys, issued_at=int(time.time()) - 3601)
        fresh = make_reset_token(user, keys)
        forged = make_reset_token(user, ["another-secret-key-" + "z" * 30])
    with TestClient(app, follow_redirects=False) as client:
        assert client.get(f"/auth/password/reset/{old}").status_code == 400
        assert client.get(f"/auth/password/reset/{forged}").status_code == 400
        assert client.get("/auth/password/reset/not-a-token").status_code == 400
        assert client.get("/auth/password/reset/" + "a" * 600).status_code == 400
        assert client.get("/auth/password/reset/set").status_code == 400  # no token in session
        assert client.get(f"/auth/password/reset/{fresh}").status_code == 302
        # Logging in meanwhile changes last_login: the outstanding link dies.
        assert log_in(client) == 303
        assert client.get(f"/auth/password/reset/{fresh}").status_code == 400


def test_forged_host_cannot_poison_the_link(make_app: Any, add_user: Any) -> None:
    # With SITE_URL, the link uses it whatever the Host header says.
    app = make_app(extra={"SITE_URL": "https://tasks.example.com/"})
    add_user(app, email="ann@example.com")
    with TestClient(app, follow_redirects=False) as client:
        response = _request_reset(client, "ann@example.com", Host="evil.example")
        assert response.status_code == 303
        assert len(outbox) == 1
        assert _link(outbox[0]).startswith("https://tasks.example.com/auth/password/reset/")
        assert "evil.example" not in outbox[0].body


def test_forged_host_refused_by_allowed_hosts(make_app: Any, add_user: Any) -> None:
    app = make_app(settings={"ALLOWED_HOSTS": ["tasks.example.com"]})
    add_user(app, email="ann@example.com")
    with TestClient(app, base_url="http://tasks.example.com", follow_redirects=False) as client:
        refused = _request_reset(client, "ann@example.com", Host="evil.example")
        assert refused.status_code == 400
        assert outbox == []
        malformed = _request_reset(client, "ann@example.com", Host="tasks.example.com@evil.example")
        assert malformed.status_code == 400
        assert outbox == []
        assert _request_reset(client, "ann@example.com").status_code == 303
        assert _link(outbox[0]).startswith("http://tasks.example.com/auth/password/reset/")


def test_signup(make_app: Any, add_user: Any) -> None:
    app = make_app(signup=True)
    add_whoami(app)
    add_user(app, "ann")
    with TestClient(app, follow_redirects=False) as client:
        assert "Sign up" in client.get("/auth/login").text
        form = {"username": "bob", "email": "bob@example.com"}
        weak = client.post("/auth/signup", data={**form, "password1": "bob", "password2": "bob"})
        assert weak.status_code == 400
        taken = client.post(
            "/auth/signup",
            data={**form, "username": "ANN", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        )
        assert taken.status_code == 400
        lookalike = client.post(
            "/auth/signup",
            data={
                **form,
                "username": "\u0430nn",  # Cyrillic a
                "password1": NEW_PASSWORD,
                "password2": NEW_PASSWORD,
            },
        )
        assert lookalike.status_code == 400
        created = client.post(
            "/auth/signup",
            data={**form, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "next": "//evil"},
        )
        assert (created.status_code, created.headers["location"]) == (303, "/")
        assert client.get("/whoami").text == "bob"
    without = make_app()
    with TestClient(without) as client:
        assert client.get("/auth/signup").status_code == 404
        assert "Sign up" not in client.get("/auth/login").text
