"""``oakling createsuperuser`` and ``oakling changepassword`` on a small project."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from oakling.auth import User
from oakling.auth.cli import changepassword, createsuperuser
from oakling.db import Model
from tests.auth.conftest import AUTH_TABLES

APP_SOURCE = """
from oakling import App
from oakling.auth import Auth
from oakling.config import Settings
from oakling.db import Database
from oakling.sessions import Sessions

app = App(
    settings=Settings(SECRET_KEY="c" * 40),
    plugins=[Database("sqlite:///{database}"), Sessions(), Auth()],
)
"""

GOOD = "a long enough passphrase"


class Project:
    def __init__(self, root: Path) -> None:
        self.module = f"authcli_{uuid.uuid4().hex[:8]}"
        (root / f"{self.module}.py").write_text(APP_SOURCE.format(database=root / "cli.db"))
        __import__(self.module)
        self.app = sys.modules[self.module].app
        Model.metadata.create_all(self.app.extensions["db"].sync_engine(), tables=AUTH_TABLES)

    def run(self, command: Any, *args: str, input: str | None = None, **env: str) -> Any:
        return CliRunner().invoke(
            command, ["--app", f"{self.module}:app", *args], input=input, env=env
        )

    def user(self, username: str) -> User | None:
        with self.app.extensions["db"].session() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is not None:
                session.expunge(user)
            return user


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.syspath_prepend(str(tmp_path))
    found = Project(tmp_path)
    yield found
    found.app.extensions["db"].sync_engine().dispose()
    sys.modules.pop(found.module, None)


def test_createsuperuser_noinput(project: Project) -> None:
    missing = project.run(createsuperuser, "--noinput", "--username", "root")
    assert missing.exit_code == 2
    assert "OAKLING_SUPERUSER_PASSWORD" in missing.output
    weak = project.run(
        createsuperuser, "--noinput", "--username", "root", OAKLING_SUPERUSER_PASSWORD="123"
    )
    assert weak.exit_code == 1
    assert "password was refused" in weak.output
    assert project.user("root") is None
    done = project.run(
        createsuperuser,
        "--noinput",
        "--username",
        "root",
        "--email",
        "root@example.com",
        OAKLING_SUPERUSER_PASSWORD=GOOD,
    )
    assert done.exit_code == 0, done.output
    user = project.user("root")
    assert user is not None
    assert (user.is_superuser, user.is_staff, user.email) == (True, True, "root@example.com")
    assert user.check_password(GOOD)
    again = project.run(
        createsuperuser, "--noinput", "--username", "ROOT", OAKLING_SUPERUSER_PASSWORD=GOOD
    )
    assert again.exit_code == 1
    assert "taken" in again.output


def test_createsuperuser_prompts_hidden_and_validates(project: Project) -> None:
    typed = "admin\nadmin@example.com\nadmin\nadmin\n" + f"{GOOD}\n{GOOD}x\n" + f"{GOOD}\n{GOOD}\n"
    result = project.run(createsuperuser, input=typed)
    assert result.exit_code == 0, result.output
    assert GOOD not in result.output  # hidden input is not echoed
    assert "too similar" in result.output or "too common" in result.output
    assert "didn't match" in result.output
    user = project.user("admin")
    assert user is not None and user.check_password(GOOD)


def test_changepassword(project: Project) -> None:
    project.run(createsuperuser, "--noinput", "--username", "ann", OAKLING_SUPERUSER_PASSWORD=GOOD)
    assert project.run(changepassword, "nobody", input="x\nx\n").exit_code == 1
    new = "another fine passphrase"
    three_bad = project.run(changepassword, "ann", input="a\nb\n" * 3)
    assert three_bad.exit_code == 1
    assert "3 unsuccessful attempts" in three_bad.output
    result = project.run(changepassword, "ann", input=f"{new}\n{new}\n")
    assert result.exit_code == 0, result.output
    user = project.user("ann")
    assert user is not None and user.check_password(new) and not user.check_password(GOOD)


def test_commands_need_the_auth_battery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    module = f"plainapp_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text("from oakling import App\napp = App(debug=True)\n")
    result = CliRunner().invoke(createsuperuser, ["--app", f"{module}:app", "--noinput"])
    assert result.exit_code == 1
    assert "Auth()" in result.output
    sys.modules.pop(module, None)
