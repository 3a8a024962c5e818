"""Migrations of named binds: ``oakling db --bind NAME``, on SQLite and PostgreSQL.

The default database and a bind each get their own folder, version table and
revisions; a run on one never touches the other's tables.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from db_support import PG_URL

from oakling.cli import main
from oakling.db import Model, migrations
from oakling.db.engines import sync_url
from tests.conftest import skip_or_fail

APP_SOURCE = """
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App
from oakling.db import Database, Model


class Note(Model):
    __tablename__ = "{prefix}_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))


class Event(Model):
    __tablename__ = "{prefix}_event"
    __bind_key__ = "{bind}"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
{extra}

db = Database(url="{main_url}", binds={{"{bind}": "{bind_url}"}})
app = App(plugins=[db])
"""

EXTRA_COLUMN = """
from sqlalchemy import Integer
Event.__table__.append_column(__import__("sqlalchemy").Column("weight", Integer, nullable=True))
"""


class Project:
    """A project with a default SQLite database and a named bind."""

    def __init__(self, root: Path, bind_url: str) -> None:
        self.root = root
        self.module = ""
        self.prefix = f"mb_{uuid.uuid4().hex[:8]}"
        # NOTE: a bind name of its own per run: its version table is
        # alembic_version_<bind>, in a test database other runs share.
        self.bind = f"an{uuid.uuid4().hex[:6]}"
        self.main_url = f"sqlite:///{root / 'main.db'}"
        self.bind_url = bind_url
        self.write()

    def write(self, extra: str = "") -> None:
        """Write the app as a new module (a module name the models were not declared in)."""
        self.forget()
        self.module = f"binds_{uuid.uuid4().hex[:8]}"
        source = APP_SOURCE.format(
            prefix=self.prefix,
            bind=self.bind,
            main_url=self.main_url,
            bind_url=self.bind_url,
            extra=extra,
        )
        (self.root / f"{self.module}.py").write_text(source)

    def forget(self) -> None:
        module = sys.modules.pop(self.module, None) if self.module else None
        if module is not None:
            module.db.sync_engine().dispose()
            module.db.sync_engine(self.bind).dispose()
        for suffix in ("note", "event"):
            table = Model.metadata.tables.get(f"{self.prefix}_{suffix}")
            if table is not None:
                Model.metadata.remove(table)

    def run(self, *args: str, bind: bool = True) -> Result:
        flags = ["--bind", self.bind] if bind else []
        return CliRunner().invoke(main, ["db", "--app", f"{self.module}:app", *flags, *args])

    def tables(self, url: str) -> set[str]:
        engine = sa.create_engine(sync_url(url))
        try:
            names = set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()
        return {name for name in names if name.startswith((self.prefix, "alembic_version"))}

    def columns(self, url: str, table: str) -> set[str]:
        engine = sa.create_engine(sync_url(url))
        try:
            return {column["name"] for column in sa.inspect(engine).get_columns(table)}
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def project(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    if request.param == "sqlite":
        bind_url = f"sqlite:///{tmp_path / 'analytics.db'}"
    else:
        bind_url = PG_URL
        engine = sa.create_engine(sync_url(bind_url))
        try:
            with engine.connect():
                pass
        except sa.exc.OperationalError as ex:
            skip_or_fail(f"PostgreSQL unreachable at {bind_url}: {ex.orig}")
        finally:
            engine.dispose()
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    created = Project(tmp_path, bind_url)
    yield created
    created.forget()
    engine = sa.create_engine(sync_url(bind_url))
    try:
        with engine.begin() as connection:
            for name in (f"{created.prefix}_event", f"alembic_version_{created.bind}"):
                connection.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"'))
    finally:
        engine.dispose()


def test_a_bind_gets_its_own_folder_version_table_and_revisions(project: Project) -> None:
    result = project.run("init")
    assert result.exit_code == 0, result.output
    assert (project.root / f"migrations_{project.bind}" / "env.py").is_file()
    assert f"oakling db --bind {project.bind} makemigrations" in result.output

    result = project.run("makemigrations", "-m", "initial")
    assert result.exit_code == 0, result.output
    revision = project.root / f"migrations_{project.bind}" / "versions" / "0001_initial.py"
    source = revision.read_text()
    assert f"op.create_table('{project.prefix}_event'" in source
    assert f"{project.prefix}_note" not in source  # NOTE: the default database's model

    result = project.run("migrate")
    assert result.exit_code == 0, result.output
    assert "Applying 0001_initial... OK" in result.output
    assert project.tables(project.bind_url) >= {
        f"{project.prefix}_event",
        f"alembic_version_{project.bind}",
    }
    assert f"{project.prefix}_note" not in project.tables(project.bind_url)
    main_tables = project.tables(project.main_url)
    assert f"{project.prefix}_event" not in main_tables
    assert "alembic_version" not in main_tables  # NOTE: the default database was not migrated

    result = project.run("current")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "0001_initial"
    result = project.run("check")
    assert result.exit_code == 0, result.output

    # NOTE: the default database's migrations are numbered and recorded apart.
    assert project.run("init", bind=False).exit_code == 0
    result = project.run("makemigrations", "-m", "initial", bind=False)
    assert result.exit_code == 0, result.output
    source = (project.root / "migrations" / "versions" / "0001_initial.py").read_text()
    assert f"op.create_table('{project.prefix}_note'" in source
    assert f"{project.prefix}_event" not in source
    assert project.run("migrate", bind=False).exit_code == 0
    assert project.tables(project.main_url) >= {f"{project.prefix}_note", "alembic_version"}
    assert project.run("current", bind=False).output.strip() == "0001_initial"


def test_a_change_to_a_bind_model_becomes_its_next_revision(project: Project) -> None:
    for step in (("init",), ("makemigrations", "-m", "initial"), ("migrate",)):
        result = project.run(*step)
        assert result.exit_code == 0, result.output
    project.write(EXTRA_COLUMN)
    result = project.run("check")
    assert result.exit_code == 1
    assert "models and database differ" in result.output

    result = project.run("makemigrations", "-m", "add weight")
    assert result.exit_code == 0, result.output
    assert "0002_add_weight" in result.output
    assert project.run("migrate").exit_code == 0
    assert "weight" in project.columns(project.bind_url, f"{project.prefix}_event")

    result = project.run("downgrade", "base")
    assert result.exit_code == 0, result.output
    assert "Reverting 0002_add_weight... OK" in result.output
    assert f"{project.prefix}_event" not in project.tables(project.bind_url)


def test_an_unknown_bind_is_refused_with_the_configured_ones(project: Project) -> None:
    assert project.run("init").exit_code == 0
    result = CliRunner().invoke(
        main, ["db", "--app", f"{project.module}:app", "--bind", "nosuch", "current"]
    )
    assert result.exit_code == 1
    assert "no database bind 'nosuch'" in result.output
    assert project.bind in result.output


def test_bind_defaults_name_folder_and_table() -> None:
    assert migrations.bind_defaults(None) == ("migrations", "alembic_version")
    assert migrations.bind_defaults("analytics") == (
        "migrations_analytics",
        "alembic_version_analytics",
    )
    assert migrations.bind_defaults("my-db.2") == ("migrations_my_db_2", "alembic_version_my_db_2")
    with pytest.raises(migrations.CommandError):
        migrations.bind_defaults("")
