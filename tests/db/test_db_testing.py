"""The user-facing fixtures: each test's writes, its requests' too, roll back after it.

Tests run in pairs, in file order: the first writes through the app (and
sees its row), the second must find the table empty again. On SQLite and
PostgreSQL, with sync handlers (``db`` + TestClient) and async handlers
(``async_db`` + AsyncClient).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from db_support import backend_url, count, create_tables, define_models, drop_tables, make_app
from sqlalchemy import func, select

from oakling.db import AsyncSession, Database, Session
from oakling.db import testing as db_testing
from oakling.responses import JSONResponse
from oakling.testing import AsyncClient, TestClient

# The fixtures users get from oakling.db.testing (pytest_plugins = ["oakling.db.testing"]).
db = db_testing.db
async_db = db_testing.async_db


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SimpleNamespace]:
    """One Database and one pair of tables for the whole module (per backend)."""
    database = Database(backend_url(str(request.param), tmp_path_factory.mktemp("fixtures")))
    models = define_models()
    create_tables(database, models)
    yield SimpleNamespace(database=database, models=models)
    drop_tables(database, models)
    database.sync_engine().dispose()


@pytest.fixture
def database(shared: SimpleNamespace) -> Database:
    return shared.database  # type: ignore[no-any-return]


def _sync_app(shared: SimpleNamespace) -> Any:
    app = make_app(shared.database)
    author = shared.models.Author

    @app.post("/authors")
    def create(name: str, session: Session) -> Any:
        session.add(author(name=name))
        session.flush()
        return JSONResponse({"ok": True}, 500 if name == "fail" else 201)

    return app


def _async_app(shared: SimpleNamespace) -> Any:
    app = make_app(shared.database)
    author = shared.models.Author

    @app.post("/authors")
    async def create(name: str, session: AsyncSession) -> Any:
        session.add(author(name=name))
        await session.flush()
        return JSONResponse({"ok": True}, 500 if name == "fail" else 201)

    return app


def test_sync_first_test_writes(shared: SimpleNamespace, db: Session) -> None:
    author = shared.models.Author
    db.add(author(name="from the test"))
    db.flush()
    with TestClient(_sync_app(shared)) as client:
        assert client.post("/authors", params={"name": "from a request"}).status_code == 201
        assert client.post("/authors", params={"name": "fail"}).status_code == 500
    names = set(db.scalars(select(author.name)))
    assert names == {"from the test", "from a request"}  # the 5xx request rolled back alone
    assert count(shared.database, author) == 0  # nothing committed for real


def test_sync_next_test_sees_nothing(shared: SimpleNamespace, db: Session) -> None:
    assert db.scalar(select(func.count()).select_from(shared.models.Author)) == 0
    assert count(shared.database, shared.models.Author) == 0


@pytest.mark.anyio
async def test_async_first_test_writes(shared: SimpleNamespace, async_db: AsyncSession) -> None:
    author = shared.models.Author
    async_db.add(author(name="from the test"))
    await async_db.flush()
    async with AsyncClient(_async_app(shared)) as client:
        assert (await client.post("/authors", params={"name": "req"})).status_code == 201
        assert (await client.post("/authors", params={"name": "fail"})).status_code == 500
    names = set(await async_db.scalars(select(author.name)))
    assert names == {"from the test", "req"}
    assert count(shared.database, author) == 0


@pytest.mark.anyio
async def test_async_next_test_sees_nothing(
    shared: SimpleNamespace, async_db: AsyncSession
) -> None:
    total = await async_db.scalar(select(func.count()).select_from(shared.models.Author))
    assert total == 0
    assert count(shared.database, shared.models.Author) == 0


def test_isolation_cannot_nest(shared: SimpleNamespace, db: Session) -> None:
    with pytest.raises(RuntimeError, match="already active"):
        with db_testing.isolated_session(shared.database):
            pass
