"""The database lock that migrations hold: one migrating process at a time.

N workers starting together on a fresh database each run the migrations at
startup; without a lock they all see "no revision applied" and race to
create the same tables (``UniqueViolation ... alembic_version``). With it
the first one migrates while the others wait, then each re-reads the version
table inside the lock and finds nothing left to do.

- PostgreSQL: a session-level advisory lock (``pg_advisory_lock``) whose key
  is the CRC-32 of the version table's name; advisory locks are per
  database, so two databases on one server never wait for each other.
- MariaDB / MySQL: ``GET_LOCK(name, timeout)``, a named lock; names are
  server-wide, so the name holds the database's name too.
- SQLite: the database's write lock, ``BEGIN IMMEDIATE``, with a busy
  timeout as long as the lock timeout; the migrations then run inside that
  transaction.

Other backends run unlocked, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import zlib
from collections.abc import Iterator
from typing import Any

from alembic.util.exc import CommandError
from sqlalchemy import Connection, text
from sqlalchemy import exc as sa_exc

from .engines import SQLITE_BEGIN

__all__ = ["LOCK_TIMEOUT", "migration_lock"]

LOCK_TIMEOUT = 600.0
"""Seconds a process waits for another one's migrations before giving up."""

# NOTE: MySQL and MariaDB refuse GET_LOCK names longer than 64 characters.
_MYSQL_NAME_LIMIT = 64
_PG_LOCK_NOT_AVAILABLE = "55P03"


@contextlib.contextmanager
def migration_lock(
    connection: Connection,
    version_table: str,
    *,
    schema: str | None = None,
    timeout: float = LOCK_TIMEOUT,
) -> Iterator[None]:
    """Hold the migration lock of ``version_table`` on ``connection``.

    Enter it before Alembic reads the version table, on a connection with
    no transaction begun. On PostgreSQL and MariaDB/MySQL the lock belongs
    to the connection's session (it outlives Alembic's own transactions);
    on SQLite the block runs inside one ``BEGIN IMMEDIATE`` transaction,
    committed when the block ends normally and rolled back when it raises.

    Args:
        connection: The connection the migrations will use.
        version_table: Alembic's version table (the lock is named after it).
        schema: The version table's schema, if not the default one.
        timeout: Seconds to wait for the lock.

    Raises:
        CommandError: When another process held the lock for ``timeout``
            seconds.
    """
    name = f"{schema}.{version_table}" if schema else version_table
    backend = connection.dialect.name
    if backend == "postgresql":
        with _postgresql_lock(connection, name, timeout):
            yield
    elif backend in ("mysql", "mariadb"):
        with _mysql_lock(connection, name, timeout):
            yield
    elif backend == "sqlite":
        with _sqlite_lock(connection, timeout):
            yield
    else:
        yield


def _timed_out(name: str, timeout: float) -> CommandError:
    return CommandError(
        f"another process held the migration lock of {name!r} for more than {timeout:g} s; "
        "it may still be migrating (see 'oakling db current'), or be stuck"
    )


@contextlib.contextmanager
def _postgresql_lock(connection: Connection, name: str, timeout: float) -> Iterator[None]:
    # NOTE: crc32 is 0..2**32-1: it fits the bigint key and is stable across runs.
    key = zlib.crc32(f"oakling.migrate:{name}".encode())
    try:
        # NOTE: lock_timeout bounds the wait for advisory locks too; is_local
        # (true) scopes it to this transaction, so the session keeps its own.
        connection.execute(
            text("SELECT set_config('lock_timeout', :timeout, true)"),
            {"timeout": f"{max(1, math.ceil(timeout * 1000))}ms"},
        )
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
    except sa_exc.OperationalError as ex:
        connection.rollback()
        if getattr(ex.orig, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE:
            raise _timed_out(name, timeout) from ex
        raise
    connection.commit()
    try:
        yield
    finally:
        _release(connection, "SELECT pg_advisory_unlock(:key)", {"key": key})


def _mysql_lock_name(connection: Connection, name: str) -> str:
    database = connection.execute(text("SELECT DATABASE()")).scalar()
    lock_name = f"oakling.migrate:{database}.{name}"
    if len(lock_name) > _MYSQL_NAME_LIMIT:
        digest = hashlib.sha256(lock_name.encode()).hexdigest()[:40]
        lock_name = f"oakling.migrate:{digest}"
    return lock_name


@contextlib.contextmanager
def _mysql_lock(connection: Connection, name: str, timeout: float) -> Iterator[None]:
    lock_name = _mysql_lock_name(connection, name)
    got = connection.execute(
        text("SELECT GET_LOCK(:name, :timeout)"),
        {"name": lock_name, "timeout": max(1, math.ceil(timeout))},
    ).scalar()
    connection.commit()
    if got != 1:  # NOTE: 0 on timeout, NULL on an error such as a killed wait
        raise _timed_out(name, timeout)
    try:
        yield
    finally:
        _release(connection, "SELECT RELEASE_LOCK(:name)", {"name": lock_name})


def _release(connection: Connection, statement: str, params: dict[str, Any]) -> None:
    """Release a session-level lock; on failure, close the connection instead.

    The server drops a session's locks when its connection ends, so a
    connection whose release failed must not go back to the pool.
    """
    try:
        if connection.in_transaction():
            connection.rollback()  # NOTE: what the connection's close would do anyway
        connection.execute(text(statement), params)
        connection.commit()
    except sa_exc.DBAPIError:
        connection.invalidate()


@contextlib.contextmanager
def _sqlite_lock(connection: Connection, timeout: float) -> Iterator[None]:
    raw: Any = connection.connection.driver_connection
    cursor = raw.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout")
        previous = int(cursor.fetchone()[0])
        # NOTE: while one process migrates, BEGIN IMMEDIATE in the others
        # waits in SQLite's busy handler, up to this long.
        cursor.execute(f"PRAGMA busy_timeout = {max(1, math.ceil(timeout * 1000))}")
    finally:
        cursor.close()
    try:
        # NOTE: oakling's engines emit BEGIN IMMEDIATE for this option; a
        # plain pysqlite engine emits no BEGIN at all, so it is sent here.
        connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        try:
            transaction = connection.begin()
            if not raw.in_transaction:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
        except sa_exc.OperationalError as ex:
            if connection.in_transaction():
                connection.rollback()
            if "locked" in str(ex.orig):  # NOTE: SQLITE_BUSY after the busy timeout
                raise _timed_out("the database file", timeout) from ex
            raise
        try:
            yield
        except BaseException:
            transaction.rollback()
            raise
        transaction.commit()
    finally:
        cursor = raw.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {previous}")
        finally:
            cursor.close()
