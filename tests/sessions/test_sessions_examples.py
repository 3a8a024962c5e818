"""The sessions docs examples do what docs/sessions.md says."""

from __future__ import annotations

from oakling.sessions import RedisBackend
from oakling.sessions.database import DatabaseBackend
from oakling.testing import TestClient
from tests.conftest import Loader


def test_sessions_basics(load_example: Loader) -> None:
    app = load_example("sessions_basics").app
    with TestClient(app) as client:
        assert client.post("/cart/3").json() == {"cart": [3]}
        assert client.post("/cart/5").json() == {"cart": [3, 5]}
        assert client.get("/cart").json() == {"cart": [3, 5]}
        before = client.cookies["session"]
        wrong = client.post("/login", json={"username": "ann", "password": "nope"})
        assert wrong.status_code == 403
        ok = client.post("/login", json={"username": "ann", "password": "correct horse"})
        assert ok.json() == {"user": "ann"}
        assert client.cookies["session"] != before
        assert client.get("/cart").json() == {"cart": [3, 5]}  # kept across login
        logout = client.post("/logout")
        assert "Max-Age=0" in logout.headers["set-cookie"]
        assert client.get("/cart").json() == {"cart": []}


def test_sessions_backends(load_example: Loader) -> None:
    module = load_example("sessions_backends")
    redis_sessions = module.redis_app.extensions["sessions"]
    assert isinstance(redis_sessions.backend, RedisBackend)
    assert redis_sessions.backend.prefix == "myapp:session:"
    assert redis_sessions.cookie_name == "myapp_session"
    database_sessions = module.database_app.extensions["sessions"]
    assert isinstance(database_sessions.backend, DatabaseBackend)
    assert database_sessions.max_age == 28800
    assert database_sessions.expire_at_browser_close is True
    assert not redis_sessions.expire_at_browser_close
