"""System checks: ``App.add_check``, ``run_checks`` and ``oakling check --deploy``."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from oakling import App
from oakling.checks import CheckMessage, run_checks
from oakling.cli import main
from oakling.config import Settings

STRONG_KEY = "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN"


def ids(messages: list[CheckMessage]) -> set[str]:
    return {message.id for message in messages}


def test_plain_checks_do_not_run_deploy_checks():
    app = App(debug=True)
    assert run_checks(app) == []


def test_debug_app_fails_the_deploy_checks():
    app = App(debug=True)
    found = ids(run_checks(app, deploy=True))
    assert {"oakling.W001", "oakling.W002", "oakling.W003", "oakling.W004", "oakling.W005"} <= found
    key = [m for m in run_checks(app, deploy=True) if m.id == "oakling.W002"][0]
    assert key.level == "error" and "development key" in key.message


@pytest.mark.parametrize(
    ("key", "expected"),
    [("a" * 40, "distinct"), ("abcdefghijklmnopqrstuvwxyz0123456789", "36 characters")],
)
def test_weak_secret_keys_are_reported(key, expected):
    app = App(settings=Settings(SECRET_KEY=key, ALLOWED_HOSTS=["example.com"]))
    [message] = [m for m in run_checks(app, deploy=True) if m.id == "oakling.W002"]
    assert expected in message.message


def test_hardened_core_settings_leave_only_battery_findings():
    app = App(settings=Settings(SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS=["example.com"]))
    app.extensions["security"] = object()
    app.extensions["csrf"] = object()
    assert run_checks(app, deploy=True) == []


def test_added_checks_run_and_deploy_only_ones_wait_for_deploy():
    app = App(debug=True)
    app.add_check(lambda app: [CheckMessage("mine.E001", "always", level="error")])
    app.add_check(lambda app: [CheckMessage("mine.W001", "deploy only")], deploy=True)
    assert ids(run_checks(app)) == {"mine.E001"}
    assert {"mine.E001", "mine.W001"} <= ids(run_checks(app, deploy=True))


def test_check_command_exit_status(tmp_path, monkeypatch):
    (tmp_path / "checked.py").write_text(
        textwrap.dedent(
            f"""
            from oakling import App
            from oakling.config import Settings

            app = App(settings=Settings(SECRET_KEY={STRONG_KEY!r}, ALLOWED_HOSTS=["a.example"]))
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    runner = CliRunner()
    plain = runner.invoke(main, ["check", "checked:app"])
    assert plain.exit_code == 0, plain.output
    assert "no issues" in plain.output
    deploy = runner.invoke(main, ["check", "--deploy", "checked:app"])
    assert deploy.exit_code == 1
    assert "oakling.W004" in deploy.output and "HINT:" in deploy.output
    assert "oakling.W001" not in deploy.output
