"""The Database plugin: settings -> engines -> sessions, wired into an app."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, MetaData
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from oakling.exceptions import ImproperlyConfigured

from .engines import (
    SQLITE_BEGIN,
    WRITE_BEGIN,
    async_url,
    create_async_engine_for,
    create_sync_engine,
    default_url,
    sync_url,
)
from .errors import install_error_handlers
from .models import Model, bind_key_of
from .sessions import Bind, RoutingSession

if TYPE_CHECKING:
    from oakling.applications import App
    from oakling.config import Settings

__all__ = ["Database"]


class Database:
    """SQLAlchemy engines and sessions for an app: the ``oakling.db`` plugin.

    Installed with ``App(plugins=[Database()])``, it is ``app.extensions["db"]``;
    handlers then get sessions by annotating a parameter ``Session`` (sync
    handlers) or ``AsyncSession`` (async ones), one transaction per request
    (see :mod:`oakling.db.sessions`). Flask-SQLAlchemy's ``SQLAlchemy(app)``.

    The URL comes from, in order: ``url``; the ``DATABASE_URL`` setting
    (``OAKLING_DATABASE_URL`` in the environment or ``.env``); else
    ``sqlite:///<project>.db`` in the current folder. Each URL gives a sync
    and an async engine, created on first use, pinging connections that sat
    idle before use (so an idle app's next request survives a server restart)
    and, for SQLite, WAL and foreign keys on. The engines are disposed of at app shutdown.

    Args:
        url: The default database's URL (a string or ``sqlalchemy.URL``).
        binds: ``{bind key: url}`` of further databases; models with
            ``__bind_key__ = key`` live there. Default: the
            ``DATABASE_BINDS`` setting, a JSON object.
        echo: Log every SQL statement (SQLAlchemy's ``echo``).
        engine_options: Extra ``create_engine`` keywords for every engine
            (``pool_size``, ``connect_args``, ...).
        write_begin: On PostgreSQL, a request's transaction begins at its
            first write: a read-only request runs its ``SELECT``s in the
            driver's autocommit mode, with no ``BEGIN`` and ``COMMIT`` round
            trips (see "Read-only requests" in ``docs/db.md``). ``False``
            begins every request's transaction before its first statement.
            No effect on SQLite and MariaDB/MySQL, nor at an isolation
            level other than ``READ COMMITTED``.
    """

    name = "db"

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        binds: Mapping[str, str | URL] | None = None,
        echo: bool = False,
        engine_options: dict[str, Any] | None = None,
        write_begin: bool = True,
    ) -> None:
        self._url = url
        self.write_begin = write_begin
        self._binds = dict(binds) if binds is not None else None
        self.echo = echo
        self.engine_options = dict(engine_options or {})
        self._settings: Settings | None = None
        self._urls: dict[str | None, str | URL] | None = None
        self._sync: dict[str | None, Engine] = {}
        self._async: dict[str | None, AsyncEngine] = {}
        # NOTE: sessions use the engines with execution options (the same
        # pool): SQLite's writers begin immediate (engines.SQLITE_BEGIN), and
        # PostgreSQL's request transactions at the first write (WRITE_BEGIN).
        # PERF: per (writes, request) the session's bind and its bind map,
        # built once instead of per request; emptied with the engines.
        self._sync_binds: dict[tuple[bool, bool], tuple[Engine, dict[str, Bind]]] = {}
        self._async_binds: dict[tuple[bool, bool], tuple[AsyncEngine, dict[str, Bind]]] = {}
        # NOTE: set by oakling.db.testing to run every session inside a
        # test's outer transaction (SQLAlchemy's "join an external transaction").
        self._test_sync: dict[str | None, Connection] | None = None
        self._test_async: dict[str | None, AsyncConnection] | None = None

    # -- plugin ---------------------------------------------------------------

    def install(self, app: App) -> None:
        """Register on ``app``: extension, 409/503 error handlers, shutdown disposal.

        Raises:
            ImproperlyConfigured: If the app already has a ``db`` extension.
        """
        existing = app.extensions.get(self.name)
        if existing is not None and existing is not self:
            raise ImproperlyConfigured("the app already has a Database installed")
        app.extensions[self.name] = self
        self._settings = app.settings
        self._urls = None
        install_error_handlers(app)
        app.on_shutdown(self.dispose)
        app.shell_context_processors.append(self._shell_context)

    def _shell_context(self) -> dict[str, Any]:
        names: dict[str, Any] = {"db": self, "session": self.session()}
        for mapper in Model.registry.mappers:
            names.setdefault(mapper.class_.__name__, mapper.class_)
        return names

    # -- configuration --------------------------------------------------------

    @property
    def metadata(self) -> MetaData:
        """The metadata of every model (``Model.metadata``)."""
        return Model.metadata

    def _resolve(self) -> dict[str | None, str | URL]:
        if self._urls is not None:
            return self._urls
        settings = self._settings
        if settings is None and (self._url is None or self._binds is None):
            from oakling.config import load_settings

            settings = load_settings()
        url: str | URL | None = self._url
        if url is None and settings is not None:
            url = settings.get("DATABASE_URL")
        urls: dict[str | None, str | URL] = {None: url or default_url()}
        binds = self._binds
        if binds is None and settings is not None:
            raw = settings.get("DATABASE_BINDS")
            if raw:
                binds = _parse_binds(raw)
        for key, bind_url in (binds or {}).items():
            urls[key] = bind_url
        self._urls = urls
        return urls

    @property
    def bind_keys(self) -> list[str]:
        """The configured bind keys (without the default database)."""
        return [key for key in self._resolve() if key is not None]

    def _raw_url(self, bind: str | None) -> str | URL:
        urls = self._resolve()
        if bind not in urls:
            raise ImproperlyConfigured(
                f"no database bind {bind!r}; configured: {sorted(key for key in urls if key)}"
            )
        return urls[bind]

    def url(self, bind: str | None = None) -> URL:
        """Return the (sync-driver) URL of the default database or of ``bind``.

        Raises:
            ImproperlyConfigured: For an unknown bind key.
        """
        return sync_url(self._raw_url(bind))

    def async_url(self, bind: str | None = None) -> URL:
        """Return the async-driver URL of the default database or of ``bind``.

        Raises:
            ImproperlyConfigured: For an unknown bind key.
            ValueError: For a backend with no known asyncio driver.
        """
        return async_url(self._raw_url(bind))

    # -- engines --------------------------------------------------------------

    def sync_engine(self, bind: str | None = None) -> Engine:
        """Return the (cached) sync engine of the default database or ``bind``.

        Raises:
            ImproperlyConfigured: For an unknown bind key.
            ImportError: When the driver is missing, naming the extra to install.
        """
        engine = self._sync.get(bind)
        if engine is None:
            engine = self._sync[bind] = create_sync_engine(
                self._raw_url(bind), echo=self.echo, engine_options=self.engine_options
            )
        return engine

    def async_engine(self, bind: str | None = None) -> AsyncEngine:
        """Return the (cached) async engine of the default database or ``bind``.

        Its pool belongs to the event loop that first uses it; the app
        disposes of it at shutdown.

        Raises:
            ImproperlyConfigured: For an unknown bind key.
            ImportError: When the driver is missing, naming the extra to install.
            ValueError: For a backend with no known asyncio driver.
        """
        engine = self._async.get(bind)
        if engine is None:
            engine = self._async[bind] = create_async_engine_for(
                self._raw_url(bind), echo=self.echo, engine_options=self.engine_options
            )
        return engine

    async def dispose(self) -> None:
        """Close every pooled connection and forget the engines (run at shutdown).

        While a test isolation (:mod:`oakling.db.testing`) holds connections
        of the sync or the async engines, those engines are left to it.
        """
        if self._test_async is None:
            engines, self._async = self._async, {}
            self._async_binds = {}
            for async_engine in engines.values():
                await async_engine.dispose()
        if self._test_sync is None:
            sync_engines, self._sync = self._sync, {}
            self._sync_binds = {}
            for engine in sync_engines.values():
                engine.dispose()

    # -- sessions -------------------------------------------------------------

    def _session_options(self, dialect: str, writes: bool, request: bool) -> dict[str, Any]:
        """Return the execution options of a session's engine (see engines.py)."""
        options: dict[str, Any] = {}
        if dialect == "sqlite" and writes:
            options[SQLITE_BEGIN] = "IMMEDIATE"
        elif dialect == "postgresql" and request and self.write_begin:
            options[WRITE_BEGIN] = True
        return options

    def _session_engine(self, bind: str | None, writes: bool, request: bool) -> Engine:
        engine = self.sync_engine(bind)
        options = self._session_options(engine.dialect.name, writes, request)
        return engine.execution_options(**options) if options else engine

    def _async_session_engine(self, bind: str | None, writes: bool, request: bool) -> AsyncEngine:
        engine = self.async_engine(bind)
        options = self._session_options(engine.dialect.name, writes, request)
        return engine.execution_options(**options) if options else engine

    def session(self, *, readonly: bool = False, **options: Any) -> RoutingSession:
        """Return a new sync session routing models to their binds.

        Use it as a context manager (``with db.session() as session:``);
        commit yourself. ``options`` go to :class:`sqlalchemy.orm.Session`.
        On SQLite its transactions take the write lock when they begin
        (``BEGIN IMMEDIATE``), so concurrent writers wait for each other.

        Args:
            readonly: The session only reads: on SQLite its transactions
                begin deferred (``BEGIN``) and run beside writers. Nothing
                is enforced; a write in it may fail with "database is
                locked" while another connection writes.
            **options: Keyword arguments of :class:`sqlalchemy.orm.Session`.
        """
        return self._session(not readonly, options)

    def _session(
        self, writes: bool, options: dict[str, Any], request: bool = False
    ) -> RoutingSession:
        """Return a sync session; ``writes``: False for a safe-method request.

        A session that writes begins its SQLite transactions immediate; one
        for a ``GET`` deferred (``BEGIN``), so reads run side by side (a
        write in it still works unless another connection writes at the
        same moment). ``request``: the session carries a request's
        transaction, which on PostgreSQL begins at its first write
        (:data:`~oakling.db.engines.WRITE_BEGIN`).
        """
        connections = self._test_sync
        if connections is not None:
            bind_map: dict[str, Engine | Connection] = {
                key: conn for key, conn in connections.items() if key is not None
            }
            options.setdefault("join_transaction_mode", "create_savepoint")
            return RoutingSession(bind=connections[None], bind_map=bind_map, **options)
        found = self._sync_binds.get((writes, request))
        if found is None:
            engines: dict[str, Bind] = {
                key: self._session_engine(key, writes, request) for key in self.bind_keys
            }
            found = self._sync_binds[writes, request] = (
                self._session_engine(None, writes, request),
                engines,
            )
        return RoutingSession(bind=found[0], bind_map=found[1], **options)

    def async_session(self, *, readonly: bool = False, **options: Any) -> AsyncSession:
        """Return a new async session routing models to their binds.

        Use it as ``async with db.async_session() as session:``; commit
        yourself. ``options`` go to :class:`sqlalchemy.ext.asyncio.AsyncSession`.
        On SQLite its transactions begin with ``BEGIN IMMEDIATE``, as
        :meth:`session`'s do, unless ``readonly`` (see :meth:`session`).
        """
        return self._async_session(not readonly, options)

    def _async_session(
        self, writes: bool, options: dict[str, Any], request: bool = False
    ) -> AsyncSession:
        """Return an async session; ``writes``, ``request``: see :meth:`_session`."""
        connections = self._test_async
        options.setdefault("expire_on_commit", False)
        if connections is not None:
            bind_map: dict[str, Engine | Connection] = {
                key: conn.sync_connection  # type: ignore[misc]  # NOTE: set once connected
                for key, conn in connections.items()
                if key is not None
            }
            options.setdefault("join_transaction_mode", "create_savepoint")
            return AsyncSession(
                bind=connections[None],
                sync_session_class=RoutingSession,
                bind_map=bind_map,
                **options,
            )
        found = self._async_binds.get((writes, request))
        if found is None:
            async_bind_map: dict[str, Bind] = {
                key: self._async_session_engine(key, writes, request).sync_engine
                for key in self.bind_keys
            }
            found = self._async_binds[writes, request] = (
                self._async_session_engine(None, writes, request),
                async_bind_map,
            )
        return AsyncSession(
            bind=found[0],
            sync_session_class=RoutingSession,
            bind_map=found[1],
            **options,
        )

    # -- schema ---------------------------------------------------------------

    def _tables(self, bind: str | None) -> list[Any]:
        return [table for table in self.metadata.sorted_tables if bind_key_of(table) == bind]

    def create_all(self, binds: Sequence[str | None] | None = None) -> None:
        """Create every model's missing table in its database (for tests and demos).

        Args:
            binds: Only these databases (None in the list: the default one);
                by default every configured database. Use migrations
                (``oakling db migrate``) for real projects.
        """
        keys = [None, *self.bind_keys] if binds is None else list(binds)
        for key in keys:
            self.metadata.create_all(self.sync_engine(key), tables=self._tables(key))

    def drop_all(self, binds: Sequence[str | None] | None = None) -> None:
        """Drop every model's table from its database (see :meth:`create_all`)."""
        keys = [None, *self.bind_keys] if binds is None else list(binds)
        for key in keys:
            self.metadata.drop_all(self.sync_engine(key), tables=self._tables(key))

    def __repr__(self) -> str:
        url = self._resolve()[None]
        shown = _safe_url(url)
        return f"<Database {shown}>"


def _safe_url(url: str | URL) -> str:
    """Return ``url`` as text with its password hidden."""
    from sqlalchemy import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a repr must not fail
        return "<invalid URL>"


def _parse_binds(raw: Any) -> dict[str, str | URL]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as ex:
            raise ImproperlyConfigured(
                f"DATABASE_BINDS must be a JSON object {{name: url}}: {ex}"
            ) from None
    if not isinstance(raw, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in raw.items()
    ):
        raise ImproperlyConfigured("DATABASE_BINDS must be a JSON object {name: url}")
    return dict(raw)
