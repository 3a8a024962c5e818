"""``oakling createsuperuser`` and ``oakling changepassword`` (Django's commands).

Published in the ``oakling.commands`` entry-point group. The app is found
like ``oakling run`` finds it (``--app``, ``OAKLING_APP``, or ``app.py``,
``main.py``, ``wsgi.py`` in the current folder); it must have the Database
and Auth batteries. Passwords are typed twice with hidden input and checked
by the password validators; ``createsuperuser --noinput`` reads them from
``OAKLING_SUPERUSER_PASSWORD`` (Django's ``DJANGO_SUPERUSER_PASSWORD``), for
scripts and containers.
"""

from __future__ import annotations

import os
from typing import Any

import click

from .services import UsernameTaken, create_superuser_sync, get_user_by_username_sync
from .usernames import InvalidUsername
from .validators import PasswordValidationError, validate_password

__all__ = ["changepassword", "createsuperuser"]

_APP_HELP = "The app as module:attr (default: discovered)."
_MAX_TRIES = 3


def _database(target: str | None) -> Any:
    from oakling.cli import load_app

    app = load_app(target)
    extensions = getattr(app, "extensions", {})
    if "db" not in extensions or "auth" not in extensions:
        raise click.ClickException(
            "the app has no users: install App(plugins=[Database(), Sessions(), Auth()])"
        )
    return extensions["db"]


def _prompt_password(user: Any) -> str:
    """Ask twice, hidden; re-ask on a mismatch or a validator's refusal."""
    for _ in range(_MAX_TRIES):
        password = click.prompt("Password", hide_input=True, default="", show_default=False)
        again = click.prompt("Password (again)", hide_input=True, default="", show_default=False)
        if password != again:
            click.echo("Error: your passwords didn't match.", err=True)
            continue
        if not password:
            click.echo("Error: blank passwords aren't allowed.", err=True)
            continue
        try:
            validate_password(password, user)
        except PasswordValidationError as ex:
            for message in ex.messages:
                click.echo(f"Error: {message}", err=True)
            continue
        return password
    raise click.ClickException(f"{_MAX_TRIES} unsuccessful attempts; nothing changed")


@click.command()
@click.option("--app", "target", default=None, help=_APP_HELP)
@click.option("--username", default=None, help="The superuser's username.")
@click.option("--email", default=None, help="The superuser's e-mail address.")
@click.option(
    "--noinput",
    "--no-input",
    "noinput",
    is_flag=True,
    help="Ask nothing: the password comes from OAKLING_SUPERUSER_PASSWORD.",
)
def createsuperuser(
    target: str | None, username: str | None, email: str | None, noinput: bool
) -> None:
    """Create a user with every permission (staff and superuser)."""
    database = _database(target)
    username = username or os.environ.get("OAKLING_SUPERUSER_USERNAME")
    email = email if email is not None else os.environ.get("OAKLING_SUPERUSER_EMAIL")
    if noinput:
        password = os.environ.get("OAKLING_SUPERUSER_PASSWORD")
        if not username:
            raise click.UsageError("--noinput needs --username (or OAKLING_SUPERUSER_USERNAME)")
        if not password:
            raise click.UsageError("--noinput needs the OAKLING_SUPERUSER_PASSWORD variable")
        email = email or ""
    else:
        username = username or click.prompt("Username")
        if email is None:
            email = click.prompt("Email address", default="", show_default=False)
        password = None
    with database.session() as session:
        if get_user_by_username_sync(session, username) is not None:
            raise click.ClickException(f"the username {username!r} (or a look-alike) is taken")
        if password is None:
            from .models import User

            try:
                draft = User(username=username, email=email)
            except InvalidUsername as ex:
                raise click.ClickException(str(ex)) from None
            password = _prompt_password(draft)
        try:
            user = create_superuser_sync(session, username, password, email=email)
        except (InvalidUsername, UsernameTaken) as ex:
            raise click.ClickException(str(ex)) from None
        except PasswordValidationError as ex:
            raise click.ClickException(
                "the password was refused: " + " ".join(ex.messages)
            ) from None
        session.commit()
        click.echo(f"Superuser {user.username!r} created.")


@click.command()
@click.option("--app", "target", default=None, help=_APP_HELP)
@click.argument("username")
def changepassword(target: str | None, username: str) -> None:
    """Set USERNAME's password (asked twice, hidden); logs out their sessions."""
    from .services import set_password_sync

    database = _database(target)
    with database.session() as session:
        user = get_user_by_username_sync(session, username)
        if user is None:
            raise click.ClickException(f"no user named {username!r}")
        click.echo(f"Changing the password of {user.username!r}")
        password = _prompt_password(user)
        set_password_sync(session, user, password, validate=False)  # validated above
        session.commit()
        click.echo(f"Password changed for {user.username!r}.")
