"""Database errors as HTTP answers: constraint violations 409, outages 503.

An unreachable database and an exhausted pool (every connection in use past
``pool_timeout``) are both answered 503 with ``Retry-After``, and logged once
per interval through :data:`oakling.outages.outages`, never as a traceback
per request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NoReturn

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from oakling.exceptions import HTTPException, ServiceUnavailable
from oakling.outages import outages
from oakling.requests import HTTPConnection

if TYPE_CHECKING:
    from oakling.applications import App

__all__ = [
    "DATABASE",
    "POOL",
    "RETRY_AFTER_SECONDS",
    "install_error_handlers",
    "is_unavailable",
]

logger = logging.getLogger("oakling.db")

#: ``Retry-After`` of the 503 answer while the database is unreachable (seconds).
RETRY_AFTER_SECONDS = 5

#: The service names under which outages are logged (``oakling.outage``).
DATABASE = "the database"
POOL = "the database pool"

_UNIQUE_MARKERS = ("unique", "duplicate")
_FOREIGN_MARKERS = ("foreign key",)


def is_unavailable(ex: BaseException) -> bool:
    """Tell whether ``ex`` means "cannot reach the database", not a bad statement.

    True for a DBAPI error that invalidated its connection (the server went
    away), one raised while connecting (no statement was being run), or
    SQLite's "database is locked" (another writer held the file past the
    busy timeout: a retry succeeds, so it is a 503, not a bug).
    """
    if not isinstance(ex, DBAPIError) or isinstance(ex, IntegrityError):
        return False
    if "database is locked" in str(ex.orig).lower():
        return True
    return bool(ex.connection_invalidated) or ex.statement is None


def _describe_conflict(ex: IntegrityError) -> str:
    text = str(ex.orig).lower()
    if any(marker in text for marker in _FOREIGN_MARKERS):
        return (
            "Conflict: the change refers to a record that does not exist, "
            "or removes one still in use"
        )
    if any(marker in text for marker in _UNIQUE_MARKERS):
        return "Conflict: a record with this value already exists"
    return "Conflict: the change violates a database constraint"


def install_error_handlers(app: App) -> None:
    """Register the 409 and 503 handlers on ``app`` (called by ``Database.install``)."""

    def on_integrity_error(conn: HTTPConnection, ex: Exception) -> NoReturn:
        assert isinstance(ex, IntegrityError)
        detail = _describe_conflict(ex)
        if app.debug:
            detail += f" ({ex.orig})"
        # SECURITY: outside debug the driver's message (table, column and
        # value names) stays in the server log, not the answer.
        logger.info("integrity error on %s: %s", conn.url.path, ex.orig)
        raise HTTPException(409, detail)

    def on_database_error(conn: HTTPConnection, ex: Exception) -> NoReturn:
        if not is_unavailable(ex):
            raise ex  # NOTE: the app answers 500 and logs it, as for any bug.
        outages.failed(DATABASE, ex)
        raise ServiceUnavailable(
            DATABASE,
            RETRY_AFTER_SECONDS,
            "Database unavailable; try again in a few seconds",
        )

    def on_pool_timeout(conn: HTTPConnection, ex: Exception) -> NoReturn:
        # NOTE: every pooled connection stayed in use past pool_timeout: the
        # database is up but this worker is overloaded (docs/db.md, sizing).
        outages.failed(POOL, ex)
        raise ServiceUnavailable(
            POOL,
            RETRY_AFTER_SECONDS,
            "Database busy: no connection was free; try again in a few seconds",
        )

    app.add_error_handler(PoolTimeout, on_pool_timeout)
    app.add_error_handler(IntegrityError, on_integrity_error)
    app.add_error_handler(DBAPIError, on_database_error)
