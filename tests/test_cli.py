from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from oakling import App
from oakling.cli import load_app, main

APP_SOURCE = textwrap.dedent(
    """
    from oakling import App, Router

    app = App(secret_key="s" * 50)
    api = Router("/api", name="api")

    @app.get("/")
    def index():
        return "hi"

    @api.post("/tasks")
    async def create_task():
        return {}

    app.include(api)

    def create_app():
        return app
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "hello_project.py").write_text(APP_SOURCE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("OAKLING_APP", raising=False)
    yield tmp_path
    sys.modules.pop("hello_project", None)
    sys.modules.pop("app", None)


@pytest.mark.parametrize(
    "target", ["hello_project", "hello_project:app", "hello_project:create_app()"]
)
def test_load_app_discovery_like_flask_run(project, target):
    assert isinstance(load_app(target), App)


def test_load_app_from_app_py_and_env(project, monkeypatch):
    (project / "app.py").write_text(APP_SOURCE)
    assert isinstance(load_app(None), App)
    monkeypatch.setenv("OAKLING_APP", "hello_project:app")
    assert load_app(None).url_path_for("api:create_task") == "/api/tasks"


def test_load_app_errors_are_usage_errors(project):
    with pytest.raises(click.UsageError, match="cannot import"):
        load_app("no_such_module")
    with pytest.raises(click.UsageError, match="no attribute"):
        load_app("hello_project:missing")
    with pytest.raises(click.UsageError, match="none of app.py"):
        load_app(None)


def test_routes_command_lists_the_table(project):
    result = CliRunner().invoke(main, ["routes", "hello_project:app"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["Methods", "Path", "Name", "Handler"]
    assert any(line.split()[:3] == ["GET", "/", "index"] for line in lines)
    assert any(line.split()[:3] == ["POST", "/api/tasks", "api:create_task"] for line in lines)


def test_help_lists_commands_without_an_app(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "routes", "shell", "demo"):
        assert command in result.output


def test_app_cli_commands_are_found(project):
    (project / "app.py").write_text(
        APP_SOURCE
        + textwrap.dedent(
            """
            import click

            @click.command("hello")
            def hello_command():
                click.echo("hello from the app")

            app.cli_commands.append(hello_command)
            """
        )
    )
    result = CliRunner().invoke(main, ["hello"])
    assert result.exit_code == 0, result.output
    assert "hello from the app" in result.output


def test_unknown_command_is_a_clear_error(project):
    result = CliRunner().invoke(main, ["nope"])
    assert result.exit_code != 0
    assert "No such command" in result.output


def test_shell_has_the_app_and_context_names(project):
    (project / "app.py").write_text(
        APP_SOURCE + "\n@app.shell_context_processor\ndef extra():\n    return {'answer': 42}\n"
    )
    result = CliRunner().invoke(main, ["shell"], input="print(type(app).__name__, answer)\n")
    assert result.exit_code == 0, result.output
    assert "App 42" in result.output


def test_run_passes_server_limits_to_uvicorn(project, monkeypatch):
    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    result = CliRunner().invoke(
        main,
        [
            "run",
            "hello_project:app",
            "--limit-concurrency",
            "100",
            "--backlog",
            "512",
            "--timeout-graceful-shutdown",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert seen["limit_concurrency"] == 100
    assert seen["backlog"] == 512
    assert seen["timeout_graceful_shutdown"] == 3.0


def test_run_shows_oaklings_info_lines_such_as_an_outage_ending(project, monkeypatch, capsys):
    import logging
    import logging.config

    import uvicorn

    from oakling.outages import outages

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    assert CliRunner().invoke(main, ["run", "hello_project:app"]).exit_code == 0
    names = ("oakling", "uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {
        name: (
            logging.getLogger(name).handlers[:],
            logging.getLogger(name).propagate,
            logging.getLogger(name).level,
        )
        for name in names
    }
    try:
        logging.config.dictConfig(seen["log_config"])  # what uvicorn does with it
        outages.failed("Redis", ConnectionError("refused"))
        outages.recovered("Redis")
        logging.getLogger("oakling.request").info("a client left")
    finally:
        # NOTE: the config's handlers write to this test's captured stderr.
        for name, (handlers, propagate, level) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.setLevel(level)
    err = capsys.readouterr().err
    assert "oakling.outage: Redis is unavailable (ConnectionError: refused)" in err
    assert "oakling.outage: Redis is available again after" in err
    assert "oakling.request: a client left" in err


FACTORY_ONLY = textwrap.dedent(
    """
    from oakling import App

    def create_app():
        return App(secret_key="s" * 50)
    """
)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("hello_project", ("hello_project:app", False)),
        ("hello_project.py", ("hello_project:app", False)),
        ("hello_project:app", ("hello_project:app", False)),
        ("hello_project:create_app()", ("hello_project:create_app", True)),
        ("factory_only", ("factory_only:create_app", True)),
        (None, ("app:create_app", True)),
    ],
)
def test_workers_and_reload_import_the_app_that_was_loaded(project, monkeypatch, target, expected):
    import uvicorn

    (project / "factory_only.py").write_text(FACTORY_ONLY)
    (project / "app.py").write_text(FACTORY_ONLY)
    seen: dict[str, object] = {}

    def fake_run(app: object, **options: object) -> None:
        seen.update(options, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    try:
        result = CliRunner().invoke(main, ["run", *([target] if target else []), "--workers", "2"])
    finally:
        sys.modules.pop("factory_only", None)
    assert result.exit_code == 0, result.output
    assert (seen["app"], seen["factory"]) == expected
    assert seen["workers"] == 2


HEAD_VARIABLES = ("OAKLING_MAX_HEADER_BYTES", "OAKLING_MAX_HEADERS", "OAKLING_HEADER_TIMEOUT")


@pytest.fixture
def head_env():
    import os

    from oakling.server import head_limits

    # NOTE: `oakling run` writes these into os.environ (for its workers);
    # put back what was there so no later test's subprocess inherits them.
    saved = {name: os.environ.pop(name, None) for name in HEAD_VARIABLES}
    yield
    for name, value in saved.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value
    head_limits(reload=True)


def test_run_bounds_request_heads_by_default(project, monkeypatch, head_env):
    import uvicorn

    from oakling.server import head_limits

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    result = CliRunner().invoke(main, ["run", "hello_project:app"])
    assert result.exit_code == 0, result.output
    # NOTE: uvicorn's own httptools protocol has no head size or time limit.
    assert seen["http"] == "oakling.server:HttpToolsProtocol"
    limits = head_limits()
    assert (limits.max_bytes, limits.max_count, limits.timeout) == (65536, 100, 10.0)


def test_run_header_limit_options_reach_worker_processes(project, monkeypatch, head_env):
    import os

    import uvicorn

    from oakling.server import head_limits

    monkeypatch.setattr(uvicorn, "run", lambda app, **options: None)
    argv = ["run", "hello_project:app", "--max-header-bytes", "8192", "--max-headers", "20"]
    result = CliRunner().invoke(main, [*argv, "--header-timeout", "2.5"])
    assert result.exit_code == 0, result.output
    # The environment is what uvicorn's and gunicorn's workers inherit.
    assert os.environ["OAKLING_MAX_HEADER_BYTES"] == "8192"
    assert os.environ["OAKLING_HEADER_TIMEOUT"] == "2.5"
    limits = head_limits()
    assert (limits.max_bytes, limits.max_count, limits.timeout) == (8192, 20, 2.5)


def test_run_refuses_a_header_limit_too_small_to_serve(project, head_env):
    result = CliRunner().invoke(main, ["run", "hello_project:app", "--max-header-bytes", "10"])
    assert result.exit_code == 2
    assert "--max-header-bytes" in result.output


def test_demo_takes_the_same_server_options_as_run(monkeypatch, head_env):
    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    argv = ["demo", "--port", "8123", "--timeout-graceful-shutdown", "4", "--backlog", "64"]
    result = CliRunner().invoke(main, [*argv, "--limit-concurrency", "50"])
    assert result.exit_code == 0, result.output
    assert seen["port"] == 8123
    assert seen["timeout_graceful_shutdown"] == 4.0
    assert seen["backlog"] == 64
    assert seen["limit_concurrency"] == 50
    assert seen["http"] == "oakling.server:HttpToolsProtocol"


APP_COMMANDS_SOURCE = textwrap.dedent(
    """
    import click
    from oakling import App
    from oakling.cli import with_app

    app = App(secret_key="s" * 50)
    app.extensions["greeting"] = "hello from the app"

    @app.get("/")
    def index():
        return "hi"

    @app.cli.command("greet")
    @click.option("--name", default="world")
    def greet(app, name):
        click.echo(f"{app.extensions['greeting']}, {name}")

    @app.cli.command("count-routes")
    @with_app
    def count_routes(app):
        click.echo(f"routes: {len(app.route_table.rows)}")

    @click.command("plain")
    def plain():
        click.echo("plain command")

    app.cli_commands.append(plain)
    """
)


@pytest.fixture
def commands_project(project: Path) -> Path:
    (project / "commands_app.py").write_text(APP_COMMANDS_SOURCE)
    yield project
    sys.modules.pop("commands_app", None)


@pytest.mark.parametrize("order", ["app-first", "help-first"])
def test_help_lists_the_apps_own_commands_with_app_option(commands_project, order):
    args = ["--app", "commands_app:app", "--help"]
    if order == "help-first":
        args = ["--help", "--app", "commands_app:app"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.splitlines() if line.startswith("  ")}
    assert {"greet", "count-routes", "plain", "run", "routes"} <= listed
    assert "--app" in result.output


def test_help_lists_the_apps_commands_from_oakling_app_env(commands_project, monkeypatch):
    monkeypatch.setenv("OAKLING_APP", "commands_app")
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "greet" in result.output


def test_app_commands_get_the_app_by_argument_and_with_app(commands_project):
    runner = CliRunner()
    result = runner.invoke(main, ["--app", "commands_app:app", "greet", "--name", "Ada"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello from the app, Ada\n"
    result = runner.invoke(main, ["--app=commands_app", "count-routes"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("routes: ")
    result = runner.invoke(main, ["--app", "commands_app", "plain"])
    assert result.output == "plain command\n"


def test_app_option_reaches_builtin_and_battery_commands(commands_project):
    result = CliRunner().invoke(main, ["--app", "hello_project:app", "routes"])
    assert result.exit_code == 0, result.output
    assert "api:create_task" in result.output


def test_factory_app_is_loaded_once_per_command_line(commands_project):
    (commands_project / "factory_app.py").write_text(
        textwrap.dedent(
            """
            import click
            from oakling import App

            made = []

            def create_app():
                app = App(secret_key="s" * 50)
                made.append(app)

                @app.cli.command("made")
                def made_command(app):
                    click.echo(f"{len(made)} {app is made[-1]}")

                return app
            """
        )
    )
    try:
        result = CliRunner().invoke(main, ["--app", "factory_app:create_app()", "made"])
        assert result.exit_code == 0, result.output
        assert result.output == "1 True\n"
    finally:
        sys.modules.pop("factory_app", None)


def test_help_survives_an_app_that_fails_to_import(project):
    (project / "broken_app.py").write_text("raise RuntimeError('boom at import')\n")
    try:
        result = CliRunner().invoke(main, ["--app", "broken_app", "--help"])
        assert result.exit_code == 0, result.output
        assert "run" in result.output
        assert "boom at import" in result.output
        result = CliRunner().invoke(main, ["--app", "broken_app", "nope"])
        assert result.exit_code != 0
    finally:
        sys.modules.pop("broken_app", None)


def test_with_app_works_for_a_command_outside_the_app(commands_project):
    from oakling.cli import with_app

    @click.command("outside")
    @with_app
    def outside(app):
        click.echo(type(app).__name__ + " " + app.extensions["greeting"])

    main.add_command(outside)
    try:
        result = CliRunner().invoke(main, ["--app", "commands_app", "outside"])
        assert result.exit_code == 0, result.output
        assert result.output == "App hello from the app\n"
    finally:
        main.commands.pop("outside")
