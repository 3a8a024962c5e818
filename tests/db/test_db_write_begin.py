"""Read-only requests pay no BEGIN/COMMIT; a request that writes is still atomic.

On PostgreSQL a request's transaction begins at its first write (the
driver's autocommit mode until then, ``Database(write_begin=...)``). These
tests watch the wire (every message the driver sends, through a recording
proxy) and attack the atomicity that docs/db.md promises: once a request
writes, all its statements commit or roll back together, on every backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from db_support import (
    PG_URL,
    add_route,
    backend_url,
    count,
    create_tables,
    define_models,
    drop_tables,
    make_app,
)
from sqlalchemy import create_engine, make_url, select, text
from sqlalchemy.exc import OperationalError

from bench.pgwire import WireLog
from oakling.db import Database
from oakling.requests import Request
from oakling.responses import JSONResponse
from oakling.testing import TestClient

WIRE_PORT = 7311  # NOTE: this engineer's private range (7300-7399)


# -- atomicity, on every backend --------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_read_then_write_then_error_stores_nothing(
    database: Database, models: SimpleNamespace, flavor: str, method: str
) -> None:
    author = models.Author

    def logic(session: Any, request: Request) -> Any:
        assert session.scalar(select(author.id).limit(1)) is None  # a read first
        session.add(author(name="written"))
        session.flush()  # the INSERT ran
        raise RuntimeError("after the write")

    app = make_app(database)
    add_route(app, flavor, method, "/write", logic)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.request(method, "/write").status_code == 500
    assert count(database, author) == 0


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_two_writes_and_a_failing_third_store_nothing(
    database: Database, models: SimpleNamespace, flavor: str, method: str
) -> None:
    author = models.Author

    def logic(session: Any, request: Request) -> Any:
        session.scalars(select(author)).all()
        session.add(author(name="one"))
        session.flush()
        session.add(author(name="two"))
        session.flush()
        session.add(author(name="one"))  # unique name: the third INSERT fails
        session.flush()
        return {"unreachable": True}

    app = make_app(database)
    add_route(app, flavor, method, "/three", logic)
    with TestClient(app) as client:
        answer = client.request(method, "/three")
    assert answer.status_code == 409
    assert count(database, author) == 0


def test_a_text_write_is_inside_the_transaction(
    database: Database, models: SimpleNamespace, flavor: str
) -> None:
    author = models.Author
    table = author.__tablename__

    def logic(session: Any, request: Request) -> Any:
        session.execute(text(f"INSERT INTO {table} (id, name) VALUES (1, 'raw')"))
        return JSONResponse({"detail": "upstream failed"}, 502)  # 5xx: rolled back

    app = make_app(database)
    add_route(app, flavor, "GET", "/raw", logic)
    with TestClient(app) as client:
        assert client.get("/raw").status_code == 502
    assert count(database, author) == 0


def test_a_read_only_request_leaves_no_autocommit_behind(
    backend: str, tmp_path: Any, flavor: str
) -> None:
    """The next session on the same pooled connection has a real transaction."""
    database = Database(
        backend_url(backend, tmp_path), engine_options={"pool_size": 1, "max_overflow": 0}
    )
    found = define_models()
    create_tables(database, found)
    author = found.Author
    try:

        def read(session: Any, request: Request) -> Any:
            return {"rows": len(session.scalars(select(author)).all())}

        def write_then_undo(session: Any, request: Request) -> Any:
            # NOTE: through the DBAPI connection, past SQLAlchemy's events:
            # only the connection's own mode decides whether this is undone.
            dbapi_connection = session.connection().connection.dbapi_connection
            cursor = dbapi_connection.cursor()
            cursor.execute(f"INSERT INTO {author.__tablename__} (name) VALUES ('undone')")
            cursor.close()
            dbapi_connection.rollback()
            return {"ok": True}

        app = make_app(database)
        add_route(app, flavor, "GET", "/read", read)
        add_route(app, flavor, "POST", "/undo", write_then_undo, transaction=False)
        with TestClient(app) as client:
            for _ in range(3):
                assert client.get("/read").json() == {"rows": 0}
                assert client.post("/undo").status_code == 200
        assert count(database, author) == 0
    finally:
        drop_tables(database, found)
        database.sync_engine().dispose()


# -- PostgreSQL: what goes over the wire ----------------------------------------------


@pytest.fixture
def wire() -> Iterator[WireLog]:
    backend_url("postgresql", None)  # skips (or fails in CI) when PostgreSQL is down
    target = make_url(PG_URL)
    address = (target.host or "127.0.0.1", target.port or 5432)
    try:
        log = WireLog(address, port=WIRE_PORT)
    except OSError:  # NOTE: the port is taken (another run): any free one will do
        log = WireLog(address)
    with log:
        yield log


def _through(wire: WireLog) -> str:
    return make_url(PG_URL).set(host="127.0.0.1", port=wire.port).render_as_string(False)


@pytest.fixture
def pg(wire: WireLog) -> Iterator[tuple[SimpleNamespace, WireLog, str]]:
    url = _through(wire)
    found = define_models()
    setup = Database(url)
    create_tables(setup, found)
    with setup.session() as session:
        session.add(found.Author(id=1, name="Ursula"))
        session.commit()
    yield found, wire, url
    drop_tables(setup, found)
    setup.sync_engine().dispose()


def _one_connection(url: str, **options: Any) -> Database:
    return Database(url, engine_options={"pool_size": 1, "max_overflow": 0}, **options)


def _read_author(author: Any) -> Any:
    def logic(session: Any, request: Request) -> Any:
        return {"name": session.get(author, 1).name}

    return logic


def test_a_read_only_request_sends_no_begin_and_no_commit(
    pg: tuple[SimpleNamespace, WireLog, str], flavor: str
) -> None:
    found, wire, url = pg
    database = _one_connection(url)
    app = make_app(database)
    add_route(app, flavor, "GET", "/author", _read_author(found.Author))
    try:
        with TestClient(app) as client:
            assert client.get("/author").json() == {"name": "Ursula"}  # connects, warms up
            wire.clear()
            for _ in range(3):
                assert client.get("/author").json() == {"name": "Ursula"}
            assert wire.transaction_commands() == []
            assert wire.round_trips() == 3  # the SELECT of each request, nothing else
    finally:
        database.sync_engine().dispose()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_write_begins_before_the_statement_and_commits(
    pg: tuple[SimpleNamespace, WireLog, str], flavor: str, method: str
) -> None:
    found, wire, url = pg
    author = found.Author
    database = _one_connection(url)

    def logic(session: Any, request: Request) -> Any:
        session.get(author, 1)
        session.add(author(id=2, name="Terry"))
        session.flush()
        return {"ok": True}

    app = make_app(database)
    add_route(app, flavor, "GET", "/author", _read_author(author))
    add_route(app, flavor, method, "/add", logic)
    try:
        with TestClient(app) as client:
            client.get("/author")
            wire.clear()
            assert client.request(method, "/add").status_code == 200
        assert wire.transaction_commands() == ["BEGIN", "COMMIT"]
        # NOTE: the SELECT ran before the BEGIN (in autocommit), the INSERT after it.
        messages = wire.messages()
        begin = next(index for index, message in enumerate(messages) if message.kind == "Q")
        assert any(message.kind == "S" for message in messages[:begin])
        assert any(message.kind == "S" for message in messages[begin:])
        assert count(database, author) == 2
    finally:
        database.sync_engine().dispose()


def test_write_begin_false_begins_every_request(
    pg: tuple[SimpleNamespace, WireLog, str], flavor: str
) -> None:
    found, wire, url = pg
    database = _one_connection(url, write_begin=False)
    app = make_app(database)
    add_route(app, flavor, "GET", "/author", _read_author(found.Author))
    try:
        with TestClient(app) as client:
            client.get("/author")
            wire.clear()
            assert client.get("/author").json() == {"name": "Ursula"}
        assert wire.transaction_commands() == ["BEGIN", "COMMIT"]
    finally:
        database.sync_engine().dispose()


def test_another_isolation_level_keeps_the_begin(
    pg: tuple[SimpleNamespace, WireLog, str], flavor: str
) -> None:
    """At REPEATABLE READ a request's reads share a snapshot: no autocommit then."""
    found, wire, url = pg
    database = Database(
        url,
        engine_options={"pool_size": 1, "max_overflow": 0, "isolation_level": "REPEATABLE READ"},
    )
    app = make_app(database)
    add_route(app, flavor, "GET", "/author", _read_author(found.Author))
    try:
        with TestClient(app) as client:
            client.get("/author")
            wire.clear()
            assert client.get("/author").json() == {"name": "Ursula"}
        commands = wire.transaction_commands()
        assert commands[0].startswith(("BEGIN", "START")) and commands[-1] == "COMMIT"
    finally:
        database.sync_engine().dispose()


def test_select_for_update_holds_its_lock_until_the_request_ends(
    pg: tuple[SimpleNamespace, WireLog, str], flavor: str
) -> None:
    """In autocommit mode the row lock would end with the statement: it must not."""
    found, _wire, url = pg
    author = found.Author
    table = author.__tablename__
    other = create_engine(make_url(PG_URL).set(drivername="postgresql+psycopg"))
    database = _one_connection(url)

    def logic(session: Any, request: Request) -> Any:
        session.scalars(select(author).where(author.id == 1).with_for_update()).one()
        with other.connect() as connection:
            try:
                connection.execute(text(f"SELECT id FROM {table} WHERE id = 1 FOR UPDATE NOWAIT"))
            except OperationalError:
                return {"locked": True}
        return {"locked": False}

    app = make_app(database)
    add_route(app, flavor, "GET", "/lock", logic)
    try:
        with TestClient(app) as client:
            assert client.get("/lock").json() == {"locked": True}
    finally:
        other.dispose()
        database.sync_engine().dispose()


def test_a_savepoint_in_a_read_only_request_works(
    pg: tuple[SimpleNamespace, WireLog, str], flavor: str
) -> None:
    found, wire, url = pg
    author = found.Author
    database = _one_connection(url)

    def logic(session: Any, request: Request) -> Any:
        session.get(author, 1)
        with session.begin_nested():  # SAVEPOINT: needs a transaction block
            session.add(author(id=3, name="nested"))
        return {"ok": True}

    app = make_app(database)
    add_route(app, flavor, "GET", "/nested", logic)
    try:
        with TestClient(app) as client:
            assert client.get("/nested").status_code == 200
        assert count(database, author) == 2
    finally:
        database.sync_engine().dispose()
