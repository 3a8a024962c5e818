"""Router.cli: commands a router contributes (Flask's ``bp.cli``), run with test_cli_runner()."""

from __future__ import annotations

import click
import pytest

from oakling import App, Router

SECRET = "router-cli-secret-" + "c" * 30


def make_app() -> App:
    app = App(secret_key=SECRET)
    users = Router("/users", name="users")

    @users.cli.command("create")
    @click.argument("username")
    def create(username: str) -> None:
        """Create the user USERNAME."""
        click.echo(f"created {username}")

    @users.cli.command("count")
    def count(app: App) -> None:
        """Count the users' routes of the app."""
        click.echo(f"{len(app.route_table.rows)} routes in {type(app).__name__}")

    @users.get("/", name="list")
    def list_users() -> list[str]:
        return []

    tools = Router(name="tools", cli_group=None)

    @tools.cli.command("reindex")
    def reindex() -> None:
        """Rebuild the search index."""
        click.echo("reindexed")

    admin = Router("/admin", name="admin", cli_group="staff")

    @admin.cli.command("audit")
    def audit() -> None:
        """Print the audit log."""
        click.echo("audit ok")

    @app.cli.command("seed")
    def seed() -> None:
        """Seed the database."""
        click.echo("seeded")

    app.include(users)
    app.include(tools)
    app.include(admin)
    return app


@pytest.fixture(autouse=True)
def _no_app_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("OAKLING_APP", raising=False)
    monkeypatch.chdir(tmp_path)


def test_help_lists_the_router_under_its_name() -> None:
    result = make_app().test_cli_runner().invoke(args=["--help"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.startswith("  ")}
    assert "Commands of the 'users' router." in lines["users"]
    assert "reindex" in lines  # NOTE: cli_group=None: at the top level
    assert "staff" in lines and "admin" not in lines
    assert "seed" in lines
    assert "create" not in lines  # NOTE: inside its group, not at the top level


def test_group_help_lists_the_routers_commands() -> None:
    result = make_app().test_cli_runner().invoke(args=["users", "--help"])
    assert result.exit_code == 0, result.output
    assert "create" in result.output and "Create the user USERNAME." in result.output
    assert "count" in result.output


def test_a_router_command_runs_with_its_arguments_and_gets_the_app() -> None:
    runner = make_app().test_cli_runner()
    result = runner.invoke(args=["users", "create", "ann"])
    assert result.exit_code == 0, result.output
    assert result.output == "created ann\n"
    result = runner.invoke(args=["users", "count"])
    assert result.exit_code == 0, result.output
    assert result.output.endswith("routes in App\n")
    assert runner.invoke(args=["reindex"]).output == "reindexed\n"
    assert runner.invoke(args=["staff", "audit"]).output == "audit ok\n"


def test_an_unknown_router_command_is_a_usage_error() -> None:
    result = make_app().test_cli_runner().invoke(args=["users", "delete"])
    assert result.exit_code == 2
    assert "No such command 'delete'" in result.output


def test_routers_sharing_a_group_name_share_the_group() -> None:
    app = App(secret_key=SECRET)
    first, second = Router(name="ops"), Router(name="ops-2", cli_group="ops")

    @first.cli.command("backup")
    def backup() -> None:
        click.echo("backup")

    @second.cli.command("restore")
    def restore() -> None:
        click.echo("restore")

    app.include(first)
    app.include(second)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["ops", "backup"]).output == "backup\n"
    assert runner.invoke(args=["ops", "restore"]).output == "restore\n"


def test_a_router_not_included_adds_no_commands() -> None:
    app = App(secret_key=SECRET)
    stray = Router(name="stray")

    @stray.cli.command("hidden")
    def hidden() -> None:
        click.echo("hidden")

    result = app.test_cli_runner().invoke(args=["--help"])
    assert "stray" not in result.output
