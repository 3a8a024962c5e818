"""The ``oakling`` command: run, routes, check, shell, new, demo (batteries add groups).

App discovery follows ``flask run``: ``module:attr``, ``module:factory()``,
or ``module`` alone (then ``app``, ``application``, or a ``create_app()``
factory in it); the target comes from a command's own argument, else
``oakling --app module:app``, else ``OAKLING_APP`` (from the environment,
then from ``.env`` in the current folder), else the first of ``app.py``,
``main.py``, ``wsgi.py`` in the current folder.

An app adds commands with ``@app.cli.command()`` (Flask's) or by appending
click commands to ``app.cli_commands``; ``oakling --help`` lists them. A
command gets the app with ``@with_app`` or, under ``app.cli``, by taking a
parameter named ``app``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import click

__all__ = ["AppGroup", "bound_app", "current_app_for_command", "load_app", "main", "with_app"]

# NOTE: keys of the root click context's ``meta``, shared by every subcommand.
_TARGET_KEY = "oakling.app_target"
_LOADED_KEY = "oakling.loaded_app"


class NoAppException(click.UsageError):
    """No app could be found or imported (shown as a usage error)."""


def _from_module(module: Any, attr: str | None, target: str) -> Any:
    from oakling.applications import App

    if attr:
        if attr.endswith("()"):
            factory = getattr(module, attr[:-2], None)
            if factory is None:
                raise NoAppException(f"{target!r}: module has no factory {attr[:-2]!r}")
            return factory()
        app = getattr(module, attr, None)
        if app is None:
            raise NoAppException(f"{target!r}: module has no attribute {attr!r}")
        return app
    for name in ("app", "application"):
        app = getattr(module, name, None)
        if isinstance(app, App):
            return app
    found = [value for value in vars(module).values() if isinstance(value, App)]
    if len(found) == 1:
        return found[0]
    factory = getattr(module, "create_app", None) or getattr(module, "make_app", None)
    if callable(factory):
        return factory()
    raise NoAppException(
        f"{target!r} defines no 'app', 'application' or create_app(); name it as module:attr"
    )


def _resolve_target(target: str | None) -> tuple[str, str]:
    """Return ``(module name, attribute)`` for ``target``, found as ``load_app`` finds it.

    Raises:
        NoAppException: When no target is given and no app file is here.
    """
    target = target or _cli_target() or os.environ.get("OAKLING_APP") or _dotenv_target()
    if not target:
        for candidate in ("app.py", "main.py", "wsgi.py"):
            if Path(candidate).is_file():
                target = candidate[:-3]
                break
        else:
            raise NoAppException(
                "no app given and none of app.py, main.py, wsgi.py here; "
                "pass one (oakling run module:app) or set OAKLING_APP"
            )
    module_name, _, attr = target.partition(":")
    if module_name.endswith(".py"):
        module_name = module_name[:-3].replace(os.sep, ".")
    return module_name, attr


#: The app ``load_app(None)`` returns, set by ``app.test_cli_runner().invoke``.
bound_app: ContextVar[Any] = ContextVar("oakling.cli.bound_app")


def load_app(target: str | None = None) -> Any:
    """Import and return the app named by ``target`` (see the module docs).

    Raises:
        NoAppException: When nothing can be found, saying where it looked.
    """
    if target is None:
        bound = bound_app.get(None)
        if bound is not None:
            return bound
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, attr = _resolve_target(target)
    target = f"{module_name}:{attr}" if attr else module_name
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as ex:
        if ex.name == module_name.split(".")[0] or ex.name == module_name:
            raise NoAppException(f"cannot import {module_name!r}: {ex}") from None
        raise
    return _from_module(module, attr or None, target)


def _cli_target() -> str | None:
    """Return the ``oakling --app`` target of the running command, if any."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    target = ctx.meta.get(_TARGET_KEY)
    return str(target) if target else None


def _dotenv_target() -> str | None:
    """Return ``OAKLING_APP`` from ``.env`` in the current folder (as ``flask`` reads it)."""
    if not Path(".env").is_file():
        return None
    from dotenv import dotenv_values

    value = dotenv_values(".env").get("OAKLING_APP")
    return value or None


def current_app_for_command() -> Any:
    """Return the app of the running ``oakling`` command, loading it once.

    The app whose command is running when the command came from
    ``app.cli``/``app.cli_commands``; otherwise the app found as
    :func:`load_app` finds it (``--app``, ``OAKLING_APP``, ``app.py`` ...).

    Raises:
        NoAppException: When no app can be found.
        RuntimeError: Outside a click command.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        raise RuntimeError("current_app_for_command() works only inside an oakling command")
    loaded = ctx.meta.get(_LOADED_KEY)
    if loaded is None:
        loaded = ctx.meta[_LOADED_KEY] = load_app(None)
    return loaded


def with_app(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a click command the app as its first argument.

    Flask's ``with_appcontext``, with the app passed instead of pushed::

        @app.cli.command("seed")
        @with_app
        def seed(app: App) -> None:
            ...

    Works for commands of any origin (an app's, a battery's entry point):
    the app is the one ``oakling`` loaded for the command line, loaded once.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(current_app_for_command(), *args, **kwargs)

    # NOTE: the click parameters declared on ``func`` stay on the wrapper
    # (functools.wraps copies ``__click_params__``); ``app`` is not one.
    wrapper.__signature__ = _without_first(func)  # type: ignore[attr-defined]  # NOTE: for introspection
    return wrapper


def _without_first(func: Callable[..., Any]) -> inspect.Signature:
    signature = inspect.signature(func)
    return signature.replace(parameters=list(signature.parameters.values())[1:])


class AppGroup(click.Group):
    """``app.cli``: the app's own commands (Flask's ``AppGroup``).

    ``@app.cli.command()`` makes a click command as ``click.command`` does;
    a callback with a parameter named ``app`` that no click option fills
    gets the app there (as ``@with_app`` gives it).
    """

    def command(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        make = super().command(*args, **kwargs)

        def decorator(func: Callable[..., Any]) -> click.Command:
            params = inspect.signature(func).parameters
            declared = {param.name for param in getattr(func, "__click_params__", [])}
            if "app" in params and "app" not in declared:
                func = _inject_app(func)
            return make(func)  # type: ignore[no-any-return]

        return decorator


def _inject_app(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["app"] = current_app_for_command()
        return func(*args, **kwargs)

    return wrapper


def _app_commands(app: Any) -> dict[str, click.Command]:
    """Return ``{name: command}`` from the routers' ``cli``, ``app.cli`` and ``app.cli_commands``.

    A router's commands form a group named after its ``cli_group`` (two
    routers with one group name share it), or join the top level when
    ``cli_group`` is None; the app's own commands win a name they share.
    """
    found: dict[str, click.Command] = {}
    iter_routers = getattr(app, "iter_routers", None)
    for router in iter_routers() if iter_routers is not None else ():
        group = router.__dict__.get("_cli") if router is not app else None
        if not isinstance(group, click.Group) or not group.commands:
            continue
        if router.cli_group is None:
            found.update(group.commands)
            continue
        existing = found.get(router.cli_group)
        if isinstance(existing, click.Group):
            group = AppGroup(
                router.cli_group,
                commands={**existing.commands, **group.commands},
                help=existing.help,
            )
        found[router.cli_group] = group
    for candidate in getattr(app, "cli_commands", []):
        if isinstance(candidate, click.Command) and candidate.name:
            found[candidate.name] = candidate
    group = getattr(app, "_cli", None)
    if isinstance(group, click.Group):
        found.update(group.commands)
    return found


class _OaklingGroup(click.Group):
    """Built-in commands, then entry-point commands, then the app's own.

    Batteries publish click commands in the ``oakling.commands`` entry-point
    group; an app adds its own with ``@app.cli.command()`` or to
    ``app.cli_commands``. ``oakling --help`` imports the app to list those
    (as ``flask --help`` does); without an app here it lists the others, and
    an app that fails to import is named on stderr, not fatal.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:  # noqa: D102
        # NOTE: ``--app`` must be known before ``--help`` lists the app's
        # commands, whatever their order on the command line.
        for index, arg in enumerate(args):
            if arg == "--app" and index + 1 < len(args):
                ctx.meta[_TARGET_KEY] = args[index + 1]
                break
            if arg.startswith("--app="):
                ctx.meta[_TARGET_KEY] = arg[len("--app=") :]
                break
            if not arg.startswith("-"):
                break
        return super().parse_args(ctx, args)

    def _loaded_app(self, ctx: click.Context, *, quiet: bool) -> Any:
        loaded = ctx.meta.get(_LOADED_KEY)
        if loaded is not None:
            return loaded
        with ctx.scope(cleanup=False):
            try:
                loaded = load_app(None)
            except click.UsageError:
                return None
            except Exception as ex:  # noqa: BLE001 - a broken app must not hide the built-ins
                if not quiet:
                    raise
                click.echo(f"Error: could not load the app's commands: {ex!r}", err=True)
                return None
        ctx.meta[_LOADED_KEY] = loaded
        return loaded

    def _entry_point_commands(self) -> dict[str, click.Command]:
        from importlib.metadata import entry_points

        found: dict[str, click.Command] = {}
        for entry in entry_points(group="oakling.commands"):
            try:
                command = entry.load()
            except Exception:  # noqa: BLE001 - a broken battery must not break the CLI
                continue
            if isinstance(command, click.Command):
                found[entry.name] = command
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: D102
        names = {*super().list_commands(ctx), *self._entry_point_commands()}
        app = self._loaded_app(ctx, quiet=True)
        if app is not None:
            names.update(_app_commands(app))
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: D102
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        command = self._entry_point_commands().get(cmd_name)
        if command is not None:
            return command
        app = self._loaded_app(ctx, quiet=False)
        if app is None:
            return None
        return _app_commands(app).get(cmd_name)


@click.group(cls=_OaklingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--app",
    "app_target",
    default=None,
    metavar="MODULE:APP",
    help="The app (module:attr or module:factory()); default OAKLING_APP, then app.py.",
)
@click.version_option(package_name="oakling")
def main(app_target: str | None) -> None:
    """Run and manage oakling apps."""
    if app_target:
        click.get_current_context().meta[_TARGET_KEY] = app_target


def _server_options(func: Any) -> Any:
    """Add the uvicorn options that ``run`` and ``demo`` share."""
    options = [
        click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind."),
        click.option("--port", default=8000, show_default=True, type=int, help="Port to bind."),
        click.option(
            "--limit-concurrency",
            default=None,
            type=int,
            help="Answer 503 beyond this many open connections and tasks (uvicorn's option).",
        ),
        click.option(
            "--backlog", default=2048, show_default=True, type=int, help="Listen queue length."
        ),
        click.option(
            "--timeout-graceful-shutdown",
            "--graceful-timeout",
            "graceful_timeout",
            default=10.0,
            show_default=True,
            type=float,
            help="Seconds to let in-flight requests finish on shutdown (streams end at once).",
        ),
        click.option(
            "--max-header-bytes",
            default=None,
            type=click.IntRange(min=1024),
            help="Largest request head (line + headers) in bytes; beyond it 431. [default: 65536]",
        ),
        click.option(
            "--max-headers",
            default=None,
            type=click.IntRange(min=1),
            help="Most header fields per request; beyond it 431.  [default: 100]",
        ),
        click.option(
            "--header-timeout",
            default=None,
            type=click.FloatRange(min=0.1),
            help="Seconds a client has to send a request head; then 408.  [default: 10]",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _uvicorn_options(
    *,
    host: str,
    port: int,
    limit_concurrency: int | None,
    backlog: int,
    graceful_timeout: float,
    max_header_bytes: int | None,
    max_headers: int | None,
    header_timeout: float | None,
) -> dict[str, Any]:
    """Return ``uvicorn.run`` keywords for the shared server options.

    The head limits travel in ``OAKLING_MAX_HEADER_BYTES``,
    ``OAKLING_MAX_HEADERS`` and ``OAKLING_HEADER_TIMEOUT``, so uvicorn's
    worker processes read them too (:mod:`oakling.server`).
    """
    from oakling.server import head_limits

    for name, value in (
        ("OAKLING_MAX_HEADER_BYTES", max_header_bytes),
        ("OAKLING_MAX_HEADERS", max_headers),
        ("OAKLING_HEADER_TIMEOUT", header_timeout),
    ):
        if value is not None:
            os.environ[name] = str(value)
    head_limits(reload=True)  # NOTE: fail here, not at the first connection.
    return {
        "host": host,
        "port": port,
        "timeout_graceful_shutdown": graceful_timeout,
        "limit_concurrency": limit_concurrency,
        "backlog": backlog,
        # SECURITY: uvicorn's own httptools protocol bounds neither the size
        # nor the read time of a request head (issue 9); this one does.
        "http": "oakling.server:HttpToolsProtocol",
        "log_config": _log_config(),
    }


def _log_config() -> dict[str, Any]:
    """Return uvicorn's logging config, plus oakling's loggers at INFO.

    Without a handler of their own, ``oakling.*`` records below WARNING
    were dropped under uvicorn: an outage's "available again" line
    (``oakling.outage``) and a client leaving mid-body (``oakling.request``)
    never showed. Their lines name the logger.
    """
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["oakling"] = {
        "()": "uvicorn.logging.DefaultFormatter",
        "fmt": "%(levelprefix)s %(name)s: %(message)s",
    }
    config["handlers"]["oakling"] = {
        "formatter": "oakling",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["oakling"] = {"handlers": ["oakling"], "level": "INFO", "propagate": False}
    return config


@contextlib.contextmanager
def _exit_zero_after_graceful_shutdown() -> Iterator[None]:
    """Exit with status 0 when uvicorn re-raises the signal it stopped on.

    Since 0.29 ("cooperative signal handling", encode/uvicorn#1600), uvicorn
    restores the handlers it found and raises the captured SIGTERM/SIGINT
    again once its graceful shutdown has finished, so with the default
    handlers the process dies by that signal (status 143, or 130 with a
    traceback) although every hook ran. The handlers found are these.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _handler(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@main.command()
@click.argument("app", required=False)
@_server_options
@click.option("--reload", is_flag=True, help="Restart when source files change (development).")
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes.")
@click.option("--debug", is_flag=True, help="Set OAKLING_DEBUG=1 (tracebacks in pages).")
@click.option(
    "--proxy-headers/--no-proxy-headers",
    default=False,
    show_default=True,
    help="Trust X-Forwarded-Proto/For from --forwarded-allow-ips (behind a proxy).",
)
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True)
def run(
    app: str | None,
    reload: bool,
    workers: int,
    debug: bool,
    proxy_headers: bool,
    forwarded_allow_ips: str,
    **server: Any,
) -> None:
    """Serve APP (module:attr) with uvicorn."""
    import uvicorn

    options = _uvicorn_options(**server)
    options["proxy_headers"] = proxy_headers
    options["forwarded_allow_ips"] = forwarded_allow_ips
    if debug:
        os.environ["OAKLING_DEBUG"] = "1"
    target = app or _cli_target() or os.environ.get("OAKLING_APP")
    loaded = load_app(target)
    with _exit_zero_after_graceful_shutdown():
        if reload or workers > 1:
            # NOTE: uvicorn needs an import string to reload or fork workers.
            import_string, factory = _import_string(target, loaded)
            workers_option = None if reload else workers
            uvicorn.run(
                import_string,
                factory=factory,
                reload=reload,
                workers=workers_option,
                **options,
            )
        else:
            uvicorn.run(loaded, **options)


def _import_string(target: str | None, app: Any) -> tuple[str, bool]:
    """Return uvicorn's import string for ``app`` and whether it names a factory.

    uvicorn imports the app again in each worker and after each reload, so
    it needs ``module:attr``; an app made by ``create_app()`` is named by its
    factory (uvicorn's ``--factory``).

    Raises:
        NoAppException: When no module-level name or factory gives ``app``.
    """
    module_name, attr = _resolve_target(target)
    if attr.endswith("()"):
        return f"{module_name}:{attr[:-2]}", True
    if attr:
        return f"{module_name}:{attr}", False
    module = sys.modules.get(module_name)
    for name, value in vars(module or object()).items():
        if value is app:
            return f"{module_name}:{name}", False
    for name in ("create_app", "make_app"):
        if callable(getattr(module, name, None)):
            return f"{module_name}:{name}", True
    raise NoAppException(
        f"cannot name the app of {module_name!r} for --reload/--workers; pass module:attr"
    )


@main.command()
@click.argument("app", required=False)
def routes(app: str | None) -> None:
    """List APP's routes: methods, path, name and handler."""
    loaded = load_app(app)
    rows = [("Methods", "Path", "Name", "Handler"), *loaded.route_table.rows]
    widths = [max(len(row[index]) for row in rows) for index in range(4)]
    for number, row in enumerate(rows):
        click.echo("  ".join(cell.ljust(widths[index]) for index, cell in enumerate(row)).rstrip())
        if number == 0:
            click.echo("  ".join("-" * width for width in widths))


@main.command()
@click.argument("app", required=False)
@click.option("--deploy", is_flag=True, help="Also run the production deployment checks.")
def check(app: str | None, deploy: bool) -> None:
    """Report what APP lacks; with --deploy, for production (Django's check).

    Exits with status 1 when any check reports a message.
    """
    from oakling.checks import run_checks

    loaded = load_app(app)
    messages = run_checks(loaded, deploy=deploy)
    for message in messages:
        click.echo(str(message))
    if messages:
        errors = sum(message.level == "error" for message in messages)
        click.echo(
            f"System check identified {len(messages)} issue(s) ({errors} error(s)).", err=True
        )
        sys.exit(1)
    click.echo("System check identified no issues.")


@main.command()
@click.argument("app", required=False)
def shell(app: str | None) -> None:
    """Start a Python shell with ``app`` loaded (IPython when installed)."""
    import code

    loaded = load_app(app)
    namespace: dict[str, Any] = {"app": loaded}
    for hook in getattr(loaded, "shell_context_processors", []):
        namespace.update(hook())
    banner = (
        f"Python {sys.version.split()[0]} on {sys.platform}\noakling app: {loaded!r} (as 'app')"
    )
    try:
        from IPython import start_ipython

        start_ipython(argv=[], user_ns=namespace)
    except ImportError:
        code.interact(banner=banner, local=namespace)


@main.command()
@click.argument("name")
@click.option(
    "--minimal", is_flag=True, help="One app.py with its test (Flask-sized), not a full project."
)
@click.option(
    "--directory",
    "-d",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the project's folder is made.",
)
def new(name: str, minimal: bool, directory: str) -> None:
    """Start a project NAME in a new folder (Django's startproject).

    The full layout has a settings class, an app factory, a router, models
    and their first migration, templates, static files, the security and
    auth batteries, and tests; --minimal writes one app.py and its test.
    """
    from oakling._project import create_project
    from oakling.exceptions import ImproperlyConfigured

    try:
        root = create_project(name, directory, minimal=minimal)
    except ImproperlyConfigured as ex:
        raise click.UsageError(str(ex)) from None
    click.echo(f"Created {root}")
    steps = ["cd " + str(root)]
    if not minimal:
        steps += ["pip install -e '.[dev]'", "oakling db migrate"]
    steps += ["pytest", "oakling run"]
    click.echo("Next:\n  " + "\n  ".join(steps))


@main.command()
@_server_options
def demo(**server: Any) -> None:
    """Serve the Tasks demo (examples/tasks) on HOST:PORT."""
    import uvicorn

    options = _uvicorn_options(**server)
    root = Path(__file__).resolve().parent.parent
    for base in (root, Path.cwd()):
        if (base / "examples" / "tasks" / "app.py").is_file():
            sys.path.insert(0, str(base))
            break
    else:
        raise click.ClickException(
            "the demo ships with oakling's source checkout (examples/tasks); run from there"
        )
    from examples.tasks.app import create_app

    click.echo(
        f"oakling demo: http://{options['host']}:{options['port']}/"
        "  (API at /api/tasks, Ctrl+C to stop)"
    )
    # NOTE: the page's event stream ends at Ctrl+C/SIGTERM (oakling._shutdown),
    # so the graceful timeout only bounds ordinary in-flight requests.
    with _exit_zero_after_graceful_shutdown():
        uvicorn.run(create_app(), **options)


if __name__ == "__main__":  # pragma: no cover
    main()
