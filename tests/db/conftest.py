"""Fixtures for the oakling.db tests: a Database per backend, models per test.

Every test gets its own tables (a random suffix in their names), so test
runs sharing the ``test`` databases on PostgreSQL and MariaDB don't collide;
the tables are dropped, and removed from ``Model.metadata``, at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from db_support import BACKENDS, backend_url, create_tables, define_models, drop_tables

from oakling.db import Database


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sync", "async"])
def flavor(request: pytest.FixtureRequest) -> str:
    """Run the test body through sync handlers (Session) and async ones (AsyncSession)."""
    return str(request.param)


@pytest.fixture
def database(backend: str, tmp_path: Any) -> Iterator[Database]:
    """A Database on ``backend``, its engines disposed of afterwards."""
    db = Database(backend_url(backend, tmp_path))
    yield db
    db.sync_engine().dispose()


@pytest.fixture
def models(database: Database) -> Iterator[SimpleNamespace]:
    """Author and Book models whose tables exist on ``database`` for this test."""
    found = define_models()
    create_tables(database, found)
    yield found
    drop_tables(database, found)
