"""``oakling db``: migration commands (Flask-Migrate's ``flask db``, Django's ``migrate``).

Published in the ``oakling.commands`` entry-point group, so ``oakling db ...``
works in any project with ``oakling[db]`` installed. The app is found like
``oakling run`` finds it (``--app``, ``OAKLING_APP``, or ``app.py``, ``main.py``,
``wsgi.py`` in the current folder); its Database is ``app.extensions["db"]``.
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

    def database(self) -> migrations.MigrationTarget:
        from oakling.cli import load_app

        app = load_app(self.app)
        database = getattr(app, "extensions", {}).get("db")
        if database is None:
            raise click.ClickException(
                "the app has no database: add oakling.db's Database to it (Database().install(app))"
            )
        return database  # type: ignore[no-any-return]  # NOTE: extensions are untyped


def _run(action: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a migrations function, turning Alembic's errors into a CLI error (exit 1)."""
    try:
        return action(*args, **kwargs)
    except migrations.CommandError as ex:
        raise click.ClickException(str(ex)) from None


@click.group()
@click.option("--app", "app", default=None, help="The app as module:attr (default: discovered).")
@click.option(
    "-d",
    "--directory",
    default=migrations.DEFAULT_DIRECTORY,
    show_default=True,
    help="The migrations folder.",
)
@click.option(
    "--version-table",
    default=migrations.DEFAULT_VERSION_TABLE,
    show_default=True,
    help="The table recording applied revisions.",
)
@click.pass_context
def db(ctx: click.Context, app: str | None, directory: str, version_table: str) -> None:
    """Manage the database schema with migrations (Alembic)."""
    ctx.obj = _Options(app=app, directory=directory, version_table=version_table)


@db.command()
@click.pass_obj
def init(options: _Options) -> None:
    """Create the migrations folder (env.py, script template, versions/)."""
    path = _run(migrations.init, options.directory)
    click.echo(f"Created {path}/: now run 'oakling db makemigrations -m \"initial\"'")


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
        directory=options.directory,
        version_table=options.version_table,
        empty=empty,
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
        directory=options.directory,
        version_table=options.version_table,
        progress=click.echo,
        sql=sql,
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
        directory=options.directory,
        version_table=options.version_table,
        progress=click.echo,
        sql=sql,
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
    heads = _run(migrations.current, options.database(), version_table=options.version_table)
    if not heads:
        click.echo("(no migration applied)")
    for head in heads:
        click.echo(head)


@db.command()
@click.pass_obj
def check(options: _Options) -> None:
    """Exit 1 when the database is behind or differs from the models (for CI)."""
    try:
        migrations.check(
            options.database(), directory=options.directory, version_table=options.version_table
        )
    except migrations.AutogenerateDiffsDetected as ex:
        raise click.ClickException(
            f"models and database differ: run 'oakling db makemigrations'\n{ex}"
        ) from None
    except migrations.CommandError as ex:
        raise click.ClickException(str(ex)) from None
    click.echo("No changes detected: models and database match")
