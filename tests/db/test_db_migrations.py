"""Migrations on SQLite, PostgreSQL and MariaDB: makemigrations, migrate, check, downgrade.

Each run uses its own table prefix and Alembic version table, and drops what
it created, because the ``test`` databases are shared with other runs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from db_support import MARIADB_URL, PG_URL
from sqlalchemy import Engine, MetaData

from oakling.db import migrations
from oakling.db.engines import sync_url
from oakling.db.models import NAMING_CONVENTION
from tests.conftest import skip_or_fail

# NOTE: the test databases named by OAKLING_TEST_POSTGRES_URL / _MARIADB_URL.
SERVER_URLS = {"postgresql": sync_url(PG_URL), "mysql": sync_url(MARIADB_URL)}


class Target:
    """The two things the migration functions need from a Database."""

    def __init__(self, metadata: MetaData, engine: Engine) -> None:
        self.metadata = metadata
        self.engine = engine

    def sync_engine(self, bind: str | None = None) -> Engine:
        assert bind is None
        return self.engine


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        url = SERVER_URLS[request.param]
    created = sa.create_engine(url, pool_pre_ping=True)
    try:
        with created.connect():
            pass
    except sa.exc.OperationalError as ex:
        created.dispose()
        skip_or_fail(f"{request.param} unreachable at {url}: {ex.orig}")
    yield created
    created.dispose()


@pytest.fixture
def prefix(engine: Engine) -> Iterator[str]:
    """Return a table-name prefix unique to this run; drop its tables afterwards."""
    name = f"mig_{uuid.uuid4().hex[:8]}"
    yield name
    with engine.begin() as connection:
        inspector = sa.inspect(connection)
        tables = [table for table in inspector.get_table_names() if table.startswith(name)]
        reflected = MetaData()
        reflected.reflect(connection, only=tables)
        reflected.drop_all(connection)


def models_v1(prefix: str) -> MetaData:
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    sa.Table(
        f"{prefix}_project",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )
    sa.Table(
        f"{prefix}_task",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("project_id", sa.ForeignKey(f"{prefix}_project.id"), nullable=True),
    )
    return metadata


def models_v2(prefix: str) -> MetaData:
    """Version 1 plus a column, a unique constraint and an index."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    sa.Table(
        f"{prefix}_project",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.UniqueConstraint("name"),
    )
    sa.Table(
        f"{prefix}_task",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False, index=True),
        sa.Column("project_id", sa.ForeignKey(f"{prefix}_project.id"), nullable=True),
        sa.Column("done", sa.Boolean, nullable=True),
    )
    return metadata


def test_migration_cycle(engine: Engine, prefix: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    version_table = f"{prefix}_version"

    def own_tables(name: str | None, type_: str, parent_names: Any) -> bool:
        # The shared database holds other runs' tables: compare ours only.
        return type_ != "table" or (name or "").startswith(prefix)

    def target(metadata: MetaData) -> Target:
        return Target(metadata, engine)

    options: dict[str, Any] = {"directory": directory, "version_table": version_table}
    applied: list[str] = []
    migrations.init(directory)
    assert (directory / "env.py").is_file()
    assert (directory / "versions").is_dir()

    # Models v1 -> makemigrations writes both create_table operations with convention names.
    v1 = target(models_v1(prefix))
    first = migrations.makemigrations(v1, "initial", include_name=own_tables, **options)
    assert first is not None
    assert first.name == "0001_initial.py"
    source = first.read_text()
    assert f"op.create_table('{prefix}_project'" in source
    assert f"op.create_table('{prefix}_task'" in source
    assert f"name=op.f('pk_{prefix}_task')" in source
    assert f"name=op.f('fk_{prefix}_task_project_id_{prefix}_project')" in source

    # migrate applies it, one progress line per revision.
    migrations.migrate(v1, progress=applied.append, **options)
    assert applied == ["Applying 0001_initial... OK"]
    assert {f"{prefix}_project", f"{prefix}_task"} <= set(sa.inspect(engine).get_table_names())
    assert migrations.current(v1, version_table=version_table) == ("0001_initial",)
    migrations.check(v1, include_name=own_tables, **options)

    # Nothing changed: no file, like Django's "No changes detected".
    assert migrations.makemigrations(v1, "again", include_name=own_tables, **options) is None
    assert sorted(path.name for path in (directory / "versions").glob("*.py")) == [
        "0001_initial.py"
    ]

    # Models v2 -> check sees the drift before a migration exists.
    v2 = target(models_v2(prefix))
    with pytest.raises(migrations.AutogenerateDiffsDetected):
        migrations.check(v2, include_name=own_tables, **options)
    second = migrations.makemigrations(
        v2, "add done, unique name, index", include_name=own_tables, **options
    )
    assert second is not None
    assert second.name == "0002_add_done_unique_name_index.py"
    source = second.read_text()
    assert re.search(r"add_column\((?:'[^']+', )?sa\.Column\('done', sa\.Boolean\(\)", source)
    assert re.search(rf"create_unique_constraint\(\w+\.f\('uq_{prefix}_project_name'\)", source)
    assert re.search(rf"create_index\(\w+\.f\('ix_{prefix}_task_title'\)", source)
    if engine.dialect.name == "sqlite":
        assert "batch_alter_table" in source  # SQLite cannot ALTER these in place
    # The database is behind the new revision: check says so.
    with pytest.raises(migrations.CommandError):
        migrations.check(v2, include_name=own_tables, **options)

    applied.clear()
    migrations.migrate(v2, progress=applied.append, **options)
    assert applied == ["Applying 0002_add_done_unique_name_index... OK"]
    inspector = sa.inspect(engine)
    assert "done" in {column["name"] for column in inspector.get_columns(f"{prefix}_task")}
    assert f"ix_{prefix}_task_title" in {
        index["name"] for index in inspector.get_indexes(f"{prefix}_task")
    }
    assert f"uq_{prefix}_project_name" in {
        constraint["name"] for constraint in inspector.get_unique_constraints(f"{prefix}_project")
    }
    migrations.check(v2, include_name=own_tables, **options)
    assert migrations.current(v2, version_table=version_table) == (
        "0002_add_done_unique_name_index",
    )
    revisions = migrations.history(directory)
    assert [script.revision for script in revisions] == [
        "0002_add_done_unique_name_index",
        "0001_initial",
    ]
    assert revisions[0].is_head
    assert revisions[0].doc == "add done, unique name, index"

    # downgrade one step reverts v2: the column is gone.
    applied.clear()
    migrations.downgrade(v2, progress=applied.append, **options)
    assert applied == ["Reverting 0002_add_done_unique_name_index... OK"]
    columns = {column["name"] for column in sa.inspect(engine).get_columns(f"{prefix}_task")}
    assert columns == {"id", "title", "project_id"}
    assert migrations.current(v2, version_table=version_table) == ("0001_initial",)

    # The number alone names a revision; "base" drops everything.
    migrations.migrate(v2, "0002", **options)
    assert migrations.current(v2, version_table=version_table) == (
        "0002_add_done_unique_name_index",
    )
    migrations.downgrade(v2, "base", **options)
    assert not [
        table
        for table in sa.inspect(engine).get_table_names()
        if table.startswith(f"{prefix}_") and table != version_table
    ]
    assert migrations.current(v2, version_table=version_table) == ()


def test_offline_sql_is_printed_not_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'offline.db'}")
    directory = tmp_path / "migrations"
    migrations.init(directory)
    target = Target(models_v1("offline"), engine)
    assert migrations.makemigrations(target, "initial", directory=directory) is not None
    capsys.readouterr()
    migrations.migrate(target, directory=directory, sql=True)
    assert "CREATE TABLE offline_project" in capsys.readouterr().out
    assert "offline_project" not in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    migrations.init(tmp_path / "migrations")
    with pytest.raises(migrations.CommandError, match="not empty"):
        migrations.init(tmp_path / "migrations")


def test_commands_need_init_first(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(migrations.CommandError, match="oakling db init"):
        migrations.migrate(Target(MetaData(), engine), directory=tmp_path / "missing")
    engine.dispose()


def test_tables_of_named_binds_are_left_out(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'binds.db'}")
    metadata = models_v1("main")
    sa.Table("analytics_event", metadata, sa.Column("id", sa.Integer, primary_key=True)).info[
        "bind_key"
    ] = "analytics"
    directory = tmp_path / "migrations"
    migrations.init(directory)
    path = migrations.makemigrations(Target(metadata, engine), "initial", directory=directory)
    assert path is not None
    source = path.read_text()
    assert "op.create_table('main_task'" in source
    assert "analytics_event" not in source
    engine.dispose()


def test_custom_column_types_are_imported_into_revisions():
    from types import SimpleNamespace

    from sqlalchemy import Integer, TypeDecorator

    from oakling.db.migrations import _import_custom_types

    class Cents(TypeDecorator[int]):
        impl = Integer
        cache_ok = True

    context = SimpleNamespace(imports=set())
    assert _import_custom_types("type", Cents(), context) is False
    assert _import_custom_types("type", Integer(), context) is False
    assert context.imports == {f"import {__name__}"}


def test_include_name_also_filters_tables_only_the_models_have():
    from sqlalchemy import Column, Index, Integer, MetaData, Table

    from oakling.db.migrations import _models_named

    metadata = MetaData()
    mine = Table("mine", metadata, Column("id", Integer, primary_key=True))
    theirs = Table("theirs", metadata, Column("id", Integer, primary_key=True))
    index = Index("ix_theirs_id", theirs.c.id)
    include = _models_named(lambda name, kind, _parent: kind != "table" or name == "mine")
    assert include(mine, "mine", "table", False, None)
    assert not include(theirs, "theirs", "table", False, None)
    assert not include(index, "ix_theirs_id", "index", False, None)
    assert include(theirs, "theirs", "table", True, None)  # reflected: include_name's job
