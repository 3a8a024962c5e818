"""Sessions in the app's database, through the ``oakling.db`` battery.

Importing this module declares the ``oakling_session`` table on
``oakling.db.Model``, so ``oakling db makemigrations`` picks it up with the
project's own models (import it from the module that builds the app).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from oakling.exceptions import ImproperlyConfigured

try:
    from sqlalchemy import DateTime, String, Text, delete, select
    from sqlalchemy.dialects import mysql
    from sqlalchemy.orm import Mapped, mapped_column

    from oakling.db import Model
except ImportError as ex:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"DatabaseBackend needs oakling.db ({ex}); install it with: pip install 'oakling[db]'"
    ) from ex

from .session import encode_data

if TYPE_CHECKING:
    from sqlalchemy import Delete

    from oakling.applications import App
    from oakling.db import Database

__all__ = ["DatabaseBackend", "SessionRecord"]


#: What a session id may look like: URL-safe base64 (:func:`new_session_key`
#: gives 43 characters), at most the 64 the column holds.
_SESSION_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")

# SECURITY: ids are case-sensitive base64, but MySQL's and MariaDB's default
# collations compare case-insensitively (`abc` = `ABC`): the id column is
# binary there. Microseconds too (a plain DATETIME keeps whole seconds).
_KEY_TYPE = String(64).with_variant(
    mysql.VARCHAR(64, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
)
_EXPIRY_TYPE = DateTime(timezone=True).with_variant(
    mysql.DATETIME(timezone=True, fsp=6), "mysql", "mariadb"
)


class SessionRecord(Model):
    """One stored session: Django's ``django_session`` table.

    Columns: ``session_key`` (the id, case-sensitive on every database),
    ``data`` (the session as JSON) and ``expires_at`` (UTC; stored as UTC
    wall-clock time where the database has no time zones: SQLite, MySQL).
    """

    __tablename__ = "oakling_session"

    session_key: Mapped[str] = mapped_column(_KEY_TYPE, primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(_EXPIRY_TYPE, index=True)


def _now() -> datetime:
    return datetime.now(UTC)


class DatabaseBackend:
    """Keep sessions in the ``oakling_session`` table; the cookie holds only an id.

    Uses the async engine of ``app.extensions["db"]`` (install
    ``Database()`` before ``Sessions()``). Expired rows are ignored when
    loading; ``oakling clearsessions`` (Django's command of that name)
    deletes them: run it from a periodic job. The table lives in the
    default database of ``Database``.
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
        # SECURITY: only ids of the shape we issue reach the database (no
        # trailing spaces, which MySQL's PAD SPACE collations ignore; no
        # characters an ASCII column cannot compare).
        if _SESSION_KEY.fullmatch(cookie) is None:
            return None
        async with self.database.async_session(readonly=True) as session:
            row = (
                await session.execute(
                    select(SessionRecord.session_key, SessionRecord.data).where(
                        SessionRecord.session_key == cookie, SessionRecord.expires_at > _now()
                    )
                )
            ).first()
        # SECURITY: compared again here, exactly, in case the table was made
        # with a case-insensitive collation (before the binary column type).
        if row is None or row.session_key != cookie:
            return None
        raw = row.data
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
        """Delete the rows past their expiry, in one statement.

        Returns:
            The number of rows deleted. Django's ``SessionStore.clear_expired``.
        """
        async with self.database.async_session() as session, session.begin():
            result = await session.execute(_delete_expired())
        return int(getattr(result, "rowcount", 0) or 0)

    def clear_expired_sync(self) -> int:
        """Delete the expired rows through the sync engine (``oakling clearsessions``).

        Returns:
            The number of rows deleted.
        """
        with self.database.session() as session, session.begin():
            result = session.execute(_delete_expired())
        return int(getattr(result, "rowcount", 0) or 0)


def _delete_expired() -> Delete:
    """Return ``DELETE FROM oakling_session WHERE expires_at <= now``."""
    # NOTE: `<=` mirrors load()'s `expires_at > now`: a row load() would refuse.
    return delete(SessionRecord).where(SessionRecord.expires_at <= _now())
