"""app.test_cli_runner(): click's CliRunner bound to the app (Flask's)."""

from __future__ import annotations

import click

from oakling import App


def make_app() -> App:
    app = App(secret_key="cli-runner-secret-" + "r" * 30)

    @app.get("/hello", name="hello")
    def hello() -> str:
        return "hi"

    @click.command("greet")
    @click.argument("name")
    def greet(name: str) -> None:
        """Greet NAME."""
        click.echo(f"hello {name}")

    app.cli_commands.append(greet)
    return app


def test_runner_runs_the_apps_own_commands_without_oakling_app(monkeypatch) -> None:
    monkeypatch.delenv("OAKLING_APP", raising=False)
    result = make_app().test_cli_runner().invoke(args=["greet", "ann"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello ann\n"


def test_runner_binds_the_app_for_built_in_commands(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("OAKLING_APP", raising=False)
    monkeypatch.chdir(tmp_path)  # no app.py here: only the bound app can answer
    result = make_app().test_cli_runner().invoke(args=["routes"])
    assert result.exit_code == 0, result.output
    assert "/hello" in result.output and "hello" in result.output


def test_runner_runs_a_given_command() -> None:
    @click.command()
    def ping() -> None:
        click.echo("pong")

    result = make_app().test_cli_runner().invoke(ping)
    assert result.output == "pong\n"


def test_the_binding_ends_with_invoke(monkeypatch, tmp_path) -> None:
    from oakling.cli import bound_app

    make_app().test_cli_runner().invoke(args=["routes"])
    assert bound_app.get(None) is None
