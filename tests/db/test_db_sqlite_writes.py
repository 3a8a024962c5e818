"""Concurrent writers on the embedded default, SQLite: they wait, none is refused.

A request that reads a row and then writes it runs a read-then-write
transaction. Begun deferred (plain ``BEGIN``), SQLite refuses its upgrade to
a write at once ("database is locked", a 503) when another connection wrote
meanwhile: the busy timeout does not apply. oakling.db begins the
transactions of unsafe-method requests with ``BEGIN IMMEDIATE``, so writers
queue on the write lock instead; the counter below must end at exactly the
number of increments (no refused and no lost update).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from db_support import add_route, create_tables, define_models, drop_tables, make_app
from sqlalchemy import select

from oakling.db import Database
from oakling.requests import Request
from oakling.testing import AsyncClient

WRITERS = 32
WRITES = 5


def test_32_concurrent_writers_all_succeed(flavor: str, tmp_path: Path) -> None:
    path = tmp_path / "writers.db"
    database = Database(f"sqlite:///{path}")  # the default engine: no engine_options
    models = define_models()
    create_tables(database, models)
    author = models.Author
    app = make_app(database)

    def increment(session: Any, request: Request) -> Any:
        # Read, then write: the transaction SQLite refuses to upgrade when begun deferred.
        row = session.get(author, 1)
        row.name = str(int(row.name) + 1)
        return {"value": row.name}

    def read(session: Any, request: Request) -> Any:
        return {"value": session.scalar(select(author.name).where(author.id == 1))}

    add_route(app, flavor, "PATCH", "/counter", increment)
    add_route(app, flavor, "GET", "/counter", read)

    async def writer(client: AsyncClient) -> list[int]:
        return [(await client.patch("/counter")).status_code for _ in range(WRITES)]

    async def scenario() -> tuple[list[list[int]], Any]:
        async with AsyncClient(app) as client:
            results = await asyncio.gather(*(writer(client) for _ in range(WRITERS)))
            return results, (await client.get("/counter")).json()

    with database.session() as session:
        session.add(author(id=1, name="0"))
        session.commit()
    try:
        results, final = asyncio.run(scenario())
    finally:
        drop_tables(database, models)
        database.sync_engine().dispose()
    statuses = [status for result in results for status in result]
    assert statuses.count(200) == WRITERS * WRITES, sorted(set(statuses))
    assert final == {"value": str(WRITERS * WRITES)}  # every acknowledged increment kept


def test_a_get_reads_while_another_connection_holds_the_write_lock(
    flavor: str, tmp_path: Path
) -> None:
    """Safe-method requests begin deferred: in WAL mode a writer never blocks them."""
    path = tmp_path / "reads.db"
    database = Database(f"sqlite:///{path}")
    models = define_models()
    create_tables(database, models)
    author = models.Author
    app = make_app(database)

    def names(session: Any, request: Request) -> Any:
        return sorted(session.scalars(select(author.name)))

    add_route(app, flavor, "GET", "/", names)
    with database.session() as session:
        session.add(author(name="committed"))
        session.commit()

    async def scenario() -> Any:
        async with AsyncClient(app) as client:
            return await client.get("/")

    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(f"INSERT INTO {author.__tablename__} (name) VALUES ('pending')")
        # NOTE: begun IMMEDIATE, the GET would wait out the 5 s busy timeout and answer 503.
        response = asyncio.run(scenario())
        writer.execute("ROLLBACK")
    finally:
        writer.close()
        drop_tables(database, models)
        database.sync_engine().dispose()
    assert response.status_code == 200, response.text
    assert response.json() == ["committed"]


def test_sessions_that_write_begin_immediate_and_reads_deferred(tmp_path: Path) -> None:
    """What each kind of SQLite transaction begins with, seen in the SQL sent."""
    from sqlalchemy import event, text

    database = Database(f"sqlite:///{tmp_path / 'begin.db'}")
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("BEGIN"):
            sent.append(statement)

    engine = database.sync_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        with database.session() as session:  # scripts and tasks: may write
            session.execute(text("SELECT 1"))
        with database._session(False, {}) as session:  # a GET request's session
            session.execute(text("SELECT 1"))
        with database.session(readonly=True) as session:  # a battery's lookup
            session.execute(text("SELECT 1"))
        with engine.connect() as connection:  # plain engine use: SQLAlchemy's default
            connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert sent == ["BEGIN IMMEDIATE", "BEGIN", "BEGIN", "BEGIN"]


def _open_fresh(path: str, barrier: Any) -> str:
    """Open ``path`` with oakling's engine at the same moment as the others."""
    database = Database(f"sqlite:///{path}")
    engine = database.sync_engine()
    barrier.wait(timeout=60)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return "ok"
    except Exception as ex:  # noqa: BLE001 - the parent reports it
        return f"{type(ex).__name__}: {ex}".splitlines()[0]
    finally:
        engine.dispose()


def test_workers_opening_a_fresh_file_together_all_get_wal(tmp_path: Path) -> None:
    """Switching a new file to WAL is refused at once while another process opens it.

    The first connection of each of N workers starting together races for
    the switch; without a retry about 1 in 15 got "database is locked".
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    failures: list[str] = []
    with manager, ProcessPoolExecutor(4, mp_context=context) as pool:
        for attempt in range(25):
            barrier = manager.Barrier(4)
            path = str(tmp_path / f"fresh{attempt}.db")
            outcomes = list(pool.map(_open_fresh, [path] * 4, [barrier] * 4))
            failures += [outcome for outcome in outcomes if outcome != "ok"]
            check = sqlite3.connect(path)
            try:
                assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            finally:
                check.close()
    assert failures == []
