"""The Tasks demo's database: first start, restarts, migrations, and every backend.

PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306) are real services;
when one is down its tests skip, except in CI (``CI=true`` or
``OAKLING_REQUIRE_SERVICES=1``) where they fail. The demo's table names are
fixed (``tasks_task``, ``tasks_alembic_version``) and the ``test`` databases
are shared with other test runs, so a test on a server holds a named lock
for its duration and drops the demo's tables before and after.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from examples.tasks.app import MIGRATIONS, VERSION_TABLE, create_app, migrate_database
from oakling.db import Database, migrations, sync_url
from oakling.testing import TestClient

PG_URL = os.environ.get("OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("OAKLING_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
REQUIRE_SERVICES = (
    os.environ.get("OAKLING_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"
)
DEMO_TABLES = ("tasks_task", VERSION_TABLE)
LOCK_NAME = "oakling-tasks-demo-tests"


def skip_or_fail(reason: str) -> None:
    """Skip on a newcomer's machine; fail in CI (same rule as tests/conftest.py)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)


@functools.cache
def unreachable(url: str) -> str | None:
    engine = create_engine(sync_url(url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as ex:  # noqa: BLE001 - any failure means "not available"
        return f"{url} unreachable: {ex}"
    finally:
        engine.dispose()
    return None


def drop_demo_tables(engine: Any) -> None:
    with engine.begin() as connection:
        for table in DEMO_TABLES:
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))


@contextmanager
def demo_database(url: str) -> Iterator[str]:
    """Yield ``url`` with the demo's tables absent, owned by this test alone."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as lock:
            # NOTE: a session-level lock, released when this connection closes.
            if engine.dialect.name == "postgresql":
                lock.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), {"name": LOCK_NAME})
            else:
                got = lock.execute(text("SELECT GET_LOCK(:name, 120)"), {"name": LOCK_NAME})
                assert got.scalar() == 1, "another test run held the demo tables for 2 minutes"
            lock.commit()
            drop_demo_tables(engine)
            try:
                yield url
            finally:
                drop_demo_tables(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database without the demo's tables, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tasks.db'}"
        return
    url = PG_URL if request.param == "postgresql" else MARIADB_URL
    problem = unreachable(url)
    if problem:
        skip_or_fail(problem)
    with demo_database(url) as url:
        yield url


def sqlite_tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        return {name for (name,) in rows}


def test_first_start_creates_and_migrates_the_sqlite_file_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OAKLING_DATABASE_URL", raising=False)
    path = tmp_path / "tasks-demo.db"
    app = create_app()
    assert not path.exists()  # nothing happens before the server starts
    with TestClient(app) as client:
        assert client.get("/api/tasks").json() == []
        client.post("/api/tasks", json={"title": "Survive a restart", "completed": True})
        client.post("/api/tasks", json={"title": "Deleted"})
        client.delete("/api/tasks/2")
    assert sqlite_tables(path) == {"tasks_task", VERSION_TABLE}  # no "alembic_version"
    with sqlite3.connect(path) as connection:
        assert connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall() == [
            ("0001_create_tasks",)
        ]
    # A restart: migrations find nothing to do and the data is kept.
    with TestClient(create_app()) as client:
        assert client.get("/api/tasks").json() == [
            {"id": 1, "title": "Survive a restart", "completed": True}
        ]
        assert client.post("/api/tasks", json={"title": "Next"}).json()["id"] == 3


def test_database_url_from_the_argument_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OAKLING_DATABASE_URL", f"sqlite:///{tmp_path / 'from-env.db'}")
    with TestClient(create_app()) as client:
        client.post("/api/tasks", json={"title": "In the environment's database"})
    with TestClient(create_app(f"sqlite:///{tmp_path / 'argument.db'}")) as client:
        assert client.get("/api/tasks").json() == []  # the argument wins
    assert sorted(path.name for path in tmp_path.glob("*.db")) == ["argument.db", "from-env.db"]


def test_the_app_does_not_start_when_the_database_is_unreachable(tmp_path: Path) -> None:
    app = create_app(f"sqlite:///{tmp_path / 'missing-folder' / 'tasks.db'}")
    with pytest.raises(Exception, match="unable to open database file"), TestClient(app):
        pass


def test_the_shipped_migration_matches_the_model(database_url: str) -> None:
    database = Database(database_url)
    try:
        migrate_database(database)
        assert migrations.current(database, version_table=VERSION_TABLE) == ("0001_create_tasks",)
        # Autogenerate finds nothing left to migrate (only the demo's tables compared).
        migrations.check(
            database,
            directory=MIGRATIONS,
            version_table=VERSION_TABLE,
            include_name=lambda name, kind, _parent: kind != "table" or name in DEMO_TABLES,
        )
        # The migration reverts cleanly, and applies again.
        migrations.downgrade(database, "base", directory=MIGRATIONS, version_table=VERSION_TABLE)
        assert "tasks_task" not in inspect(database.sync_engine()).get_table_names()
        assert migrations.current(database, version_table=VERSION_TABLE) == ()
        migrate_database(database)
        assert "tasks_task" in inspect(database.sync_engine()).get_table_names()
    finally:
        database.sync_engine().dispose()


def test_api_crud_on_every_backend(database_url: str) -> None:
    with TestClient(create_app(database_url), follow_redirects=False) as client:
        assert client.get("/api/tasks").json() == []
        response = client.post("/api/tasks", json={"title": "Ship it", "completed": True})
        assert response.status_code == 201
        first = response.json()
        assert first == {"id": first["id"], "title": "Ship it", "completed": True}
        second = client.post("/api/tasks", json={"title": "é ✓ 你好 " + "x" * 93}).json()
        assert len(second["title"]) == 100  # the longest title fits the column
        path = f"/api/tasks/{first['id']}"
        assert client.patch(path, json={"title": "Shipped"}).json()["title"] == "Shipped"
        assert client.post(f"/tasks/{first['id']}/toggle").status_code == 303
        assert client.get(path).json() == {
            "id": first["id"],
            "title": "Shipped",
            "completed": False,
        }
        assert client.delete(path).status_code == 204
        assert client.get(path).status_code == 404
        # SECURITY: ids past the column's range are unknown tasks, not driver errors.
        for task_id in (0, 2**31, 2**63, 10**30):
            assert client.get(f"/api/tasks/{task_id}").status_code == 404
            assert client.patch(f"/api/tasks/{task_id}", json={}).status_code == 404
            assert client.post(f"/tasks/{task_id}/delete").status_code == 404
        assert client.get("/api/tasks").json() == [second]
    # The data outlives the app (a restart).
    with TestClient(create_app(database_url)) as client:
        assert client.get("/api/tasks").json() == [second]
