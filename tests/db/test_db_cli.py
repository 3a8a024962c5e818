"""``oakling db ...`` through the real ``oakling`` command, on a small project in tmp_path."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from oakling.cli import main
from oakling.db import Model

APP_SOURCE = """
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App
from oakling.db import Database, Model


class Note(Model):
    __tablename__ = "{table}"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))


db = Database(url="sqlite:///{database}")
app = App(plugins=[db])
"""


class Project:
    """A project folder with ``app_<id>.py``; runs ``oakling --app ... db`` in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.module = f"app_{uuid.uuid4().hex[:8]}"
        self.table = f"cli_{self.module}_note"
        self.database = root / "project.db"
        source = APP_SOURCE.format(table=self.table, database=self.database)
        (root / f"{self.module}.py").write_text(source)

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(main, ["db", "--app", f"{self.module}:app", *args])

    def tables(self) -> list[str]:
        engine = sa.create_engine(f"sqlite:///{self.database}")
        try:
            return sa.inspect(engine).get_table_names()
        finally:
            engine.dispose()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    created = Project(tmp_path)
    yield created
    module = sys.modules.pop(created.module, None)
    if module is not None:
        module.db.sync_engine().dispose()
    # NOTE: the model joined the shared Model.metadata; other tests' create_all must not see it.
    table = Model.metadata.tables.get(created.table)
    if table is not None:
        Model.metadata.remove(table)


def test_init_makemigrations_migrate_current_check(project: Project) -> None:
    result = project.run("init")
    assert result.exit_code == 0, result.output
    assert (project.root / "migrations" / "env.py").is_file()

    result = project.run("makemigrations", "-m", "initial")
    assert result.exit_code == 0, result.output
    assert "Created" in result.output and "0001_initial.py" in result.output
    source = (project.root / "migrations" / "versions" / "0001_initial.py").read_text()
    assert f"op.create_table('{project.table}'" in source

    result = project.run("migrate")
    assert result.exit_code == 0, result.output
    assert "Applying 0001_initial... OK" in result.output
    assert project.table in project.tables()

    result = project.run("makemigrations", "-m", "nothing")
    assert result.exit_code == 0, result.output
    assert "No changes detected" in result.output
    assert not (project.root / "migrations" / "versions" / "0002_nothing.py").exists()

    result = project.run("current")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "0001_initial"

    result = project.run("history")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "0001_initial (head)  initial"

    result = project.run("check")
    assert result.exit_code == 0, result.output

    # Behind the latest revision: check fails (for CI), then downgrade reverts.
    result = project.run("downgrade")
    assert result.exit_code == 0, result.output
    assert "Reverting 0001_initial... OK" in result.output
    assert project.table not in project.tables()
    assert project.run("current").output.strip() == "(no migration applied)"
    result = project.run("check")
    assert result.exit_code == 1
    assert "not up to date" in result.output


def test_commands_before_init_fail_cleanly(project: Project) -> None:
    result = project.run("migrate")
    assert result.exit_code == 1
    assert "oakling db init" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_init_twice_fails_cleanly(project: Project) -> None:
    assert project.run("init").exit_code == 0
    result = project.run("init")
    assert result.exit_code == 1
    assert "not empty" in result.output


def test_db_group_is_listed_by_oakling() -> None:
    result = CliRunner().invoke(main, ["db", "--help"])
    assert result.exit_code == 0, result.output
    for name in ("init", "makemigrations", "migrate", "downgrade", "history", "current", "check"):
        assert name in result.output
