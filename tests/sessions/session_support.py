"""Helpers for the sessions tests: services, routes, direct reads of the stores.

``backend_kind`` runs a test on the signed cookie, Redis (127.0.0.1:6379)
and the database backend on SQLite, PostgreSQL (127.0.0.1:5432, db
``test``) and MariaDB (127.0.0.1:3306, db ``test``). Redis keys get a
prefix unique to the test and are deleted afterwards; the
``oakling_session`` table is shared (ids are random).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from oakling import App, Request
from oakling.responses import JSONResponse
from oakling.sessions import RedisBackend
from tests.conftest import database_problem, redis_problem

SECRET = "s" * 20 + "ecret-key-for-the-session-tests-0123456789"
REDIS_URL = os.environ.get("OAKLING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_URL = os.environ.get("OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("OAKLING_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
DATABASE_URLS = {"postgresql": PG_URL, "mariadb": MARIADB_URL}
BACKENDS = ["cookie", "redis", "sqlite", "postgresql", "mariadb"]
SERVER_BACKENDS = ["redis", "sqlite", "postgresql", "mariadb"]
DATABASE_BACKENDS = ["sqlite", "postgresql", "mariadb"]

AppFactory = Callable[..., App]


def _redis_problem() -> str | None:
    return redis_problem(REDIS_URL)


_database_problem = database_problem


def create_session_table(engine: Any) -> None:
    """Create the ``oakling_session`` table on ``engine`` unless it is there.

    The table is shared by test runs on PostgreSQL and MariaDB; one left by
    an older version of the model (MariaDB: a case-insensitive id column,
    whole-second expiry) is dropped and made again.
    """
    from sqlalchemy import text

    from oakling.sessions.database import SessionRecord

    table: Any = SessionRecord.__table__
    try:
        table.create(engine, checkfirst=True)
    except Exception:  # noqa: BLE001 - another test run created it meanwhile
        pass
    if engine.dialect.name != "mysql":
        return
    with engine.connect() as connection:
        columns = dict(
            connection.execute(
                text(
                    "SELECT column_name, CONCAT_WS(':', collation_name, datetime_precision) "
                    "FROM information_schema.columns WHERE table_schema = DATABASE() "
                    "AND table_name = 'oakling_session'"
                )
            ).all()
        )
    if columns.get("session_key") != "ascii_bin" or columns.get("expires_at") != "6":
        table.drop(engine)
        table.create(engine)


def routes(app: App, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> App:
    """Add the test routes, each through ``wrap`` (sync as written, or async)."""

    def read(request: Request) -> dict[str, Any]:
        return dict(request.session)

    def write(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        request.session.update(body)
        return dict(request.session)

    def cycle(request: Request) -> dict[str, Any]:
        request.session.cycle_key()
        return {"key": request.session.session_key, "data": dict(request.session)}

    def flush(request: Request) -> dict[str, Any]:
        request.session.flush()
        return dict(request.session)

    def key(request: Request) -> dict[str, Any]:
        return {"key": request.session.session_key}

    def plain() -> str:
        return "untouched"

    def vary(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.session), headers={"Vary": "Accept-Encoding"})

    app.get("/read")(wrap(read))
    app.post("/write")(wrap(write))
    app.post("/cycle")(wrap(cycle))
    app.post("/flush")(wrap(flush))
    app.get("/key")(wrap(key))
    app.get("/plain")(wrap(plain))
    app.get("/vary")(wrap(vary))
    return app


def _delete_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def stored(app: App, key: str) -> dict[str, Any] | None:
    """Return what the app's server-side store holds for ``key``, read directly."""
    import json

    backend = app.extensions["sessions"].backend
    if isinstance(backend, RedisBackend):
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            raw = client.get(backend.prefix + key)
        finally:
            client.close()
    else:
        from sqlalchemy import text

        with app.extensions["db"].sync_engine().connect() as connection:
            raw = connection.execute(
                text("SELECT data FROM oakling_session WHERE session_key = :key"), {"key": key}
            ).scalar()
    return None if raw is None else dict(json.loads(raw))


def set_expiry(app: App, key: str, expires_at: datetime) -> None:
    """Set the ``expires_at`` of the database row ``key``, through the model's types."""
    from sqlalchemy import update

    from oakling.sessions.database import SessionRecord

    with app.extensions["db"].sync_engine().begin() as connection:
        connection.execute(
            update(SessionRecord)
            .where(SessionRecord.session_key == key)
            .values(expires_at=expires_at)
        )
