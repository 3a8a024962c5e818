"""Sessions in the app's database, through the ``oakling.db`` battery.

Importing this module declares the ``oakling_session`` table on
``oakling.db.Model``, so ``oakling db makemigrations`` picks it up with the
project's own models (import it from the module that builds the app).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from oakling.exceptions import ImproperlyConfigured

try:
    from sqlalchemy import DateTime, String, Text, delete, select
    from sqlalchemy.orm import Mapped, mapped_column

    from oakling.db import Model
except ImportError as ex:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"DatabaseBackend needs oakling.db ({ex}); install it with: pip install 'oakling[db]'"
    ) from ex

from .session import encode_data

if TYPE_CHECKING:
    from oakling.applications import App
    from oakling.db import Database

__all__ = ["DatabaseBackend", "SessionRecord"]


class SessionRecord(Model):
    """One stored session: Django's ``django_session`` table."""

    __tablename__ = "oakling_session"

    session_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def _now() -> datetime:
    return datetime.now(UTC)


class DatabaseBackend:
    """Keep sessions in the ``oakling_session`` table; the cookie holds only an id.

    Uses the async engine of ``app.extensions["db"]`` (install
    ``Database()`` before ``Sessions()``). Expired rows are ignored when
    loading; :meth:`clear_expired` deletes them (run it from a periodic job,
    as Django's ``clearsessions``). The table lives in the default
    database of ``Database``.
    """

    def __init__(self) -> None:
        self._db: Database | None = None

    def setup(self, app: App) -> None:
        """Find the database battery.

        Raises:
            ImproperlyConfigured: If ``Database()`` is not installed first.
        """
        database = app.extensions.get("db")
        if database is None:
            raise ImproperlyConfigured(
                "DatabaseBackend needs the database battery installed first: "
                "App(plugins=[Database(), Sessions(backend=DatabaseBackend())])"
            )
        self._db = database

    @property
    def database(self) -> Database:
        """The ``Database`` the sessions live in.

        Raises:
            RuntimeError: Before the Sessions plugin was installed.
        """
        if self._db is None:
            raise RuntimeError("DatabaseBackend is not set up: install Sessions() on an app")
        return self._db

    async def load(self, cookie: str, max_age: int) -> tuple[str, dict[str, Any]] | None:
        """Return the unexpired session stored under the id ``cookie``; None otherwise."""
        if not cookie or len(cookie) > 64:
            return None
        async with self.database.async_session() as session:
            raw = await session.scalar(
                select(SessionRecord.data).where(
                    SessionRecord.session_key == cookie, SessionRecord.expires_at > _now()
                )
            )
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return (cookie, data) if isinstance(data, dict) else None

    async def save(self, key: str, data: dict[str, Any], max_age: int) -> str:
        """Insert or update the row of ``key``, expiring in ``max_age`` seconds."""
        record = SessionRecord(
            session_key=key,
            data=encode_data(data),
            expires_at=_now() + timedelta(seconds=max_age),
        )
        async with self.database.async_session() as session, session.begin():
            await session.merge(record)
        return key

    async def delete(self, key: str) -> None:
        """Delete the row of ``key``."""
        async with self.database.async_session() as session, session.begin():
            await session.execute(delete(SessionRecord).where(SessionRecord.session_key == key))

    async def clear_expired(self) -> int:
        """Delete the expired rows; return how many (Django's ``clearsessions``)."""
        async with self.database.async_session() as session, session.begin():
            result = await session.execute(
                delete(SessionRecord).where(SessionRecord.expires_at <= _now())
            )
        return int(getattr(result, "rowcount", 0) or 0)
