"""The database cache: a table on ``oakling.db`` (Django's ``DatabaseCache``).

Importing this module declares the ``oakling_cache`` table on
``oakling.db.Model``, so ``oakling db makemigrations`` (Alembic's
autogenerate) picks it up with the project's own models: import
``oakling.cache.backends.database`` from the module that builds the app.
Tests and scripts can also call ``Database.create_all()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import TYPE_CHECKING, Any, cast

from oakling.exceptions import ImproperlyConfigured

try:
    from sqlalchemy import (
        Double,
        LargeBinary,
        String,
        Table,
        delete,
        exc,
        func,
        or_,
        select,
        update,
    )
    from sqlalchemy.dialects import mysql
    from sqlalchemy.orm import Mapped, mapped_column

    from oakling.db import Model
except ImportError as ex:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"the database cache needs oakling.db ({ex}); install it with: pip install 'oakling[db]'"
    ) from ex

from oakling.concurrency import run_in_threadpool

from .base import BaseCache

if TYPE_CHECKING:
    from sqlalchemy.sql import Executable

    from oakling.applications import App
    from oakling.db import Database

__all__ = ["CacheEntry", "DatabaseCache"]

#: Longest key stored as is; longer keys keep their start and a SHA-256.
MAX_KEY_LENGTH = 250

# SECURITY: keys are compared exactly: MySQL's and MariaDB's default
# collations are case- and trailing-space-insensitive ("A" would read "a").
_KEY_TYPE = String(MAX_KEY_LENGTH).with_variant(
    mysql.VARCHAR(MAX_KEY_LENGTH, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
)
# NOTE: MySQL's BLOB holds 64 KiB; a cached page is often more.
_VALUE_TYPE = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


class CacheEntry(Model):
    """One cached value: Django's cache table.

    Columns: ``cache_key`` (exact, case-sensitive), ``value`` (the
    serialized bytes), ``expires`` (Unix time in seconds, NULL for
    never; indexed for ``clear_expired``) and ``stored_at`` (Unix time the
    value was last written; indexed: culling deletes the oldest first).
    """

    __tablename__ = "oakling_cache"

    cache_key: Mapped[str] = mapped_column(_KEY_TYPE, primary_key=True)
    value: Mapped[bytes] = mapped_column(_VALUE_TYPE)
    expires: Mapped[float | None] = mapped_column(Double, nullable=True, index=True)
    stored_at: Mapped[float] = mapped_column(Double, index=True, default=0.0, server_default="0")


_TABLE = cast(Table, CacheEntry.__table__)


def _stored_key(key: str) -> str:
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{key[: MAX_KEY_LENGTH - 65]}:{digest}"


def _expires(ttl: float | None) -> float | None:
    return None if ttl is None else time.time() + ttl


def _row(key: str, value: bytes, ttl: float | None) -> dict[str, Any]:
    return {
        "cache_key": _stored_key(key),
        "value": value,
        "expires": _expires(ttl),
        "stored_at": time.time(),
    }


def _live(now: float) -> Any:
    return or_(CacheEntry.expires.is_(None), CacheEntry.expires > now)


class DatabaseCache(BaseCache):
    """Keep values in the ``oakling_cache`` table of an ``oakling.db`` database.

    Shared by every worker using the database; slower than Redis, but no
    extra service. Expired rows are ignored when read and replaced when
    written; :meth:`clear_expired` (``oakling cache clear --expired``)
    deletes them. Works on SQLite, PostgreSQL, MySQL and MariaDB (upserts
    in each one's own syntax). An unreachable database is a miss, logged
    once per interval, as for Redis.

    Bounded as Django's ``DatabaseCache``: before each write (``set``,
    ``add``, ``set_many``) the rows of the table are counted; past
    ``max_entries``, the expired rows are deleted, then, if still past it,
    ``1 / cull_frequency`` of the remaining rows, oldest written first
    (Django deletes by key order instead). ``cull_frequency=0`` empties the
    table instead. The count covers every cache sharing the table, as in
    Django. Culling is best effort: a cull that fails (a deadlock between
    two workers culling at once) is skipped and the write goes on.

    Args:
        database: A ``Database``, or its URL (``LOCATION``); default the
            app's ``app.extensions["db"]`` (install ``Database()`` first).
        max_entries: Rows allowed before culling (``MAX_ENTRIES``, 300 as
            Django); None never counts nor culls (a large table whose
            expired rows a cron job deletes with ``clear_expired``).
        cull_frequency: Cull ``1/cull_frequency`` of the rows when full
            (``CULL_FREQUENCY``, 3 as Django); 0 empties the table.
        **options: :class:`~oakling.cache.backends.base.BaseCache` options.

    Raises:
        ValueError: For ``max_entries`` below 1 or a negative ``cull_frequency``.
    """

    service = "cache database"
    shared = True

    def __init__(
        self,
        database: Database | str | None = None,
        *,
        max_entries: int | None = 300,
        cull_frequency: int = 3,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if max_entries is not None and max_entries < 1:
            raise ValueError(f"MAX_ENTRIES must be at least 1 (or None), not {max_entries}")
        if cull_frequency < 0:
            raise ValueError(f"CULL_FREQUENCY must be 0 or more, not {cull_frequency}")
        self.max_entries = max_entries
        self.cull_frequency = cull_frequency
        if isinstance(database, str):
            from oakling.db import Database as DatabaseClass

            database = DatabaseClass(database) if database else None
            self._owns = database is not None
        else:
            self._owns = False
        self._db = database
        self._errors = (
            exc.OperationalError,
            exc.InterfaceError,
            exc.TimeoutError,
            OSError,
            asyncio.TimeoutError,
        )

    def setup(self, app: App) -> None:
        """Use the app's database unless one was given.

        Raises:
            ImproperlyConfigured: If there is neither.
        """
        if self._db is None:
            database = app.extensions.get("db")
            if database is None:
                raise ImproperlyConfigured(
                    "the database cache needs a database: install Database() before Cache(), "
                    "or give the cache a LOCATION URL"
                )
            self._db = database

    @property
    def database(self) -> Database:
        """The ``Database`` holding the table.

        Raises:
            ImproperlyConfigured: If none was given and ``setup`` did not run.
        """
        if self._db is None:
            raise ImproperlyConfigured("DatabaseCache has no database: give it one or a URL")
        return self._db

    def _dialect(self) -> str:
        return self.database.sync_engine().dialect.name

    @property
    def _threaded(self) -> bool:
        # NOTE: aiomysql fails to escape bytes parameters with current PyMySQL
        # (TypeError in escape_bytes_prefixed): on MySQL and MariaDB the async
        # API runs the sync one in the thread pool.
        return self._dialect() in ("mysql", "mariadb")

    def _upsert(self, key: str, value: bytes, ttl: float | None) -> Executable:
        row = _row(key, value, ttl)
        dialect = self._dialect()
        if dialect in ("mysql", "mariadb"):
            mysql_insert = mysql.insert(_TABLE).values(**row)
            return mysql_insert.on_duplicate_key_update(
                value=mysql_insert.inserted.value,
                expires=mysql_insert.inserted.expires,
                stored_at=mysql_insert.inserted.stored_at,
            )
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]  # NOTE: same shape
        statement = insert(_TABLE).values(**row)
        return statement.on_conflict_do_update(
            index_elements=["cache_key"],
            set_={
                "value": statement.excluded.value,
                "expires": statement.excluded.expires,
                "stored_at": statement.excluded.stored_at,
            },
        )

    def _insert_missing(self, key: str, value: bytes, ttl: float | None) -> Executable:
        row = _row(key, value, ttl)
        dialect = self._dialect()
        if dialect in ("mysql", "mariadb"):
            return mysql.insert(_TABLE).values(**row).prefix_with("IGNORE")
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]  # NOTE: same shape
        # NOTE: psycopg reports rowcount -1 for ON CONFLICT DO NOTHING: RETURNING tells.
        return (
            insert(_TABLE)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["cache_key"])
            .returning(_TABLE.c.cache_key)
        )

    @staticmethod
    def _inserted(result: Any) -> bool:
        if result.returns_rows:
            return result.first() is not None
        return bool(getattr(result, "rowcount", 0) > 0)

    @staticmethod
    def _select(keys: list[str]) -> Executable:
        stored = [_stored_key(key) for key in keys]
        return select(CacheEntry.cache_key, CacheEntry.value).where(
            CacheEntry.cache_key.in_(stored), _live(time.time())
        )

    @staticmethod
    def _rows(rows: Any, keys: list[str]) -> dict[str, bytes]:
        by_stored = {_stored_key(key): key for key in keys}
        # SECURITY: compared again in Python, exactly (a table made with a
        # case-insensitive collation would match "A" for "a").
        return {
            by_stored[row.cache_key]: bytes(row.value) for row in rows if row.cache_key in by_stored
        }

    def _delete_expired_key(self, key: str) -> Executable:
        return delete(_TABLE).where(
            CacheEntry.cache_key == _stored_key(key), CacheEntry.expires <= time.time()
        )

    def _clear_statement(self) -> Executable:
        prefix = self.clear_prefix()
        statement = delete(_TABLE)
        if prefix is not None:
            statement = statement.where(CacheEntry.cache_key.startswith(prefix, autoescape=True))
        return statement

    # -- culling (Django's MAX_ENTRIES / CULL_FREQUENCY) --------------------------

    @staticmethod
    def _count_statement() -> Executable:
        return select(func.count()).select_from(_TABLE)

    def _cull_plan(self, count: int) -> bool:
        """Tell whether a table of ``count`` rows must be culled before a write."""
        return self.max_entries is not None and count > self.max_entries

    @staticmethod
    def _expired_statement(now: float) -> Executable:
        return delete(_TABLE).where(CacheEntry.expires <= now)

    def _oldest_statement(self, remaining: int) -> Executable:
        """Select the ``stored_at`` below which ``1/cull_frequency`` of the rows lie."""
        return (
            select(CacheEntry.stored_at)
            .order_by(CacheEntry.stored_at)
            .offset(remaining // self.cull_frequency)
            .limit(1)
        )

    @staticmethod
    def _older_than(cutoff: float) -> Executable:
        return delete(_TABLE).where(CacheEntry.stored_at < cutoff)

    def _cull(self) -> None:
        """Make room before a write, as Django's ``_cull`` (see the class doc)."""
        if self.max_entries is None:
            return
        try:
            with self.database.session() as session, session.begin():
                count = int(session.execute(self._count_statement()).scalar_one())
                if not self._cull_plan(count):
                    return
                if self.cull_frequency == 0:
                    session.execute(delete(_TABLE))
                    return
                result = session.execute(self._expired_statement(time.time()))
                remaining = count - int(getattr(result, "rowcount", 0) or 0)
                if self._cull_plan(remaining):
                    cutoff = session.execute(self._oldest_statement(remaining)).scalar()
                    if cutoff is not None:
                        session.execute(self._older_than(cutoff))
        except exc.DBAPIError:
            # NOTE: best effort: the write goes on; the next one culls (or
            # reports the outage, if the database is gone).
            return

    async def _acull(self) -> None:
        """Make room before a write; see :meth:`_cull`."""
        if self.max_entries is None:
            return
        try:
            async with self.database.async_session() as session, session.begin():
                count = int((await session.execute(self._count_statement())).scalar_one())
                if not self._cull_plan(count):
                    return
                if self.cull_frequency == 0:
                    await session.execute(delete(_TABLE))
                    return
                result = await session.execute(self._expired_statement(time.time()))
                remaining = count - int(getattr(result, "rowcount", 0) or 0)
                if self._cull_plan(remaining):
                    cutoff = (await session.execute(self._oldest_statement(remaining))).scalar()
                    if cutoff is not None:
                        await session.execute(self._older_than(cutoff))
        except exc.DBAPIError:
            return

    async def aclose(self) -> None:
        """Close the engines of a database this cache made from a URL."""
        if self._owns and self._db is not None:
            await self._db.dispose()

    # -- sync -------------------------------------------------------------------

    def _get(self, key: str) -> bytes | None:
        return self._get_many([key]).get(key)

    def _get_many(self, keys: list[str]) -> dict[str, bytes]:
        with self.database.session(readonly=True) as session:
            return self._rows(session.execute(self._select(keys)), keys)

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._cull()
        with self.database.session() as session, session.begin():
            session.execute(self._upsert(key, value, ttl))

    def _set_many(self, items: dict[str, bytes], ttl: float | None) -> None:
        self._cull()
        with self.database.session() as session, session.begin():
            for key, value in items.items():
                session.execute(self._upsert(key, value, ttl))

    def _add(self, key: str, value: bytes, ttl: float | None) -> bool:
        # NOTE: insert first; only a conflict deletes an expired row and tries
        # again, each in its own transaction (InnoDB's gap locks deadlock a
        # delete-then-insert of the same missing key in concurrent transactions).
        self._cull()
        with self.database.session() as session, session.begin():
            if self._inserted(session.execute(self._insert_missing(key, value, ttl))):
                return True
        with self.database.session() as session, session.begin():
            if not getattr(session.execute(self._delete_expired_key(key)), "rowcount", 0):
                return False
        with self.database.session() as session, session.begin():
            return self._inserted(session.execute(self._insert_missing(key, value, ttl)))

    def _delete(self, key: str) -> bool:
        with self.database.session() as session, session.begin():
            result = session.execute(delete(_TABLE).where(CacheEntry.cache_key == _stored_key(key)))
        return bool(getattr(result, "rowcount", 0))

    def _delete_many(self, keys: list[str]) -> None:
        stored = [_stored_key(key) for key in keys]
        with self.database.session() as session, session.begin():
            session.execute(delete(_TABLE).where(CacheEntry.cache_key.in_(stored)))

    def _touch(self, key: str, ttl: float | None) -> bool:
        statement = (
            update(_TABLE)
            .where(CacheEntry.cache_key == _stored_key(key), _live(time.time()))
            .values(expires=_expires(ttl))
        )
        with self.database.session() as session, session.begin():
            result = session.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    def _incr_statements(self, key: str) -> Executable:
        statement = select(CacheEntry.value).where(
            CacheEntry.cache_key == _stored_key(key), _live(time.time())
        )
        if self._dialect() != "sqlite":
            statement = statement.with_for_update()
        return statement

    @staticmethod
    def _incremented(raw: Any, delta: int) -> int:
        try:
            return int(bytes(raw)) + delta
        except ValueError:
            raise ValueError("the cached value is not an integer") from None

    def _incr(self, key: str, delta: int) -> int | None:
        with self.database.session() as session, session.begin():
            raw = session.execute(self._incr_statements(key)).scalar()
            if raw is None:
                return None
            number = self._incremented(raw, delta)
            session.execute(
                update(_TABLE)
                .where(CacheEntry.cache_key == _stored_key(key))
                .values(value=str(number).encode("ascii"))
            )
        return number

    def _clear(self) -> None:
        with self.database.session() as session, session.begin():
            session.execute(self._clear_statement())

    def clear_expired(self) -> int:
        """Delete the rows past their expiry; return how many were deleted."""
        with self.database.session() as session, session.begin():
            result = session.execute(delete(_TABLE).where(CacheEntry.expires <= time.time()))
        return int(getattr(result, "rowcount", 0) or 0)

    # -- async --------------------------------------------------------------------

    async def _aget(self, key: str) -> bytes | None:
        if self._threaded:
            return await run_in_threadpool(self._get, key)
        return (await self._aget_many([key])).get(key)

    async def _aget_many(self, keys: list[str]) -> dict[str, bytes]:
        if self._threaded:
            return await run_in_threadpool(self._get_many, keys)
        async with self.database.async_session(readonly=True) as session:
            return self._rows(await session.execute(self._select(keys)), keys)

    async def _aset(self, key: str, value: bytes, ttl: float | None) -> None:
        if self._threaded:
            return await run_in_threadpool(self._set, key, value, ttl)
        await self._acull()
        async with self.database.async_session() as session, session.begin():
            await session.execute(self._upsert(key, value, ttl))

    async def _aset_many(self, items: dict[str, bytes], ttl: float | None) -> None:
        if self._threaded:
            return await run_in_threadpool(self._set_many, items, ttl)
        await self._acull()
        async with self.database.async_session() as session, session.begin():
            for key, value in items.items():
                await session.execute(self._upsert(key, value, ttl))

    async def _aadd(self, key: str, value: bytes, ttl: float | None) -> bool:
        if self._threaded:
            return await run_in_threadpool(self._add, key, value, ttl)
        await self._acull()
        async with self.database.async_session() as session, session.begin():
            result = await session.execute(self._insert_missing(key, value, ttl))
            if self._inserted(result):
                return True
        async with self.database.async_session() as session, session.begin():
            deleted = await session.execute(self._delete_expired_key(key))
            if not getattr(deleted, "rowcount", 0):
                return False
        async with self.database.async_session() as session, session.begin():
            return self._inserted(await session.execute(self._insert_missing(key, value, ttl)))

    async def _adelete(self, key: str) -> bool:
        if self._threaded:
            return await run_in_threadpool(self._delete, key)
        async with self.database.async_session() as session, session.begin():
            result = await session.execute(
                delete(_TABLE).where(CacheEntry.cache_key == _stored_key(key))
            )
        return bool(getattr(result, "rowcount", 0))

    async def _adelete_many(self, keys: list[str]) -> None:
        if self._threaded:
            return await run_in_threadpool(self._delete_many, keys)
        stored = [_stored_key(key) for key in keys]
        async with self.database.async_session() as session, session.begin():
            await session.execute(delete(_TABLE).where(CacheEntry.cache_key.in_(stored)))

    async def _atouch(self, key: str, ttl: float | None) -> bool:
        if self._threaded:
            return await run_in_threadpool(self._touch, key, ttl)
        statement = (
            update(_TABLE)
            .where(CacheEntry.cache_key == _stored_key(key), _live(time.time()))
            .values(expires=_expires(ttl))
        )
        async with self.database.async_session() as session, session.begin():
            result = await session.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    async def _aincr(self, key: str, delta: int) -> int | None:
        if self._threaded:
            return await run_in_threadpool(self._incr, key, delta)
        async with self.database.async_session() as session, session.begin():
            raw = (await session.execute(self._incr_statements(key))).scalar()
            if raw is None:
                return None
            number = self._incremented(raw, delta)
            await session.execute(
                update(_TABLE)
                .where(CacheEntry.cache_key == _stored_key(key))
                .values(value=str(number).encode("ascii"))
            )
        return number

    async def _ahas(self, key: str) -> bool:
        if self._threaded:
            return await run_in_threadpool(self._has, key)
        return await self._aget(key) is not None

    async def _aclear(self) -> None:
        if self._threaded:
            return await run_in_threadpool(self._clear)
        async with self.database.async_session() as session, session.begin():
            await session.execute(self._clear_statement())
