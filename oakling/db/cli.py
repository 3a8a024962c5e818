"""``oakling db``: migration commands (Flask-Migrate's ``flask db``, Django's ``migrate``).

Published in the ``oakling.commands`` entry-point group, so ``oakling db ...``
works in any project with ``oakling[db]`` installed. The app is found like
``oakling run`` finds it (``--app``, ``OAKLING_APP``, or ``app.py``, ``main.py``,
``wsgi.py`` in the current folder); its Database is ``app.extensions["db"]``.

``oakling db --bind NAME ...`` migrates the named bind ``NAME`` instead of the
default database, with its own folder and version table
(``migrations_NAME/``, ``alembic_version_NAME``; see
:func:`oakling.db.migrations.bind_defaults`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from oakling.db import migrations

__all__ = ["db"]


@dataclass
class _Options:
    app: str | None
    directory: str
    version_table: str
    bind: str | None

    def database(self) -> migrations.MigrationTarget:
        from oakling.cli import load_app

        app = load_app(self.app)
        database = getattr(app, "extensions", {}).get("db")
        if database is None:
            raise click.ClickException(
                "the app has no database: add oakling.db's Database to it (Database().install(app))"
            )
        if self.bind is not None:
            keys = list(getattr(database, "bind_keys", ()))
            if self.bind not in keys:
                raise click.ClickException(
                    f"no database bind {self.bind!r}; configured: {sorted(keys) or 'none'} "
                    "(Database(binds={...}) or DATABASE_BINDS)"
                )
        return database  # type: ignore[no-any-return]  # NOTE: extensions are untyped

    @property
    def where(self) -> dict[str, Any]:
        """The keyword arguments naming the folder, version table and bind."""
        return {
            "directory": self.directory,
            "version_table": self.version_table,
            "bind": self.bind,
        }


def _run(action: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a migrations function, turning Alembic's errors into a CLI error (exit 1)."""
    try:
        return action(*args, **kwargs)
    except migrations.CommandError as ex:
        raise click.ClickException(str(ex)) from None


@click.group()
@click.option("--app", "app", default=None, help="The app as module:attr (default: discovered).")
@click.option(
    "--bind",
    default=None,
    metavar="NAME",
    help="Migrate the named bind NAME (Database(binds=...)) instead of the default database.",
)
@click.option(
    "-d",
    "--directory",
    default=None,
    help="The migrations folder [default: migrations, or migrations_NAME for --bind NAME].",
)
@click.option(
    "--version-table",
    default=None,
    help="The table recording applied revisions "
    "[default: alembic_version, or alembic_version_NAME for --bind NAME].",
)
@click.pass_context
def db(
    ctx: click.Context,
    app: str | None,
    bind: str | None,
    directory: str | None,
    version_table: str | None,
) -> None:
    """Manage the database schema with migrations (Alembic)."""
    default_directory, default_table = _run(migrations.bind_defaults, bind)
    ctx.obj = _Options(
        app=app,
        directory=directory or default_directory,
        version_table=version_table or default_table,
        bind=bind,
    )


@db.command()
@click.pass_obj
def init(options: _Options) -> None:
    """Create the migrations folder (env.py, script template, versions/)."""
    path = _run(migrations.init, options.directory)
    flag = f"--bind {options.bind} " if options.bind is not None else ""
    click.echo(f"Created {path}/: now run 'oakling db {flag}makemigrations -m \"initial\"'")


@db.command()
@click.option("-m", "--message", default=None, help="What the migration does (names the file).")
@click.option("--empty", is_flag=True, help="Write a revision even without changes.")
@click.pass_obj
def makemigrations(options: _Options, message: str | None, empty: bool) -> None:
    """Write a migration for the changes between models and database."""
    path = _run(
        migrations.makemigrations,
        options.database(),
        message,
        empty=empty,
        **options.where,
    )
    if path is None:
        click.echo("No changes detected")
    else:
        click.echo(f"Created {path}")


@db.command()
@click.argument("revision", default="heads")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@click.pass_obj
def migrate(options: _Options, revision: str, sql: bool) -> None:
    """Apply migrations up to REVISION (default: all)."""
    _run(
        migrations.migrate,
        options.database(),
        revision,
        progress=click.echo,
        sql=sql,
        **options.where,
    )


@db.command()
@click.argument("revision", default="-1")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it (FROM:TO).")
@click.pass_obj
def downgrade(options: _Options, revision: str, sql: bool) -> None:
    """Revert migrations down to REVISION (default: the last one; 'base': all)."""
    _run(
        migrations.downgrade,
        options.database(),
        revision,
        progress=click.echo,
        sql=sql,
        **options.where,
    )


@db.command()
@click.pass_obj
def history(options: _Options) -> None:
    """List the migrations, newest first."""
    for script in _run(migrations.history, options.directory):
        head = " (head)" if script.is_head else ""
        click.echo(f"{script.revision}{head}  {script.doc}")


@db.command()
@click.pass_obj
def current(options: _Options) -> None:
    """Show the migration the database is at."""
    heads = _run(
        migrations.current,
        options.database(),
        version_table=options.version_table,
        bind=options.bind,
    )
    if not heads:
        click.echo("(no migration applied)")
    for head in heads:
        click.echo(head)


@db.command()
@click.pass_obj
def check(options: _Options) -> None:
    """Exit 1 when the database is behind or differs from the models (for CI)."""
    try:
        migrations.check(options.database(), **options.where)
    except migrations.AutogenerateDiffsDetected as ex:
        raise click.ClickException(
            f"models and database differ: run 'oakling db makemigrations'\n{ex}"
        ) from None
    except migrations.CommandError as ex:
        raise click.ClickException(str(ex)) from None
    click.echo("No changes detected: models and database match")
