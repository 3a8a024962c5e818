"""Engines: one database URL gives a sync and an async SQLAlchemy engine.

The driver pair comes from the URL's backend (``sqlite`` -> sqlite3 and
aiosqlite; ``postgresql`` -> psycopg and asyncpg; ``mysql``/``mariadb`` ->
PyMySQL and aiomysql); a URL that names a driver keeps it for its own side.
"""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy import URL, Engine, Select, event, exc, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool, StaticPool

from oakling.db.errors import DATABASE, POOL
from oakling.outages import outages

__all__ = [
    "MAX_OVERFLOW",
    "PING_AFTER_IDLE",
    "POOL_SIZE",
    "POOL_TIMEOUT",
    "SQLITE_BEGIN",
    "WRITE_BEGIN",
    "async_url",
    "create_async_engine_for",
    "create_sync_engine",
    "default_url",
    "sync_url",
]

# backend -> (sync driver, async driver)
_DRIVERS: dict[str, tuple[str, str]] = {
    "sqlite": ("pysqlite", "aiosqlite"),
    "postgresql": ("psycopg", "asyncpg"),
    "mysql": ("pymysql", "aiomysql"),
    "mariadb": ("pymysql", "aiomysql"),
}
_ASYNC_DRIVERS = frozenset({"aiosqlite", "asyncpg", "psycopg_async", "aiomysql", "asyncmy"})
_EXTRAS = {"sqlite": "db", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}


def default_url() -> str:
    """Return ``sqlite:///<cwd>/<project>.db``, project being the cwd's name."""
    cwd = os.getcwd()
    name = os.path.basename(cwd.rstrip(os.sep)) or "oakling"
    return f"sqlite:///{os.path.join(cwd, name + '.db')}"


def _parse(url: str | URL) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgres":  # NOTE: Heroku-style URLs use the old name.
        parsed = parsed.set(drivername="postgresql")
    return parsed


def sync_url(url: str | URL) -> URL:
    """Return the URL with a synchronous driver (kept if it names one).

    Raises:
        sqlalchemy.exc.ArgumentError: For a string that is no database URL.
    """
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    pair = _DRIVERS.get(backend)
    if pair is None:
        return parsed
    if "+" in parsed.drivername and driver not in _ASYNC_DRIVERS:
        return parsed
    return parsed.set(drivername=backend if backend == "sqlite" else f"{backend}+{pair[0]}")


def async_url(url: str | URL) -> URL:
    """Return the URL with an asyncio driver (kept if it names one).

    Raises:
        ValueError: For a backend with no known asyncio driver.
    """
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    if "+" in parsed.drivername and driver in _ASYNC_DRIVERS:
        return parsed
    pair = _DRIVERS.get(backend)
    if pair is None:
        raise ValueError(
            f"no asyncio driver known for {backend!r} URLs; name one in the URL "
            f"({backend}+<driver>://...) or use sync handlers with Session"
        )
    return parsed.set(drivername=f"{backend}+{pair[1]}")


def _missing_driver(url: URL, ex: ImportError) -> ImportError:
    extra = _EXTRAS.get(url.get_backend_name(), "db")
    return ImportError(
        f"the {url.get_driver_name()!r} driver for {url.get_backend_name()} is not "
        f"installed ({ex}); install it with: pip install 'oakling[{extra}]'"
    )


def _is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


SQLITE_BEGIN = "oakling_sqlite_begin"
"""Execution option choosing how a SQLite transaction begins.

``"IMMEDIATE"`` (``BEGIN IMMEDIATE``: the write lock first, waiting up to the
busy timeout) or ``"DEFERRED"`` (plain ``BEGIN``, the default: a read
transaction, which a write upgrades). oakling.db's sessions begin immediate
(``db.session()``, and the session of a request whose method is not ``GET``,
``HEAD`` or ``OPTIONS``), as do migrations, so concurrent writers wait their
turn instead of failing with "database is locked"; a safe-method request's
session and plain engine connections begin deferred, so reads run side by
side. Django 5.1's ``"transaction_mode": "IMMEDIATE"`` option, applied to
the transactions that write.
"""


WRITE_BEGIN = "oakling_write_begin"
"""Execution option: the transaction's BEGIN waits for its first write (PostgreSQL).

Set (``True``) on the engine of a request's session, on PostgreSQL at the
``READ COMMITTED`` isolation level (its default): the connection runs in the
driver's autocommit mode while it only reads, so a read-only request pays no
``BEGIN`` and no ``COMMIT`` round trip, and the first statement that is not a
plain ``SELECT`` (a flush's ``INSERT``/``UPDATE``/``DELETE``, a ``SELECT ...
FOR UPDATE``, a ``SAVEPOINT``, any ``text()`` or driver SQL) turns autocommit
off first, so the driver sends ``BEGIN`` and everything from there to the
commit is one transaction. See "Read-only requests" in ``docs/db.md`` for what
this changes (nothing a ``READ COMMITTED`` read can see).
"""

# NOTE: ``info`` key of a pooled connection's record while oakling has put its
# DBAPI connection in autocommit mode (cleared at the first write, or at checkin).
_AUTOCOMMIT_MARK = "oakling.autocommit"

#: Seconds a new connection keeps trying to switch a fresh file to WAL.
_WAL_SWITCH_TIMEOUT = 5.0


def _use_wal(cursor: Any) -> None:
    """Put the database file in WAL mode (it stays so: the mode is in the file).

    WAL lets readers run while one writer writes. The switch needs the
    file to itself, and SQLite answers "database is locked" at once, without
    its busy timeout, when another process opens the fresh file at the same
    moment (N workers starting together): so it is retried, briefly.
    """
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return  # NOTE: every connection after the first: no lock needed
    deadline = time.monotonic() + _WAL_SWITCH_TIMEOUT
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as ex:  # noqa: BLE001 - sqlite3's or aiosqlite's OperationalError
            if "locked" not in str(ex) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _sqlite_hooks(engine: Engine, wal: bool) -> None:
    """Turn on foreign keys (and WAL for files), and let SQLAlchemy emit BEGIN.

    sqlite3's legacy transaction control emits no BEGIN before SELECT or
    SAVEPOINT, so savepoints would escape the outer transaction; the fix is
    SQLAlchemy's documented recipe (``isolation_level = None`` plus a BEGIN
    on the ``begin`` event), which works for sqlite3 and aiosqlite alike.
    The BEGIN is ``BEGIN IMMEDIATE`` when the connection's
    :data:`SQLITE_BEGIN` option says ``"IMMEDIATE"``.
    """

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            if wal:
                _use_wal(cursor)
        finally:
            cursor.close()

    def on_begin(connection: Any) -> None:
        # NOTE: a deferred transaction that reads, then writes, must upgrade
        # its lock, and SQLite answers "database is locked" at once when
        # another connection writes meanwhile (its busy timeout does not
        # apply to the upgrade). BEGIN IMMEDIATE takes the write lock first,
        # waiting up to the busy timeout; WAL readers are not blocked by it.
        if connection.get_execution_options().get(SQLITE_BEGIN) == "IMMEDIATE":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)


def _is_plain_read(context: Any) -> bool:
    """Tell whether a statement only reads: a compiled ``SELECT``, no locks, no DML.

    ``text()`` and driver-level SQL count as writes (their text is not
    parsed), as do ``SELECT ... FOR UPDATE/SHARE`` (row locks last until the
    transaction ends) and a ``SELECT`` whose CTEs hold DML.
    """
    compiled = getattr(context, "compiled", None)
    if compiled is None:
        return False
    statement = compiled.statement
    if not isinstance(statement, Select) or statement._for_update_arg is not None:
        return False
    ctes = getattr(compiled, "ctes", None)
    return not ctes or not any(getattr(cte.element, "is_dml", False) for cte in ctes)


def _write_begin_hooks(engine: Engine, isolation_level: Any) -> None:
    """Make connections carrying :data:`WRITE_BEGIN` begin at their first write.

    PostgreSQL only, and only at ``READ COMMITTED`` (what the server and the
    connection default to): there a transaction's statements each see their
    own snapshot anyway, so reading in autocommit mode changes nothing a read
    sees. Any other isolation level (an ``isolation_level`` engine option,
    ``execution_options(isolation_level=...)`` on the session's connection, or
    the server's ``default_transaction_isolation``) keeps the plain BEGIN.

    The switches are the DBAPI connection's ``autocommit`` attribute (psycopg
    and SQLAlchemy's asyncpg adapter), local flags that cost no round trip;
    the driver sends ``BEGIN`` itself before the first statement run with it
    off. A connection is always returned to the pool with it off.
    """
    if isolation_level not in (None, "READ COMMITTED"):
        return

    def on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if not options.get(WRITE_BEGIN) or options.get("isolation_level") is not None:
            return
        if connection.dialect.default_isolation_level != "READ COMMITTED":
            return
        dbapi_connection = connection.connection.dbapi_connection
        if not hasattr(dbapi_connection, "autocommit"):
            return
        dbapi_connection.autocommit = True
        connection.info[_AUTOCOMMIT_MARK] = True

    def before_cursor_execute(
        connection: Any, _cursor: Any, _sql: Any, _params: Any, context: Any, _many: Any
    ) -> None:
        info = connection.info
        # PERF: one dict lookup per statement while nothing is deferred.
        if info.get(_AUTOCOMMIT_MARK) and not _is_plain_read(context):
            del info[_AUTOCOMMIT_MARK]
            connection.connection.dbapi_connection.autocommit = False

    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        if record.info.pop(_AUTOCOMMIT_MARK, None) and dbapi_connection is not None:
            dbapi_connection.autocommit = False

    event.listen(engine, "begin", on_begin)
    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    event.listen(engine, "checkin", on_checkin)


def _wrap_connect_errors(engine: Engine) -> None:
    """Raise a refused connection as the driver's OperationalError.

    asyncpg lets ``ConnectionRefusedError`` (an OSError) through unwrapped;
    as a DBAPI error SQLAlchemy wraps it like the other drivers' connect
    failures, so one handler can answer 503.
    """

    def on_do_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as ex:
            raise dialect.loaded_dbapi.OperationalError(f"cannot connect: {ex}") from ex

    event.listen(engine, "do_connect", on_do_connect)


PING_AFTER_IDLE = 5.0
"""Seconds a pooled connection may sit unused before it is pinged on checkout."""


def _ping_when_idle(engine: Engine, idle: float) -> None:
    """Ping a pooled connection on checkout only when it sat idle ``idle`` seconds.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round
    trip per request. A connection just returned by a busy app is as alive
    as the request that used it; one that sat idle may have been dropped by
    a server restart or a firewall. A disconnect met during a request still
    invalidates the whole pool (SQLAlchemy's own handling), so a restart
    under load costs at most that request (a 503), and the next ones reconnect.
    """

    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["oakling.idle_since"] = time.monotonic()

    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("oakling.idle_since")
        if since is None or time.monotonic() - since < idle:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as ex:  # noqa: BLE001 - any failure means a dead connection
            # NOTE: the pool discards this connection and checks out another.
            raise exc.DisconnectionError(f"pooled connection failed its ping: {ex}") from ex
        if alive is False:
            raise exc.DisconnectionError("pooled connection failed its ping")

    event.listen(engine, "checkin", on_checkin)
    event.listen(engine, "checkout", on_checkout)


POOL_TIMEOUT = 3.0
"""Seconds a request waits for a free pooled connection before its 503.

SQLAlchemy's default is 30 s: a client would hang that long behind an
overloaded worker, then get an error anyway. Three seconds is longer than a
healthy request holds a connection and short enough to shed load.
"""


POOL_SIZE = 10
"""Connections each engine keeps open, per worker process (SQLAlchemy: 5)."""

MAX_OVERFLOW = 10
"""Connections an engine may open beyond :data:`POOL_SIZE` under load (SQLAlchemy: 10).

So an engine holds at most 20 connections per process: half the 40 threads
that run sync handlers, and with 4 workers 80 connections, under
PostgreSQL's default ``max_connections`` of 100 (MariaDB: 151). See
"Sizing the pool" in ``docs/db.md``.
"""


def _report_recovery(engine: Engine) -> None:
    """Tell the outage log when connections work again (cheap when all is well)."""

    def on_connect(_dbapi_connection: Any, _record: Any) -> None:
        outages.recovered(DATABASE)

    def on_checkin(_dbapi_connection: Any, _record: Any) -> None:
        outages.recovered(POOL)  # PERF: a dict lookup, no lock, while nothing is down

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "checkin", on_checkin)


def _options(url: URL, echo: bool, engine_options: dict[str, Any] | None) -> dict[str, Any]:
    options: dict[str, Any] = {"echo": echo}
    if _is_memory_sqlite(url):
        # NOTE: one shared connection, or each thread would see its own
        # empty in-memory database.
        options["poolclass"] = StaticPool
        options["connect_args"] = {"check_same_thread": False}
    elif _queue_pool(engine_options):
        options["pool_size"] = POOL_SIZE
        options["max_overflow"] = MAX_OVERFLOW
        options["pool_timeout"] = POOL_TIMEOUT
    options.update(engine_options or {})
    return options


def _queue_pool(engine_options: dict[str, Any] | None) -> bool:
    """Tell whether the engine gets a (sized) queue pool, not one the app chose.

    A ``NullPool`` or ``StaticPool`` takes no ``pool_size``: oakling's
    defaults apply only when the app names no pool, or a ``QueuePool`` kind.
    """
    options = engine_options or {}
    if options.get("pool") is not None:
        return False
    poolclass = options.get("poolclass")
    return poolclass is None or (isinstance(poolclass, type) and issubclass(poolclass, QueuePool))


def create_sync_engine(
    url: str | URL, *, echo: bool = False, engine_options: dict[str, Any] | None = None
) -> Engine:
    """Create a sync engine (SQLite: WAL and foreign keys on; else idle pings).

    Raises:
        ImportError: When the driver is missing, naming the extra to install.
    """
    from sqlalchemy import create_engine

    parsed = sync_url(url)
    try:
        engine = create_engine(parsed, **_options(parsed, echo, engine_options))
    except ImportError as ex:
        raise _missing_driver(parsed, ex) from ex
    if parsed.get_backend_name() == "sqlite":
        _sqlite_hooks(engine, wal=not _is_memory_sqlite(parsed))
    elif not engine.pool._pre_ping:
        _ping_when_idle(engine, PING_AFTER_IDLE)
    if parsed.get_backend_name() == "postgresql":
        _write_begin_hooks(engine, (engine_options or {}).get("isolation_level"))
    _report_recovery(engine)
    return engine


def create_async_engine_for(
    url: str | URL, *, echo: bool = False, engine_options: dict[str, Any] | None = None
) -> AsyncEngine:
    """Create an async engine (SQLite: WAL and foreign keys on; else idle pings).

    Raises:
        ImportError: When the driver is missing, naming the extra to install.
        ValueError: For a backend with no known asyncio driver.
    """
    parsed = async_url(url)
    try:
        engine = create_async_engine(parsed, **_options(parsed, echo, engine_options))
    except ImportError as ex:
        raise _missing_driver(parsed, ex) from ex
    if parsed.get_backend_name() == "sqlite":
        _sqlite_hooks(engine.sync_engine, wal=not _is_memory_sqlite(parsed))
    else:
        _wrap_connect_errors(engine.sync_engine)
        if not engine.sync_engine.pool._pre_ping:
            _ping_when_idle(engine.sync_engine, PING_AFTER_IDLE)
    if parsed.get_backend_name() == "postgresql":
        _write_begin_hooks(engine.sync_engine, (engine_options or {}).get("isolation_level"))
    _report_recovery(engine.sync_engine)
    return engine
