"""pytest support: every test in a transaction rolled back afterwards.

Django's ``TestCase`` behaviour for oakling.db, on SQLAlchemy's "joining a
Session into an external transaction" recipe: the fixture opens one
connection per database and begins a transaction on it; every session the
:class:`~oakling.db.Database` hands out meanwhile (the test's own, and those
injected into handlers) joins that connection with
``join_transaction_mode="create_savepoint"``, so a handler's commit only
releases a savepoint. At the end the outer transaction rolls back: the next
test starts from the same data.

How the app's sessions are redirected: a hook on the Database (its
``session()`` and ``async_session()`` use the test's connections while the
fixture runs), not ``app.dependency_overrides``; code calling
``db.session()`` itself is isolated too.

Usage: load the fixtures and give them your Database as ``database``::

    # conftest.py
    import pytest

    from myproject import create_app

    pytest_plugins = ["oakling.db.testing"]


    @pytest.fixture
    def app():
        return create_app()


    @pytest.fixture
    def database(app):
        app.extensions["db"].create_all()  # or run migrations once per session
        return app.extensions["db"]


    # test_tasks.py: sync handlers, sync TestClient
    from sqlalchemy import select
    from oakling.testing import TestClient
    from myproject.models import Task


    def test_create_task(app, db):
        with TestClient(app) as client:
            assert client.post("/tasks", json={"title": "Write"}).status_code == 201
        assert db.scalars(select(Task)).one().title == "Write"
        # rolled back after the test: the next test sees no task


    # async handlers: use async_db and oakling.testing.AsyncClient (the
    # app must run on the test's event loop, where the connection lives)
    @pytest.mark.anyio
    async def test_create_task_async(app, async_db):
        async with AsyncClient(app) as client:
            await client.post("/tasks", json={"title": "Write"})
        assert (await async_db.scalars(select(Task))).one().title == "Write"

The fixtures: ``db`` (a sync ``Session``) and ``async_db`` (an
``AsyncSession``). :func:`isolated_session` and
:func:`isolated_async_session` are the same as context managers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import Connection, Transaction
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, AsyncTransaction
from sqlalchemy.orm import Session

from .plugin import Database

__all__ = ["async_db", "db", "isolated_async_session", "isolated_session"]


@contextlib.contextmanager
def isolated_session(database: Database) -> Iterator[Session]:
    """Run the block in transactions (one per database) rolled back at its end.

    Yields:
        A session on those transactions; every ``database.session()`` made
        meanwhile, in handlers too, joins them.

    Raises:
        RuntimeError: If another isolated session is already active.
    """
    if database._test_sync is not None:
        raise RuntimeError("an isolated session is already active on this Database")
    connections: dict[str | None, Connection] = {}
    transactions: list[Transaction] = []
    try:
        for key in [None, *database.bind_keys]:
            connection = connections[key] = database.sync_engine(key).connect()
            transactions.append(connection.begin())
        database._test_sync = connections
        with database.session() as session:
            yield session
    finally:
        database._test_sync = None
        for transaction in transactions:
            transaction.rollback()
        for connection in connections.values():
            connection.close()


@contextlib.asynccontextmanager
async def isolated_async_session(database: Database) -> AsyncIterator[AsyncSession]:
    """Run the block in transactions rolled back at its end (async sessions).

    Use it (and the app) on one event loop: the connections belong to it.

    Yields:
        An AsyncSession on those transactions; every
        ``database.async_session()`` made meanwhile joins them.

    Raises:
        RuntimeError: If another isolated async session is already active.
    """
    if database._test_async is not None:
        raise RuntimeError("an isolated async session is already active on this Database")
    connections: dict[str | None, AsyncConnection] = {}
    transactions: list[AsyncTransaction] = []
    try:
        for key in [None, *database.bind_keys]:
            connection = connections[key] = await database.async_engine(key).connect()
            transactions.append(await connection.begin())
        database._test_async = connections
        async with database.async_session() as session:
            yield session
    finally:
        database._test_async = None
        for transaction in transactions:
            await transaction.rollback()
        for connection in connections.values():
            await connection.close()
        # NOTE: the pools belong to this test's event loop; the next test
        # runs on another one.
        for key in connections:
            await database.async_engine(key).dispose()


@pytest.fixture
def db(database: Database) -> Iterator[Session]:
    """Yield a sync session; the test's writes (and its requests') roll back after it."""
    with isolated_session(database) as session:
        yield session


@pytest.fixture
async def async_db(database: Database) -> AsyncIterator[AsyncSession]:
    """Yield an AsyncSession; the test's writes roll back after it (use with anyio)."""
    async with isolated_async_session(database) as session:
        yield session
