"""The Tasks demo's database: first start, restarts, migrations, and every backend.

PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306) are real services;
when one is down its tests skip, except in CI (``CI=true`` or
``OAKLING_REQUIRE_SERVICES=1``) where they fail. The demo's table names are
fixed (``tasks_task``, ``tasks_alembic_version``, and the auth battery's
``auth_*`` tables and the sessions battery's ``oakling_session`` that its
migrations create) and the ``test`` databases are
shared with other test runs, so a test on a server holds a named lock for
its duration and drops the demo's tables before and after.
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
from tests.conftest import skip_or_fail
from tests.examples.accounts import login, make_user

PG_URL = os.environ.get("OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("OAKLING_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
# NOTE: in an order that drops every table before those its foreign keys name.
DEMO_TABLES = (
    "admin_log",
    "tasks_task",
    "auth_token",
    "auth_user_groups",
    "auth_user_permissions",
    "auth_group_permissions",
    "auth_user",
    "auth_group",
    "auth_permission",
    "oakling_session",
    "oakling_task_outbox",
    VERSION_TABLE,
)
LATEST = "0005_add_task_outbox"
LOCK_NAME = "oakling-tasks-demo-tests"


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
        make_user(app, "ann")
        login(client, "ann")
        assert client.get("/api/tasks").json() == []
        client.post("/api/tasks", json={"title": "Survive a restart", "completed": True})
        client.post("/api/tasks", json={"title": "Deleted"})
        client.delete("/api/tasks/2")
    assert sqlite_tables(path) == set(DEMO_TABLES)  # no "alembic_version"
    with sqlite3.connect(path) as connection:
        assert connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall() == [
            (LATEST,)
        ]
    # A restart: migrations find nothing to do and the data (and the user) is kept.
    with TestClient(create_app()) as client:
        assert login(client, "ann").status_code == 303
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
        make_user(client.app, "ann")
        login(client, "ann")
        client.post("/api/tasks", json={"title": "In the environment's database"})
    with TestClient(create_app(f"sqlite:///{tmp_path / 'argument.db'}")) as client:
        make_user(client.app, "ann")
        login(client, "ann")
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
        assert migrations.current(database, version_table=VERSION_TABLE) == (LATEST,)
        # Autogenerate finds nothing left to migrate (only the demo's tables compared).
        migrations.check(
            database,
            directory=MIGRATIONS,
            version_table=VERSION_TABLE,
            include_name=lambda name, kind, _parent: kind != "table" or name in DEMO_TABLES,
        )
        # The migration reverts cleanly, and applies again.
        migrations.downgrade(database, "base", directory=MIGRATIONS, version_table=VERSION_TABLE)
        tables = set(inspect(database.sync_engine()).get_table_names())
        assert not tables & set(DEMO_TABLES[:-1])
        assert migrations.current(database, version_table=VERSION_TABLE) == ()
        migrate_database(database)
        assert set(DEMO_TABLES) <= set(inspect(database.sync_engine()).get_table_names())
    finally:
        database.sync_engine().dispose()


def test_tasks_from_before_owners_are_shown_to_nobody(database_url: str) -> None:
    database = Database(database_url)
    try:
        migrate_database(database, "0001")
        with database.sync_engine().begin() as connection:
            connection.execute(
                text("INSERT INTO tasks_task (title, completed) VALUES ('Old', :no)"),
                {"no": False},
            )
        migrate_database(database)  # 0002 adds the owner column: NULL for the old task
        with database.sync_engine().connect() as connection:
            rows = connection.execute(text("SELECT title, owner_id FROM tasks_task")).all()
        assert [tuple(row) for row in rows] == [("Old", None)]
    finally:
        database.sync_engine().dispose()
    with TestClient(create_app(database_url), follow_redirects=False) as client:
        make_user(client.app, "ann")
        login(client, "ann")
        assert client.get("/api/tasks").json() == []
        assert client.get("/api/tasks/1").status_code == 404
        assert client.post("/tasks/1/toggle").status_code == 404
        assert "Old" not in client.get("/").text


def test_deleting_a_user_deletes_their_tasks(database_url: str) -> None:
    with TestClient(create_app(database_url), follow_redirects=False) as client:
        ann = make_user(client.app, "ann")
        make_user(client.app, "bob")
        login(client, "ann")
        client.post("/api/tasks", json={"title": "Ann's"})
        login(client, "bob")
        client.post("/api/tasks", json={"title": "Bob's"})
        database = client.app.extensions["db"]
        with database.sync_engine().begin() as connection:
            if connection.dialect.name == "sqlite":
                connection.execute(text("PRAGMA foreign_keys = ON"))
            connection.execute(text("DELETE FROM auth_user WHERE id = :id"), {"id": ann})
        with database.sync_engine().connect() as connection:
            titles = connection.execute(text("SELECT title FROM tasks_task")).scalars().all()
        assert titles == ["Bob's"]  # ON DELETE CASCADE


def test_api_crud_on_every_backend(database_url: str) -> None:
    with TestClient(create_app(database_url), follow_redirects=False) as client:
        make_user(client.app, "ann")
        login(client, "ann")
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
        login(client, "ann")
        assert client.get("/api/tasks").json() == [second]


def test_users_from_before_0003_keep_their_tasks_and_log_in(database_url: str) -> None:
    """Upgrading: 0003 adds the session table and gives existing users version 0."""
    from oakling.auth.hashers import make_password
    from tests.examples.accounts import PASSWORD

    database = Database(database_url)
    try:
        migrate_database(database, "0002_add_users_and_task_owners")
        with database.sync_engine().begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO auth_user (username, username_key, email, password, is_active,"
                    " is_staff, is_superuser, date_joined) VALUES ('ann', 'ann', '', :password,"
                    " :yes, :no, :no, :joined)"
                ),
                {
                    "password": make_password(PASSWORD),
                    "yes": True,
                    "no": False,
                    "joined": "2026-11-30 10:00:00",
                },
            )
            connection.execute(
                text("INSERT INTO tasks_task (title, completed, owner_id) VALUES ('Kept', :no, 1)"),
                {"no": False},
            )
        assert "oakling_session" not in inspect(database.sync_engine()).get_table_names()
        migrate_database(database)
        with database.sync_engine().connect() as connection:
            versions = connection.execute(text("SELECT session_version FROM auth_user")).all()
        assert [tuple(row) for row in versions] == [(0,)]
        assert "oakling_session" in inspect(database.sync_engine()).get_table_names()
    finally:
        database.sync_engine().dispose()
    with TestClient(create_app(database_url), follow_redirects=False) as client:
        assert login(client, "ann").status_code == 303
        assert [task["title"] for task in client.get("/api/tasks").json()] == ["Kept"]
