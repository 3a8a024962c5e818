"""Log out everywhere: the per-user session version, attacked on every session backend.

Two browsers are logged in as one user; one posts ``/auth/logout/all``; the
other's next request is anonymous, and so is a copy of its cookie, on the
signed cookie (which logout alone cannot revoke), the database and Redis.
Password changes and resets bump the version too. API tokens are not
sessions and keep working (``docs/auth.md``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from oakling import Request
from oakling.auth import (
    User,
    bump_session_version_sync,
    logout_all,
    logout_all_sync,
    session_auth_hash,
)
from oakling.auth.tokens import create_token_sync
from oakling.csrf import CSRF
from oakling.db import AsyncSession, Session
from oakling.testing import TestClient
from tests.auth.conftest import WEB_PASSWORD, WEB_SECRET_KEY, add_whoami, log_in

NEW_PASSWORD = "a brand new passphrase 42"
NEVER_CACHE = "no-cache, no-store, must-revalidate, private"


@pytest.fixture(params=["cookie", "database", "redis"])
def session_backend(request: pytest.FixtureRequest, web_url: str) -> Iterator[dict[str, Any]]:
    """The settings putting sessions on each backend (the table or Redis made ready)."""
    if request.param == "cookie":
        yield {"SESSION_BACKEND": "cookie"}
    elif request.param == "database":
        from oakling.db import Database
        from oakling.sessions.database import SessionRecord

        setup = Database(web_url)
        SessionRecord.__table__.create(setup.sync_engine(), checkfirst=True)  # type: ignore[attr-defined]
        setup.sync_engine().dispose()
        yield {"SESSION_BACKEND": "database"}
    else:
        url = request.getfixturevalue("redis_url")
        yield {"SESSION_BACKEND": "redis", "SESSION_REDIS_URL": url}


def _version(app: Any, user_id: int) -> int:
    with app.extensions["db"].session() as db:
        return int(db.scalar(select(User.session_version).where(User.id == user_id)))


def test_log_out_everywhere_ends_every_session_on_every_backend(
    make_app: Any, add_user: Any, session_backend: dict[str, Any]
) -> None:
    app = make_app(extra=session_backend)
    add_whoami(app)
    ann = add_user(app)
    add_user(app, "bob")
    with TestClient(app) as laptop, TestClient(app) as phone, TestClient(app) as bob:
        assert log_in(laptop) == log_in(phone) == 303
        bob_login = {"username": "bob", "password": WEB_PASSWORD}
        assert bob.post("/auth/login", data=bob_login, follow_redirects=False).status_code == 303
        stolen = phone.cookies.get("session")
        assert phone.get("/whoami").text == "ann"
        response = laptop.post("/auth/logout/all", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        assert response.headers["cache-control"] == NEVER_CACHE
        assert laptop.get("/whoami").text == "anonymous"
        assert phone.get("/whoami").text == "anonymous"  # the other browser is out
        assert bob.get("/whoami").text == "bob"  # another user is not touched
        assert _version(app, ann) == 1
        # Logging in again works; the old cookie stays out.
        assert log_in(phone) == 303
        assert phone.get("/whoami").text == "ann"
    with TestClient(app, cookies={"session": stolen}) as thief:
        assert thief.get("/whoami").text == "anonymous"  # a copy of the cookie too


def test_log_out_everywhere_is_post_only_and_checks_csrf(make_app: Any, add_user: Any) -> None:
    app = make_app(after=(CSRF(),))
    add_whoami(app)
    add_user(app)
    with TestClient(app, enforce_csrf_checks=True, fill_csrf_token=False) as client:
        page = client.get("/auth/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        data = {"username": "ann", "password": WEB_PASSWORD, "csrf_token": token}
        assert client.post("/auth/login", data=data, follow_redirects=False).status_code == 303
        # A link or an image cannot log anyone out everywhere.
        assert client.get("/auth/logout/all").status_code == 405
        # Nor can a cross-site form without the session's CSRF token.
        assert client.post("/auth/logout/all").status_code == 403
        assert client.get("/whoami").text == "ann"


def test_log_out_everywhere_when_anonymous_only_redirects(make_app: Any, add_user: Any) -> None:
    app = make_app()
    ann = add_user(app)
    with TestClient(app) as client:
        response = client.post("/auth/logout/all", follow_redirects=False)
        assert response.status_code == 303
    assert _version(app, ann) == 0


def test_api_tokens_survive_log_out_everywhere(make_app: Any, add_user: Any) -> None:
    """Documented: tokens are not sessions; revoke them one by one."""
    app = make_app()
    add_whoami(app)
    ann = add_user(app)
    with app.extensions["db"].session() as db:
        _, raw = create_token_sync(db, db.get(User, ann), name="script")
        db.commit()
    with TestClient(app) as browser:
        assert log_in(browser) == 303
        assert browser.post("/auth/logout/all", follow_redirects=False).status_code == 303
        assert browser.get("/whoami").text == "anonymous"
    with TestClient(app, headers={"authorization": f"Bearer {raw}"}) as script:
        assert script.get("/whoami").text == "ann"


def test_an_api_token_cannot_log_its_user_out_everywhere(make_app: Any, add_user: Any) -> None:
    """A leaked token, whatever its scopes, never ends the person's sessions."""
    app = make_app()
    add_whoami(app)
    ann = add_user(app)
    with app.extensions["db"].session() as db:
        _, raw = create_token_sync(
            db, db.get(User, ann), name="script", scopes=["tasks:read", "tasks:write"]
        )
        db.commit()
    with TestClient(app) as browser:
        assert log_in(browser) == 303
        with TestClient(app, headers={"authorization": f"Bearer {raw}"}) as script:
            refused = script.post("/auth/logout/all", follow_redirects=False)
            assert refused.status_code == 403
            assert "API token" in refused.json()["detail"]
        assert browser.get("/whoami").text == "ann"
    assert _version(app, ann) == 0


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_logout_all_from_a_handler(make_app: Any, add_user: Any, kind: str) -> None:
    app = make_app()
    add_whoami(app)
    ann = add_user(app)
    if kind == "sync":

        @app.post("/everywhere")
        def everywhere_sync(request: Request, db: Session) -> dict[str, bool]:
            return {"ended": logout_all_sync(request, db)}

    else:

        @app.post("/everywhere")
        async def everywhere(request: Request, db: AsyncSession) -> dict[str, bool]:
            return {"ended": await logout_all(request, db)}

    with TestClient(app) as laptop, TestClient(app) as phone:
        assert log_in(laptop) == log_in(phone) == 303
        assert laptop.post("/everywhere").json() == {"ended": True}
        assert laptop.get("/whoami").text == "anonymous"
        assert phone.get("/whoami").text == "anonymous"
        assert laptop.post("/everywhere").json() == {"ended": False}
    assert _version(app, ann) == 1


def test_password_change_and_reset_bump_the_version(
    make_app: Any, add_user: Any, outbox: list[Any]
) -> None:
    app = make_app(extra={"SESSION_BACKEND": "cookie"})
    add_whoami(app)
    ann = add_user(app, email="ann@example.com")
    with TestClient(app) as laptop, TestClient(app) as phone:
        assert log_in(laptop) == log_in(phone) == 303
        done = laptop.post(
            "/auth/password/change",
            data={
                "old_password": WEB_PASSWORD,
                "new_password1": NEW_PASSWORD,
                "new_password2": NEW_PASSWORD,
            },
        )
        assert done.status_code == 200
        assert done.headers["cache-control"] == NEVER_CACHE
        assert laptop.get("/whoami").text == "ann"  # this session is kept
        assert phone.get("/whoami").text == "anonymous"
    assert _version(app, ann) == 1
    with TestClient(app) as phone, TestClient(app) as reset:
        assert log_in(phone, NEW_PASSWORD) == 303
        reset.post("/auth/password/reset", data={"email": "ann@example.com"})
        (mail,) = outbox
        link = next(word for word in mail.body.split() if "/auth/password/reset/" in word)
        form = reset.get(link.removeprefix("http://testserver"))
        assert form.status_code == 200
        assert form.headers["cache-control"] == NEVER_CACHE
        chosen = reset.post(
            "/auth/password/reset/set",
            data={"new_password1": WEB_PASSWORD + "!", "new_password2": WEB_PASSWORD + "!"},
        )
        assert chosen.status_code == 200
        assert phone.get("/whoami").text == "anonymous"  # the reset ended it
    assert _version(app, ann) == 2


def test_version_zero_keeps_djangos_hash_and_a_bump_changes_it(
    make_app: Any, add_user: Any
) -> None:
    """Sessions made before the upgrade (version 0) stay valid; a bump voids them."""
    app = make_app()
    ann = add_user(app)
    with app.extensions["db"].session() as db:
        user = db.get(User, ann)
        assert user is not None and user.session_version == 0
        before = session_auth_hash(user, WEB_SECRET_KEY)
        user.session_version = 0  # as a row made before the column existed (server default)
        assert session_auth_hash(user, WEB_SECRET_KEY) == before
        assert bump_session_version_sync(db, user) == 1
        assert bump_session_version_sync(db, user) == 2  # each bump counts
        assert user.session_version == 2
        assert session_auth_hash(user, WEB_SECRET_KEY) != before
        db.commit()
    assert _version(app, ann) == 2
