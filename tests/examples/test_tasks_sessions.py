"""The demo's sessions: server-side, so logout revokes; "log out everywhere".

Issue 9: with the signed-cookie backend an old cookie still worked after
logout. The demo now keeps sessions in its database (``oakling_session``)
unless ``OAKLING_SESSION_BACKEND`` says otherwise, and its page has a
"Log out everywhere" button that ends every session of the account (with
any backend, the signed cookie included). A bare ``App`` keeps the signed
cookie, the embedded default.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from examples.tasks.app import create_app, demo_settings
from oakling import App
from oakling.auth.tokens import create_token_sync
from oakling.config import Settings
from oakling.sessions import RedisBackend, Sessions, SignedCookieBackend
from oakling.sessions.database import DatabaseBackend
from oakling.testing import TestClient
from tests.auth.conftest import redis_url  # noqa: F401 - the fixture
from tests.examples.accounts import csrf_from, demo_with_users, login, make_user

NEVER_CACHE = "no-cache, no-store, must-revalidate, private"


@pytest.fixture(autouse=True)
def _no_session_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's defaults, whatever the shell running the tests exports."""
    for name in ("OAKLING_SESSION_BACKEND", "OAKLING_SESSION_REDIS_URL", "OAKLING_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tasks.db'}"


@pytest.fixture
def app(database_url: str) -> Iterator[Any]:
    """The demo with its defaults, started (so migrated), with users "ann" and "bob"."""
    yield from demo_with_users(database_url, "ann", "bob")


def browser(app: Any, username: str) -> TestClient:
    """Return a client logged in as ``username``, sending no CSRF token on its own."""
    # NOTE: CSRF checks on (the test client's default is off).
    client = TestClient(
        app, follow_redirects=False, enforce_csrf_checks=True, fill_csrf_token=False
    )
    assert login(client, username).status_code == 303
    client.headers.pop("x-csrftoken")
    return client


def replay(app: Any, cookies: dict[str, str]) -> TestClient:
    """Return a new client (another machine) sending copied ``cookies``."""
    return TestClient(app, follow_redirects=False, cookies=cookies)


def assert_anonymous(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 302
    assert page.headers["location"].startswith("/auth/login?next=")
    assert client.get("/api/tasks").status_code == 401
    assert client.get("/events").status_code == 302


def session_rows(app: Any) -> int:
    with app.extensions["db"].sync_engine().connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM oakling_session")).scalar_one())


def logout_all_form(page: str) -> str:
    """Return the CSRF token of the page's "Log out everywhere" form."""
    found = re.search(
        r'<form method="post" action="/auth/logout/all">\s*(<input[^>]*>)\s*'
        r"<button[^>]*>Log out everywhere</button>",
        page,
    )
    assert found is not None, page
    return csrf_from(found.group(1))


# -- the session backend ---------------------------------------------------------


def test_the_demo_keeps_sessions_in_its_database_and_a_bare_app_in_a_cookie(app: Any) -> None:
    assert isinstance(app.extensions["sessions"].backend, DatabaseBackend)
    assert demo_settings().get("SESSION_BACKEND") == "database"
    bare = App(settings=Settings(SECRET_KEY="k" * 50), plugins=[Sessions()])
    assert isinstance(bare.extensions["sessions"].backend, SignedCookieBackend)
    ann = browser(app, "ann")
    # The cookie is a random id, not the session: nothing to read or forge in it.
    cookie = ann.cookies["session"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)
    assert session_rows(app) == 1


@pytest.mark.parametrize(("setting", "kind"), [("cookie", SignedCookieBackend)])
def test_an_explicit_session_backend_setting_is_honoured(
    monkeypatch: pytest.MonkeyPatch, database_url: str, setting: str, kind: type
) -> None:
    monkeypatch.setenv("OAKLING_SESSION_BACKEND", setting)
    assert isinstance(create_app(database_url).extensions["sessions"].backend, kind)


def test_logout_revokes_a_copied_cookie(app: Any) -> None:
    ann = browser(app, "ann")
    stolen = dict(ann.cookies.items())
    copy = replay(app, stolen)
    assert copy.get("/").status_code == 200  # the copy works while ann is logged in
    csrf = csrf_from(ann.get("/").text)
    assert ann.post("/auth/logout", data={"csrf_token": csrf}).status_code == 303
    assert_anonymous(ann)
    assert_anonymous(replay(app, stolen))  # the old cookie, replayed after logout
    assert session_rows(app) == 0


def test_logout_revokes_a_copied_cookie_on_redis(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    redis_url: str,  # noqa: F811 - the fixture
) -> None:
    monkeypatch.setenv("OAKLING_SESSION_BACKEND", "redis")
    monkeypatch.setenv("OAKLING_SESSION_REDIS_URL", redis_url)
    demo = create_app(database_url)
    assert isinstance(demo.extensions["sessions"].backend, RedisBackend)
    # NOTE: one client: Redis connections belong to its event loop, closed at shutdown.
    with TestClient(demo, follow_redirects=False) as client:
        make_user(demo, "ann")
        assert login(client, "ann").status_code == 303
        stolen = dict(client.cookies.items())
        assert client.get("/").status_code == 200
        csrf = csrf_from(client.get("/").text)
        assert client.post("/auth/logout", data={"csrf_token": csrf}).status_code == 303
        client.cookies.clear()
        for name, value in stolen.items():
            client.cookies.set(name, value)  # the old cookie, replayed after logout
        assert_anonymous(client)


# -- log out everywhere ------------------------------------------------------------


@pytest.mark.parametrize("backend", ["database", "cookie"])
def test_log_out_everywhere_ends_the_other_devices_sessions(
    monkeypatch: pytest.MonkeyPatch, database_url: str, backend: str
) -> None:
    monkeypatch.setenv("OAKLING_SESSION_BACKEND", backend)
    demo = create_app(database_url)
    with TestClient(demo):
        make_user(demo, "ann")
        make_user(demo, "bob")
        laptop, phone, bob = browser(demo, "ann"), browser(demo, "ann"), browser(demo, "bob")
        stolen = dict(phone.cookies.items())
        page = laptop.get("/").text
        assert "Log out everywhere" in page
        # A POST form with the session's CSRF token; without it, refused.
        assert laptop.post("/auth/logout/all").status_code == 403
        assert phone.get("/").status_code == 200
        response = laptop.post("/auth/logout/all", data={"csrf_token": logout_all_form(page)})
        assert response.status_code == 303
        assert response.headers["cache-control"] == NEVER_CACHE
        assert_anonymous(laptop)
        assert_anonymous(phone)
        assert_anonymous(replay(demo, stolen))  # even a signed cookie's copy
        assert bob.get("/").status_code == 200  # another user is not touched
        # Logging in again works, and only the new session is in.
        assert login(phone, "ann").status_code == 303
        assert phone.get("/").status_code == 200
        assert_anonymous(replay(demo, stolen))


def test_log_out_everywhere_keeps_api_tokens(app: Any) -> None:
    """Tokens are not sessions: they are revoked on the page, one by one (documented)."""
    with app.extensions["db"].session() as db:
        user = db.execute(text("SELECT id FROM auth_user WHERE username = 'ann'")).scalar()
        from oakling.auth import User

        _, raw = create_token_sync(db, db.get(User, user), name="script", scopes=["tasks:read"])
        db.commit()
    ann = browser(app, "ann")
    csrf = logout_all_form(ann.get("/").text)
    assert ann.post("/auth/logout/all", data={"csrf_token": csrf}).status_code == 303
    assert_anonymous(ann)
    api = TestClient(app, headers={"authorization": f"Bearer {raw}"})
    assert api.get("/api/tasks").status_code == 200


def test_the_login_page_is_never_cached(app: Any) -> None:
    client = TestClient(app, follow_redirects=False)
    for path in ("/auth/login", "/auth/signup", "/auth/password/reset"):
        assert client.get(path).headers["cache-control"] == NEVER_CACHE, path
    ann = browser(app, "ann")
    assert ann.get("/auth/password/change").headers["cache-control"] == NEVER_CACHE
