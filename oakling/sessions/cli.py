"""``oakling clearsessions``: delete expired sessions (Django's ``clearsessions``).

Published in the ``oakling.commands`` entry-point group. The app is found
like ``oakling run`` finds it (``--app``, ``OAKLING_APP``, or ``app.py``,
``main.py``, ``wsgi.py`` in the current folder); it must have the Sessions
battery. Only a backend that stores sessions without expiring them itself
has anything to clear: the database one. Run it from cron or a scheduler::

    0 3 * * *  cd /srv/myapp && oakling clearsessions
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import click

from .backends import RedisBackend, SignedCookieBackend

__all__ = ["clearsessions"]

_APP_HELP = "The app as module:attr (default: discovered)."


def _backend(target: str | None) -> Any:
    from oakling.cli import load_app

    app = load_app(target)
    sessions = getattr(app, "extensions", {}).get("sessions")
    if sessions is None:
        raise click.ClickException(
            "the app has no sessions: install App(plugins=[Sessions()]) "
            "(with Database() first for database sessions)"
        )
    return sessions.backend


def _nothing_to_clear(backend: Any) -> str:
    if isinstance(backend, SignedCookieBackend):
        return (
            "Nothing to clear: cookie sessions live in the browser, and the signed "
            "timestamp refuses any older than SESSION_COOKIE_AGE."
        )
    if isinstance(backend, RedisBackend):
        return (
            "Nothing to clear: Redis deletes session keys itself (each has a TTL of "
            "SESSION_COOKIE_AGE)."
        )
    return (
        f"Nothing to clear: {type(backend).__name__} has no clear_expired() "
        "(it is expected to expire sessions itself)."
    )


def _clear_expired(backend: Any) -> int | None:
    """Delete ``backend``'s expired sessions; return how many, None if it cannot.

    Uses ``backend.clear_expired_sync()`` when there is one, else awaits
    ``backend.clear_expired()`` in a new event loop.

    Returns:
        The number of sessions deleted, or None for a backend with neither
        method (the cookie and Redis backends: their sessions expire by
        themselves).
    """
    clear_sync = getattr(backend, "clear_expired_sync", None)
    if clear_sync is not None:
        return int(clear_sync())
    clear = getattr(backend, "clear_expired", None)
    if clear is None:
        return None
    result = clear()
    if inspect.isawaitable(result):

        async def wait() -> Any:
            return await result

        result = asyncio.run(wait())
    return int(result)


def _database_errors() -> tuple[type[Exception], ...]:
    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:  # pragma: no cover - depends on the environment
        return ()
    return (SQLAlchemyError,)


@click.command()
@click.option("--app", "target", default=None, help=_APP_HELP)
def clearsessions(target: str | None) -> None:
    """Delete expired sessions from the session store (Django's clearsessions)."""
    backend = _backend(target)
    try:
        removed = _clear_expired(backend)
    except _database_errors() as ex:
        # NOTE: the driver's own message, without SQLAlchemy's SQL and links.
        cause = getattr(ex, "orig", None) or ex
        raise click.ClickException(
            f"could not delete expired sessions ({cause}); does the oakling_session "
            "table exist? (oakling db makemigrations, then oakling db migrate)"
        ) from None
    if removed is None:
        click.echo(_nothing_to_clear(backend))
        return
    click.echo(f"Deleted {removed} expired session{'' if removed == 1 else 's'}.")
