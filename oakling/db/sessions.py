"""Sessions for handlers: injected by type, one transaction per request.

A handler parameter annotated :class:`Session` (sync handlers) or
:class:`AsyncSession` (async handlers) gets a session of the app's
:class:`~oakling.db.Database`. Like Django's ``ATOMIC_REQUESTS``, the request
runs in one transaction: committed once the handler returns a response below
500, rolled back when it raises or returns a 5xx. ``@no_transaction`` opts a
handler out: it gets a plain session and commits itself.

On PostgreSQL the request's transaction begins at its first write, so a
read-only request sends no ``BEGIN`` and no ``COMMIT`` (see
:data:`oakling.db.engines.WRITE_BEGIN` and ``Database(write_begin=...)``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from oakling.exceptions import ImproperlyConfigured
from oakling.params import register_injectable
from oakling.requests import Request

from .models import bind_key_of

if TYPE_CHECKING:
    from .plugin import Database

__all__ = [
    "AsyncSession",
    "RoutingSession",
    "Session",
    "no_transaction",
    "provide_async_session",
    "provide_session",
]

logger = logging.getLogger("oakling.db")

_F = TypeVar("_F", bound=Callable[..., Any])
_NO_TRANSACTION = "__oakling_no_transaction__"
# NOTE: ``session.info`` key of the sessions carrying a request's transaction;
# oakling.tasks follows their commits (SQLAlchemy's session events) to send
# the request's tasks after the commit only.
TRANSACTION_MARK = "oakling.transaction"
# PERF: while no handler is marked, the provider skips looking its route up.

Bind = Engine | Connection

# NOTE: RFC 9110 section 9.2.1: requests with these methods are not meant to
# change anything, so on SQLite their transactions begin deferred (reads run
# side by side); every other request's transaction takes the write lock first.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RoutingSession(Session):
    """A Session sending each model's SQL to the database its ``__bind_key__`` names.

    Flask-SQLAlchemy's routing: a model (or table) without a bind key uses
    the default bind, one with ``__bind_key__ = "name"`` the engine (or, in
    tests, the connection) registered for ``name``.

    Args:
        bind_map: ``{bind key: engine or connection}``.
        **kwargs: Passed on to :class:`sqlalchemy.orm.Session`.
    """

    def __init__(self, *, bind_map: dict[str, Bind] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind_map: dict[str, Bind] = bind_map or {}

    def get_bind(self, mapper: Any = None, *, clause: Any = None, **kw: Any) -> Engine | Connection:
        """Return the engine for ``mapper``'s (or ``clause``'s) bind key.

        Raises:
            ImproperlyConfigured: When a model names a bind the Database lacks.
        """
        key = None
        if mapper is not None:
            table = getattr(getattr(mapper, "mapper", mapper), "local_table", None)
            if table is None and hasattr(mapper, "__mapper__"):
                table = mapper.__mapper__.local_table
            key = bind_key_of(table)
        elif clause is not None:
            key = bind_key_of(getattr(clause, "table", None))
        if key is not None:
            bind = self.bind_map.get(key)
            if bind is None:
                raise ImproperlyConfigured(
                    f"a model uses __bind_key__ = {key!r}, but the Database has no such "
                    f"bind; pass binds={{{key!r}: url}} to Database()"
                )
            return bind
        return super().get_bind(mapper, clause=clause, **kw)


def no_transaction(func: _F) -> _F:
    """Mark a handler to get a session with no per-request transaction.

    The injected session is neither committed nor rolled back for you:
    call ``session.commit()`` yourself (Django's ``non_atomic_requests``).
    Whatever is left uncommitted is discarded when the session closes.
    """
    setattr(func, _NO_TRANSACTION, True)
    return func


def _database(request: Request) -> Database:
    database = request.app.extensions.get("db")
    if database is None:
        raise ImproperlyConfigured(
            "a handler asks for a database session but the app has no Database; "
            "install one: App(plugins=[Database()])"
        )
    return database  # type: ignore[no-any-return]


def _wants_transaction(request: Request) -> bool:
    return not getattr(request.endpoint, _NO_TRANSACTION, False)


def _should_commit(request: Request) -> bool:
    response = request.response
    return response is not None and response.status_code < 500


def provide_session(request: Request) -> Iterator[Session]:
    """Yield a sync session in a transaction for the request (see module doc).

    PERF: a sync generator: for a sync handler it runs in the request's own
    thread (one thread per sync request), so making the session, the
    handler, and the commit or rollback plus the close share that thread
    and its one hop from the loop. An ``async def`` handler asking for a
    sync ``Session`` gets the setup and the cleanup in the thread pool.

    Raises:
        ImproperlyConfigured: When the app has no Database installed.
    """
    transactional = _wants_transaction(request)
    session = _database(request)._session(
        request.method not in _SAFE_METHODS, {}, request=transactional
    )
    if transactional:
        session.info[TRANSACTION_MARK] = True
    try:
        yield session
    except BaseException:
        _end_sync(session, False, transactional)
        raise
    _end_sync(session, transactional and _should_commit(request), transactional)


def _end_sync(session: Session, commit: bool, transactional: bool) -> None:
    try:
        if commit:
            session.commit()
        elif transactional:
            _quietly(session.rollback)
    finally:
        session.close()


async def provide_async_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield an async session in a transaction for the request (see module doc).

    Raises:
        ImproperlyConfigured: When the app has no Database installed.
    """
    transactional = _wants_transaction(request)
    session = _database(request)._async_session(
        request.method not in _SAFE_METHODS, {}, request=transactional
    )
    try:
        if not transactional:
            yield session
            return
        session.info[TRANSACTION_MARK] = True
        try:
            yield session
        except BaseException:
            try:
                await session.rollback()
            except Exception:  # noqa: BLE001 - keep the handler's error, not this one
                logger.warning("rollback failed", exc_info=True)
            raise
        if _should_commit(request):
            await session.commit()
        else:
            await session.rollback()
    finally:
        await session.close()


def _quietly(func: Callable[[], Any]) -> None:
    try:
        func()
    except Exception:  # noqa: BLE001 - keep the handler's error, not this one
        logger.warning("rollback failed", exc_info=True)


register_injectable(Session, provide_session)
register_injectable(AsyncSession, provide_async_session)
