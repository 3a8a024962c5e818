"""N processes migrating one fresh database at once: the migration lock.

This is ``--workers 4`` migrating at startup on a fresh database: four
processes, released together by a barrier, each run ``migrate()``. Without
the lock they all find no revision applied and race to create the same
tables (``UniqueViolation ... alembic_version``, "table already exists").
With it, one process applies the revisions, the others wait and then find
nothing left to do; every process succeeds and the version table holds one
row, at head.

Each try gets a database of its own: ``<test database>_mig_<hex>`` on
PostgreSQL and MariaDB (created, then dropped), a new file on SQLite.
"""

from __future__ import annotations

import multiprocessing
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from db_support import MARIADB_URL, PG_URL, backend_url

from oakling.db import Database, migrations
from oakling.db.engines import sync_url

WORKERS = 4
TRIES = 10
VERSION_TABLE = "app_alembic_version"  # NOTE: per-app, like the demo's tasks_alembic_version
HEAD = "0002_add_done"

_REVISIONS = {
    "0001_initial": """
        revision = "0001_initial"
        down_revision = None

        def upgrade():
            op.create_table(
                "{p}project",
                sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("name", sa.String(100), nullable=False, unique=True),
            )
            op.bulk_insert(
                sa.table("{p}project", sa.column("id"), sa.column("name")),
                [{"id": 1, "name": "inbox"}],
            )

        def downgrade():
            op.drop_table("{p}project")
    """,
    HEAD: """
        revision = "0002_add_done"
        down_revision = "0001_initial"

        def upgrade():
            op.create_table(
                "{p}task",
                sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("title", sa.String(100), nullable=False),
                sa.Column("project_id", sa.Integer, sa.ForeignKey("{p}project.id")),
            )
            op.create_index("ix_{p}task_title", "{p}task", ["title"])

        def downgrade():
            op.drop_table("{p}task")
    """,
}


def _write_migrations(directory: Path, prefix: str = "") -> None:
    """Write the two revisions; their tables' names start with ``prefix``."""
    migrations.init(directory)
    for name, body in _REVISIONS.items():
        body = textwrap.dedent(body).replace("{p}", prefix)
        source = "import sqlalchemy as sa\nfrom alembic import op\n" + body
        (directory / "versions" / f"{name}.py").write_text(source, encoding="utf-8")


# -- the worker processes ----------------------------------------------------------

_barrier: Any = None


def _start_worker(barrier: Any) -> None:
    global _barrier
    _barrier = barrier


def _migrate_once(url: str, directory: str) -> tuple[str, int]:
    """Wait for the other workers, then migrate; return (outcome, revisions applied)."""
    applied: list[str] = []
    database = Database(url)
    try:
        database.sync_engine()  # NOTE: made before the barrier, so the start is truly together
        _barrier.wait(timeout=60)
        migrations.migrate(
            database, directory=directory, version_table=VERSION_TABLE, progress=applied.append
        )
    except Exception as ex:  # noqa: BLE001 - the parent reports what failed, by worker
        return f"{type(ex).__name__}: {str(ex).splitlines()[0][:300]}", len(applied)
    finally:
        database.sync_engine().dispose()
    return "ok", len(applied)


@pytest.fixture(scope="module")
def workers() -> Iterator[Any]:
    """Four spawned processes, started once for the module (imports are slow)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    with context.Pool(WORKERS, initializer=_start_worker, initargs=(barrier,)) as pool:
        yield pool


# -- fresh databases -------------------------------------------------------------


class FreshDatabases:
    """Create a new, empty database per try on a server; drop each afterwards."""

    def __init__(self, base_url: str) -> None:
        self.base = sync_url(base_url)
        self.admin = sa.create_engine(self.base, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def new(self) -> str:
        name = f"{self.base.database}_mig_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        self.created.append(name)
        return self.base.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        force = " WITH (FORCE)" if self.admin.dialect.name == "postgresql" else ""
        with self.admin.connect() as connection:
            for name in self.created:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        self.admin.dispose()


@pytest.fixture
def fresh(backend: str, tmp_path: Path) -> Iterator[Any]:
    """Return a callable giving the URL of a new, empty database."""
    if backend == "sqlite":
        counter = iter(range(1000))
        yield lambda: f"sqlite:///{tmp_path / f'try{next(counter)}.db'}"
        return
    backend_url(backend, tmp_path)  # NOTE: skips, or fails in CI, when the server is down
    databases = FreshDatabases(PG_URL if backend == "postgresql" else MARIADB_URL)
    try:
        yield databases.new
    finally:
        databases.drop_all()


def test_workers_migrating_a_fresh_database_together_all_come_up(
    backend: str, fresh: Any, workers: Any, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    _write_migrations(directory)
    failures: list[str] = []
    for attempt in range(TRIES):
        url = fresh()
        results = workers.starmap_async(
            _migrate_once, [(url, str(directory))] * WORKERS, chunksize=1
        ).get(timeout=120)
        failures += [f"try {attempt}: {outcome}" for outcome, _ in results if outcome != "ok"]
        if any(outcome != "ok" for outcome, _ in results):
            continue
        # One process applied both revisions; the others waited, re-read, found none to apply.
        assert sorted(applied for _, applied in results) == [0] * (WORKERS - 1) + [2]
        engine = sa.create_engine(sync_url(url))
        try:
            with engine.connect() as connection:
                versions = connection.exec_driver_sql(
                    f"SELECT version_num FROM {VERSION_TABLE}"
                ).all()
                projects = connection.exec_driver_sql("SELECT name FROM project").all()
                tables = set(sa.inspect(connection).get_table_names())
        finally:
            engine.dispose()
        assert versions == [(HEAD,)]
        assert projects == [("inbox",)]  # the data migration ran once
        assert {"project", "task"} <= tables
    assert not failures, f"{len(failures)} of {TRIES * WORKERS} workers failed: {failures}"


def test_a_lock_held_too_long_is_a_clear_error(backend: str, tmp_path: Path) -> None:
    """A worker that waits past the lock timeout fails, naming the lock, and migrates nothing."""
    from alembic import command

    from oakling.db._locking import migration_lock

    holder = Database(backend_url(backend, tmp_path))
    waiter = Database(holder.url())
    directory = tmp_path / "migrations"
    prefix = f"lock_{uuid.uuid4().hex[:8]}_"  # NOTE: the test database is shared
    _write_migrations(directory, prefix)
    version_table = f"{prefix}version"
    config = migrations.make_config(waiter, directory, version_table=version_table)
    config.attributes["oakling.lock_timeout"] = 0.5
    try:
        with holder.sync_engine().connect() as connection:
            with migration_lock(connection, version_table):
                with pytest.raises(migrations.CommandError, match="migration lock"):
                    command.upgrade(config, "heads")
        assert migrations.current(waiter, version_table=version_table) == ()
        # Released: the next try migrates.
        command.upgrade(config, "heads")
        assert migrations.current(waiter, version_table=version_table) == (HEAD,)
        command.downgrade(config, "base")
    finally:
        with waiter.sync_engine().begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {version_table}")
        waiter.sync_engine().dispose()
        holder.sync_engine().dispose()
