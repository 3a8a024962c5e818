"""Sessions configuration, laziness, the Session object and the database helper."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from session_support import SECRET, routes

from oakling import App
from oakling.config import Settings
from oakling.exceptions import ImproperlyConfigured
from oakling.sessions import (
    RedisBackend,
    Session,
    SessionBackend,
    Sessions,
    SignedCookieBackend,
)
from oakling.testing import TestClient


def _app(*plugins: Any, **extra: Any) -> App:
    return App(settings=Settings(SECRET_KEY=SECRET, extra=extra), plugins=list(plugins))


class CountingBackend:
    """A real in-memory server-side store counting its round trips."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []

    async def load(self, cookie: str, max_age: int) -> tuple[str, dict[str, Any]] | None:
        self.calls.append("load")
        data = self.rows.get(cookie)
        return None if data is None else (cookie, dict(data))

    async def save(self, key: str, data: dict[str, Any], max_age: int) -> str:
        self.calls.append("save")
        self.rows[key] = dict(data)
        return key

    async def delete(self, key: str) -> None:
        self.calls.append("delete")
        self.rows.pop(key, None)


def test_requests_that_never_touch_the_session_cost_no_round_trip() -> None:
    backend = CountingBackend()
    app = routes(_app(Sessions(backend)), lambda func: func)
    with TestClient(app) as client:
        client.get("/plain")
        assert backend.calls == []  # no cookie: nothing to load, nothing to save
        client.post("/write", json={"a": 1})
        assert backend.calls == ["save"]
        client.get("/read")
        assert backend.calls == ["save", "load"]  # read only: no save


def test_cookie_backend_verifies_only_on_first_access(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[str] = []
    original = SignedCookieBackend.decode

    def counting(self: SignedCookieBackend, cookie: str, max_age: int) -> Any:
        decoded.append(cookie)
        return original(self, cookie, max_age)

    monkeypatch.setattr(SignedCookieBackend, "decode", counting)
    app = routes(_app(Sessions()), lambda func: func)
    with TestClient(app) as client:
        client.post("/write", json={"a": 1})
        decoded.clear()
        client.get("/plain")
        assert decoded == []
        assert client.get("/read").json() == {"a": 1}
        assert len(decoded) == 1


def test_settings_choose_the_backend_and_cookie() -> None:
    sessions = Sessions()
    _app(sessions, SESSION_BACKEND="redis", SESSION_REDIS_URL="redis://example:6380/2")
    assert isinstance(sessions.backend, RedisBackend)
    assert sessions.backend.url == "redis://example:6380/2"
    fallback = Sessions(backend="redis")
    _app(fallback, REDIS_URL="redis://other:6379/1")
    assert isinstance(fallback.backend, RedisBackend)
    assert fallback.backend.url == "redis://other:6379/1"
    default = Sessions()
    app = _app(default)
    assert app.extensions["sessions"] is default
    assert isinstance(default.backend, SignedCookieBackend)
    assert isinstance(default.backend, SessionBackend)
    assert (default.cookie_name, default.max_age, default.samesite) == ("session", 1209600, "lax")
    named = Sessions(cookie_name="sid")
    _app(named, SESSION_COOKIE_NAME="ignored")
    assert named.cookie_name == "sid"


@pytest.mark.parametrize(
    ("plugins", "extra", "message"),
    [
        (lambda: [Sessions(backend="database")], {}, "Database()"),
        (lambda: [Sessions()], {"SESSION_BACKEND": "memcached"}, "cookie, redis or database"),
        (lambda: [Sessions(samesite="none")], {}, "SESSION_COOKIE_SECURE"),
        (lambda: [Sessions()], {"SESSION_COOKIE_SAMESITE": "loose"}, "lax, strict"),
        (lambda: [Sessions()], {"SESSION_COOKIE_AGE": "0"}, "positive"),
        (lambda: [Sessions(cookie_name="a;b")], {}, "not a valid cookie name"),
        (lambda: [Sessions(backend=object())], {}, "not a session backend"),  # type: ignore[arg-type]
        (lambda: [Sessions(), Sessions()], {}, "already has Sessions"),
    ],
)
def test_bad_configuration_is_refused_at_install(
    plugins: Any, extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        _app(*plugins(), **extra)


def test_missing_secret_key_is_a_clear_error() -> None:
    app = routes(App(settings=Settings(), plugins=[Sessions()]), lambda func: func)
    # NOTE: no lifespan: the core's startup check would refuse first.
    client = TestClient(app)
    try:
        with pytest.raises(ImproperlyConfigured, match="cookie sessions need SECRET_KEY"):
            client.post("/write", json={"a": 1})
    finally:
        client.close()


def test_session_object_rules() -> None:
    session = Session(SignedCookieBackend(SECRET), None, 60)
    assert not session.accessed and not session.modified
    assert len(session) == 0 and session.accessed and not session.modified
    with pytest.raises(TypeError, match=r"session\['obj'\] is not JSON-serialisable"):
        session["obj"] = object()
    with pytest.raises(TypeError, match="keys must be strings"):
        session[1] = "x"  # type: ignore[index]
    with pytest.raises(TypeError, match=r"session\['f'\].*float"):
        session["f"] = float("nan")
    assert not session.modified and dict(session) == {}
    session["n"] = 1
    assert session.modified and session.session_key is None
    value = asyncio.run(session.commit())
    assert value is not None and session.session_key is not None
    again = Session(SignedCookieBackend(SECRET), value, 60)
    assert dict(again) == {"n": 1} and again.session_key == session.session_key
    unloaded = Session(CountingBackend(), "some-id", 60)
    with pytest.raises(RuntimeError, match="await request.session.load"):
        unloaded["n"]


def test_database_clear_expired(tmp_path: Path) -> None:
    from sqlalchemy import func, select

    from oakling.db import Database
    from oakling.sessions.database import DatabaseBackend, SessionRecord

    database = Database(f"sqlite:///{tmp_path / 'clear.db'}")
    backend = DatabaseBackend()
    _app(database, Sessions(backend))
    SessionRecord.__table__.create(database.sync_engine())
    now = datetime.now(UTC)
    with database.session() as session, session.begin():
        session.add_all(
            [
                SessionRecord(session_key="old", data="{}", expires_at=now - timedelta(hours=1)),
                SessionRecord(session_key="new", data="{}", expires_at=now + timedelta(hours=1)),
            ]
        )

    async def clear() -> tuple[int, Any, Any]:
        try:
            removed = await backend.clear_expired()
            return removed, await backend.load("old", 60), await backend.load("new", 60)
        finally:
            await database.dispose()

    removed, old, new = asyncio.run(clear())
    assert (removed, old, new) == (1, None, ("new", {}))
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(SessionRecord)) == 1
    database.sync_engine().dispose()
