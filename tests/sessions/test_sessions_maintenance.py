"""``oakling clearsessions``, browser-session cookies, and database expiry times."""

from __future__ import annotations

import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from session_support import (
    DATABASE_BACKENDS,
    DATABASE_URLS,
    REDIS_URL,
    SECRET,
    AppFactory,
    _database_problem,
    create_session_table,
)

from oakling.sessions.cli import clearsessions
from oakling.testing import TestClient
from tests.conftest import skip_or_fail


def _set_cookie(response: Any) -> str:
    values = response.headers.get_list("set-cookie")
    assert len(values) == 1, values
    return str(values[0])


def _attributes(header: str) -> dict[str, str]:
    """Return a Set-Cookie header's attributes, names lowercased."""
    found: dict[str, str] = {}
    for part in header.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        found[name.lower()] = value
    return found


# -- oakling clearsessions ------------------------------------------------------

APP_SOURCE = """
from oakling import App
from oakling.config import Settings
{imports}

app = App(settings=Settings(SECRET_KEY={secret!r}), plugins=[{plugins}])
"""

SESSION_PLUGINS = {
    "database": (
        "from oakling.db import Database\n"
        "from oakling.sessions import Sessions\n"
        "from oakling.sessions.database import DatabaseBackend",
        "Database({url!r}), Sessions(DatabaseBackend())",
    ),
    "cookie": ("from oakling.sessions import Sessions", "Sessions()"),
    "redis": (
        "from oakling.sessions import RedisBackend, Sessions",
        f"Sessions(RedisBackend({REDIS_URL!r}))",
    ),
    "none": ("", ""),
    "custom": (
        "from oakling.sessions import Sessions\n"
        "class Custom:\n"
        "    async def load(self, cookie, max_age): return None\n"
        "    async def save(self, key, data, max_age): return key\n"
        "    async def delete(self, key): pass\n"
        "    async def clear_expired(self): return 3",
        "Sessions(Custom())",
    ),
}


class Project:
    """An app module written to a temporary folder, as ``oakling`` would find it."""

    def __init__(self, root: Path, kind: str, url: str = "") -> None:
        self.module = f"sessionscli_{uuid.uuid4().hex[:8]}"
        imports, plugins = SESSION_PLUGINS[kind]
        source = APP_SOURCE.format(imports=imports, plugins=plugins.format(url=url), secret=SECRET)
        (root / f"{self.module}.py").write_text(source)

    @property
    def app(self) -> Any:
        __import__(self.module)
        return sys.modules[self.module].app

    def run(self) -> Any:
        return CliRunner().invoke(clearsessions, ["--app", f"{self.module}:app"])


@pytest.fixture
def project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("sessionscli_"):
            app = sys.modules.pop(name).app
            database = app.extensions.get("db")
            if database is not None:
                database.sync_engine().dispose()


def _database_url(kind: str, root: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{root / 'clear.db'}"
    url = DATABASE_URLS[kind]
    problem = _database_problem(url)
    if problem:
        skip_or_fail(problem)
    return url


@pytest.mark.parametrize("kind", DATABASE_BACKENDS)
def test_clearsessions_deletes_expired_rows_and_keeps_live_ones(
    project_root: Path, kind: str
) -> None:
    from sqlalchemy import delete, insert, select

    from oakling.sessions.database import SessionRecord

    project = Project(project_root, "database", _database_url(kind, project_root))
    engine = project.app.extensions["db"].sync_engine()
    create_session_table(engine)
    now = datetime.now(UTC)
    tag = secrets.token_urlsafe(12)
    rows = {
        f"expired-{tag}": now - timedelta(hours=1),
        f"just-expired-{tag}": now - timedelta(seconds=1),
        f"live-{tag}": now + timedelta(hours=1),
        f"soon-{tag}": now + timedelta(seconds=30),
    }
    with engine.begin() as connection:
        connection.execute(
            insert(SessionRecord),
            [{"session_key": key, "data": "{}", "expires_at": at} for key, at in rows.items()],
        )
    try:
        result = project.run()
        assert result.exit_code == 0, result.output
        with engine.connect() as connection:
            left = set(
                connection.execute(
                    select(SessionRecord.session_key).where(
                        SessionRecord.session_key.in_(list(rows))
                    )
                ).scalars()
            )
        assert left == {f"live-{tag}", f"soon-{tag}"}
        if kind == "sqlite":  # NOTE: the server databases' table is shared by test runs
            assert result.output == "Deleted 2 expired sessions.\n"
            assert project.run().output == "Deleted 0 expired sessions.\n"
        else:
            assert result.output.startswith("Deleted ")
    finally:
        with engine.begin() as connection:
            connection.execute(
                delete(SessionRecord).where(SessionRecord.session_key.in_(list(rows)))
            )


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("cookie", "Nothing to clear: cookie sessions live in the browser"),
        ("redis", "Nothing to clear: Redis deletes session keys itself"),
    ],
)
def test_clearsessions_has_nothing_to_clear_for_self_expiring_backends(
    project_root: Path, kind: str, message: str
) -> None:
    result = Project(project_root, kind).run()
    assert (result.exit_code, result.output.startswith(message)) == (0, True), result.output


def test_clearsessions_runs_a_custom_backends_async_clear_expired(project_root: Path) -> None:
    result = Project(project_root, "custom").run()
    assert (result.exit_code, result.output) == (0, "Deleted 3 expired sessions.\n")


def test_clearsessions_without_the_table_is_a_clear_error(project_root: Path) -> None:
    project = Project(project_root, "database", f"sqlite:///{project_root / 'empty.db'}")
    result = project.run()
    assert result.exit_code == 1
    assert "does the oakling_session table exist?" in result.output
    assert "Traceback" not in result.output


def test_clearsessions_without_sessions_is_a_clear_error(project_root: Path) -> None:
    result = Project(project_root, "none").run()
    assert result.exit_code == 1
    assert "the app has no sessions" in result.output


# -- SESSION_EXPIRE_AT_BROWSER_CLOSE --------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"expire_at_browser_close": True},
        {"extra": {"SESSION_EXPIRE_AT_BROWSER_CLOSE": "1"}},
    ],
    ids=["argument", "setting"],
)
def test_expire_at_browser_close_sends_a_browser_session_cookie(
    make_app: AppFactory, config: dict[str, Any]
) -> None:
    app = make_app(max_age=600, **config)
    assert app.extensions["sessions"].expire_at_browser_close is True
    with TestClient(app) as client:
        header = _set_cookie(client.post("/write", json={"user": "ann"}))
        attributes = _attributes(header)
        assert "max-age" not in attributes and "expires" not in attributes, header
        assert {"httponly", "path", "samesite"} <= set(attributes)
        assert client.get("/read").json() == {"user": "ann"}
        # Logging out must still delete the cookie at once.
        deleted = _attributes(_set_cookie(client.post("/flush")))
        assert deleted["max-age"] == "0"
        assert parsedate_to_datetime(deleted["expires"]) <= datetime.now(UTC)


def test_persistent_cookie_by_default_and_when_the_argument_overrides_the_setting(
    make_app: AppFactory,
) -> None:
    for app in (
        make_app(max_age=600),
        make_app(max_age=600, extra={"SESSION_EXPIRE_AT_BROWSER_CLOSE": "0"}),
        make_app(
            max_age=600,
            expire_at_browser_close=False,
            extra={"SESSION_EXPIRE_AT_BROWSER_CLOSE": "1"},
        ),
    ):
        assert app.extensions["sessions"].expire_at_browser_close is False
        with TestClient(app) as client:
            before = datetime.now(UTC).replace(microsecond=0)
            attributes = _attributes(_set_cookie(client.post("/write", json={"a": 1})))
            after = datetime.now(UTC)
        assert attributes["max-age"] == "600"
        expires = parsedate_to_datetime(attributes["expires"])
        assert before + timedelta(seconds=600) <= expires <= after + timedelta(seconds=600)


def _signed_at(payload: Any, seconds_ago: int) -> str:
    class PastSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - seconds_ago

    return URLSafeTimedSerializer(SECRET, salt="oakling.sessions", signer=PastSigner).dumps(payload)


def test_browser_session_cookie_still_expires_on_the_server(
    make_app: AppFactory, backend_kind: str
) -> None:
    # SECURITY: browsers that restore tabs keep "session" cookies for days;
    # the server's age limit must not depend on the browser closing.
    app = make_app(max_age=60, expire_at_browser_close=True)
    with TestClient(app) as client:
        client.post("/write", json={"user": "ann"})
        key = client.get("/key").json()["key"]
    if backend_kind == "cookie":
        payload = {"s": key, "d": {"user": "ann"}}
        with TestClient(app, cookies={"session": _signed_at(payload, 30)}) as kept:
            assert kept.get("/read").json() == {"user": "ann"}  # within the age
        with TestClient(app, cookies={"session": _signed_at(payload, 61)}) as stale:
            assert stale.get("/read").json() == {}
        return
    left = _server_side_seconds_left(app, key)
    assert 55 < left <= 60, left


def _server_side_seconds_left(app: Any, key: str) -> float:
    backend = app.extensions["sessions"].backend
    if hasattr(backend, "prefix"):
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            return float(client.pttl(backend.prefix + key)) / 1000
        finally:
            client.close()
    expires_at = _stored_expiry(app, key)
    return (expires_at - datetime.now(UTC)).total_seconds()


def _stored_expiry(app: Any, key: str) -> datetime:
    """Return the row's ``expires_at`` as stored, as an aware UTC datetime."""
    from sqlalchemy import select

    from oakling.sessions.database import SessionRecord

    with app.extensions["db"].sync_engine().connect() as connection:
        value = connection.execute(
            select(SessionRecord.expires_at).where(SessionRecord.session_key == key)
        ).scalar_one()
    # NOTE: SQLite and MariaDB have no time zones: the value is UTC wall-clock time.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@pytest.mark.parametrize("backend_kind", DATABASE_BACKENDS, indirect=True)
def test_database_expiry_is_utc_to_the_microsecond(make_app: AppFactory, backend_kind: str) -> None:
    app = make_app(max_age=3600)
    with TestClient(app) as client:
        before = datetime.now(UTC)
        client.post("/write", json={"user": "ann"})
        after = datetime.now(UTC)
        key = client.get("/key").json()["key"]
    expires_at = _stored_expiry(app, key)
    # A whole-second column would store up to a second early; local time, hours off.
    age = timedelta(seconds=3600)
    assert before + age <= expires_at <= after + age, (before, expires_at, after)
