"""``oakling new``: both layouts pass their own tests and the deploy checks at once."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from dotenv import dotenv_values

from oakling._project import create_project
from oakling.cli import main
from oakling.exceptions import ImproperlyConfigured


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's OAKLING_* variables, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OAKLING_")}
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


def production_env(project: Path) -> dict[str, str]:
    """The project's .env.example with a real key, as an operator would set it."""
    values = {key: value or "" for key, value in dotenv_values(project / ".env.example").items()}
    values["OAKLING_SECRET_KEY"] = secrets.token_urlsafe(50)
    if "OAKLING_DATABASE_URL" in values:
        values["OAKLING_DATABASE_URL"] = f"sqlite:///{project / 'production.db'}"
    return clean_env(**values)


@pytest.mark.parametrize("minimal", [True, False], ids=["minimal", "full"])
def test_generated_project_passes_its_tests_and_the_deploy_checks(tmp_path, minimal):
    project = create_project("acme_site", tmp_path, minimal=minimal)
    tests = run(["-m", "pytest", "-q", "-p", "no:cacheprovider"], project, clean_env())
    assert tests.returncode == 0, tests.stdout + tests.stderr
    passed = int(tests.stdout.rsplit(" passed", 1)[0].split()[-1])
    assert passed >= (4 if minimal else 6), tests.stdout
    check = run(["-m", "oakling.cli", "check", "--deploy"], project, production_env(project))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout
    # With the development .env alone, the deploy check must complain (DEBUG on).
    dev_check = run(["-m", "oakling.cli", "check", "--deploy"], project, clean_env())
    assert dev_check.returncode == 1
    assert "DEBUG is on" in dev_check.stdout


def test_full_project_layout_and_migrations_apply(tmp_path):
    project = create_project("acme_site", tmp_path)
    for name in (
        "pyproject.toml",
        "README.md",
        ".env",
        ".env.example",
        ".gitignore",
        "acme_site/settings.py",
        "acme_site/app.py",
        "acme_site/views.py",
        "acme_site/models.py",
        "acme_site/templates/base.html",
        "acme_site/static/style.css",
        "migrations/env.py",
        "migrations/versions/0001_initial.py",
        "tests/conftest.py",
    ):
        assert (project / name).is_file(), name
    assert "-tpl" not in " ".join(str(path) for path in project.rglob("*"))
    assert "__project__" not in (project / "acme_site/models.py").read_text()
    env = clean_env(OAKLING_DATABASE_URL=f"sqlite:///{tmp_path / 'dev.db'}")
    migrate = run(["-m", "oakling.cli", "db", "migrate"], project, env)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    # The first migration matches the models: nothing left to generate.
    check = run(["-m", "oakling.cli", "db", "check"], project, env)
    assert check.returncode == 0, check.stdout + check.stderr


def test_each_project_gets_its_own_development_key(tmp_path):
    first = dotenv_values(create_project("one_site", tmp_path) / ".env")
    second = dotenv_values(create_project("two_site", tmp_path, minimal=True) / ".env")
    assert first["OAKLING_SECRET_KEY"] != second["OAKLING_SECRET_KEY"]
    assert len(first["OAKLING_SECRET_KEY"] or "") >= 50


@pytest.mark.parametrize("name", ["My-Site", "1site", "class", "os", "json", "app", ""])
def test_bad_or_shadowing_names_are_refused(tmp_path, name):
    with pytest.raises(ImproperlyConfigured):
        create_project(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path):
    (tmp_path / "acme_site").mkdir()
    (tmp_path / "acme_site" / "app.py").write_text("mine")
    result = CliRunner().invoke(main, ["new", "acme_site", "-d", str(tmp_path), "--minimal"])
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert (tmp_path / "acme_site" / "app.py").read_text() == "mine"


def test_new_command_writes_the_minimal_project(tmp_path):
    result = CliRunner().invoke(main, ["new", "acme_site", "--minimal", "-d", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in (tmp_path / "acme_site").iterdir()) == [
        ".env",
        ".env.example",
        ".gitignore",
        "README.md",
        "app.py",
        "test_app.py",
    ]
