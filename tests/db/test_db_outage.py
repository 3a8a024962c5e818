"""Database outages: 503 with Retry-After while down, no failed request once back."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from db_support import (
    PG_URL,
    TcpProxy,
    add_route,
    backend_url,
    count,
    create_tables,
    define_models,
    drop_tables,
    make_app,
)
from sqlalchemy import make_url, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from oakling.db import Database
from oakling.requests import Request
from oakling.testing import AsyncClient, TestClient

DOWN_URLS = {
    "postgresql": "postgresql://postgres@127.0.0.1:1/test",
    "mariadb": "mysql://root@127.0.0.1:1/test",
}


def _ping(session: Any, request: Request) -> Any:
    return {"one": session.execute(text("SELECT 1")).scalar_one()}


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "Traceback" not in response.text
    assert "Database unavailable" in response.text


@pytest.mark.parametrize("backend", ["postgresql", "mariadb", "sqlite"])
def test_unreachable_database_answers_503(backend: str, flavor: str, tmp_path: Path) -> None:
    url = DOWN_URLS.get(backend, f"sqlite:///{tmp_path / 'missing-folder' / 'x.db'}")
    app = make_app(Database(url))
    add_route(app, flavor, "GET", "/", _ping)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/")
        _assert_unavailable(response)
        assert response.json() == {"detail": "Database unavailable; try again in a few seconds"}
        page = client.get("/", headers={"accept": "text/html"})
        _assert_unavailable(page)
        assert "text/html" in page.headers["content-type"]


def test_a_bad_statement_is_still_a_500_not_a_503(tmp_path: Path, flavor: str) -> None:
    app = make_app(Database(f"sqlite:///{tmp_path / 'x.db'}"))

    def broken(session: Any, request: Request) -> Any:
        return session.execute(text("SELECT * FROM no_such_table")).all()

    add_route(app, flavor, "GET", "/", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}


def test_postgresql_restart_costs_no_request_after_it_is_back(flavor: str, tmp_path: Path) -> None:
    backend_url("postgresql", tmp_path)  # skip or fail when PostgreSQL is down
    target = make_url(PG_URL)
    proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432))
    proxy.start()
    # NOTE: set the port on the parsed URL: PG_URL may name none (the default 5432).
    database = Database(target.set(host="127.0.0.1", port=proxy.port))
    models = define_models()
    create_tables(database, models)
    author = models.Author
    app = make_app(database)

    def add(session: Any, request: Request) -> Any:
        session.add(author(name=request.query_params["name"]))
        return {"ok": True}

    def names(session: Any, request: Request) -> Any:
        return sorted(session.scalars(select(author.name)))

    add_route(app, flavor, "POST", "/", add)
    add_route(app, flavor, "GET", "/", names)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.post("/", params={"name": "before"}).status_code == 200
            assert client.get("/").json() == ["before"]  # the pool now holds a connection
            proxy.stop()
            _assert_unavailable(client.post("/", params={"name": "during"}))
            _assert_unavailable(client.get("/"))
            proxy.start()
            assert client.post("/", params={"name": "after"}).status_code == 200
            assert client.get("/").json() == ["after", "before"]
        assert count(database, author) == 2
    finally:
        if proxy._listener is None:
            proxy.start()
        drop_tables(database, models)
        database.sync_engine().dispose()
        proxy.stop()
        # NOTE: asyncpg abandons the socket of a connection the cut killed
        # (SQLAlchemy invalidated it on a loop that is gone); collect it here,
        # where it belongs, not as a ResourceWarning in whichever test runs next.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


def test_sqlite_database_is_locked_is_503() -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from oakling.db.errors import is_unavailable

    locked = OperationalError(
        "UPDATE t SET x=1", {}, sqlite3.OperationalError("database is locked")
    )
    assert is_unavailable(locked)
    syntax = OperationalError("SELEC 1", {}, sqlite3.OperationalError('near "SELEC": syntax error'))
    assert not is_unavailable(syntax)


@pytest.mark.parametrize("idle", [0.0, 3600.0])
def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(
    idle: float, flavor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oakling.db import engines

    backend_url("postgresql", tmp_path)  # skip or fail when PostgreSQL is down
    monkeypatch.setattr(engines, "PING_AFTER_IDLE", idle)
    database = Database(PG_URL)
    app = make_app(database)

    def backend_pid(session: Any, request: Request) -> Any:
        return {"pid": session.execute(text("SELECT pg_backend_pid()")).scalar_one()}

    add_route(app, flavor, "GET", "/", backend_pid)
    admin = Database(PG_URL).sync_engine()
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            first = client.get("/").json()["pid"]  # the pool keeps this connection
            with admin.connect() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            second = client.get("/")
        if idle == 0.0:
            # Idle long enough: pinged, found dead, replaced; the request never knew.
            assert second.status_code == 200 and second.json()["pid"] != first
        else:
            # Used a moment ago, so not pinged: this request meets the dead
            # connection (a 503), and the pool is renewed for the next ones.
            _assert_unavailable(second)
    finally:
        database.sync_engine().dispose()
        admin.dispose()


def test_an_exhausted_pool_is_a_503_with_retry_after_not_a_500(
    flavor: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(
        Database(
            f"sqlite:///{tmp_path / 'pool.db'}",
            engine_options={"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2},
        )
    )

    if flavor == "sync":

        def hold(request: Request, session: Session) -> Any:
            session.execute(text("SELECT 1"))
            time.sleep(1.0)  # NOTE: keeps the pool's only connection checked out
            return {"held": True}

    else:

        async def hold(request: Request, session: AsyncSession) -> Any:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(1.0)
            return {"held": True}

    app.add_route("/hold", hold, ["GET"])
    add_route(app, flavor, "GET", "/", _ping)

    async def scenario() -> tuple[Any, list[Any], Any]:
        async with AsyncClient(app) as client:
            holder = asyncio.ensure_future(client.get("/hold"))
            await asyncio.sleep(0.3)
            starved = await asyncio.gather(*(client.get("/") for _ in range(5)))
            held = await holder
            after = await client.get("/")
            return held, starved, after

    with caplog.at_level(logging.WARNING, logger="oakling.outage"):
        held, starved, after = asyncio.run(scenario())
    assert held.status_code == 200
    for response in starved:
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert "no connection was free" in response.json()["detail"]
    assert after.status_code == 200  # the pool recovers with its connection
    outage_lines = [r for r in caplog.records if r.name == "oakling.outage"]
    assert 1 <= len(outage_lines) <= 2
    assert all(r.exc_info is None for r in outage_lines)
