"""The data and the app variants of ``bench/db_inprocess.py``.

The ``bench_world_<suffix>`` table on each backend (:class:`Backend`,
:func:`prepare_backend`) and the variants of the ``/db`` handler, one
factory each, registered with ``@variant(...)``: oakling.db's injected
session, the battery's ``db.session()`` opened in the handler, plain
SQLAlchemy with and without a transaction, raw asyncpg.
"""

# NOTE: no ``from __future__ import annotations``: the handlers below are
# defined inside factories and oakling reads their annotations (``Session``)
# at startup; as strings they would not resolve.

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness import ASGIApp, BenchError, Case
from inprocess_apps import SECRET_KEY

__all__ = [
    "BACKENDS",
    "CASE",
    "PG_URL",
    "VARIANTS",
    "Backend",
    "Variant",
    "define_world",
    "prepare_backend",
    "variant",
]

PG_URL = os.environ.get("OAKLING_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("postgresql", "sqlite")
CASE = Case(
    name="db",
    description='GET /db -> one random row as {"id":..,"randomNumber":..} (TFB single query)',
    path="/db",
    media_type="application/json",
    body=b"",
    is_json=True,
)


# -- the data -------------------------------------------------------------------


@dataclass
class Backend:
    """One database for one run: its URL, the World model and the rows inserted.

    Attributes:
        name: ``postgresql`` or ``sqlite``.
        url: The URL given to ``Database(url)`` (drivers derived by oakling.db).
        world: The mapped class of this run's table.
        rows: ``{id: randomnumber}`` as inserted.
        cleanup: Callables run at the end (drop the table, remove files).
    """

    name: str
    url: str
    world: Any
    rows: dict[int, int]
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    @property
    def table(self) -> str:
        """The table's name (``bench_world_<suffix>``)."""
        return str(self.world.__tablename__)


def define_world(table: str) -> Any:
    """Return a model ``World`` on ``table``, a subclass of ``oakling.db.Model``."""
    from sqlalchemy.orm import Mapped, mapped_column

    from oakling.db import Model

    return type(
        "World",
        (Model,),
        {
            "__tablename__": table,
            "__annotations__": {"id": Mapped[int], "randomnumber": Mapped[int]},
            "id": mapped_column(primary_key=True, autoincrement=False),
            "randomnumber": mapped_column(),
        },
    )


def prepare_backend(name: str, world: Any, rows: int, workdir: str) -> Backend:
    """Create ``world``'s table on backend ``name`` and insert ``rows`` rows.

    Raises:
        BenchError: When the database is unreachable (the backend is skipped).
    """
    from sqlalchemy import create_engine, insert, text

    from oakling.db import sync_url

    url = f"sqlite:///{os.path.join(workdir, 'bench.db')}" if name == "sqlite" else PG_URL
    options: dict[str, Any] = {}
    if name == "postgresql":
        options["connect_args"] = {"connect_timeout": 3}
    engine = create_engine(sync_url(url), **options)
    seed = random.Random(2024)
    data = {index: seed.randint(1, 10_000) for index in range(1, rows + 1)}
    table = world.__table__
    try:
        with engine.begin() as connection:
            if name == "sqlite":
                # NOTE: the battery turns WAL on when it connects; WAL stays
                # with the file, so set it first and every variant reads alike.
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            table.create(connection)
            connection.execute(
                insert(table), [{"id": key, "randomnumber": value} for key, value in data.items()]
            )
            count = connection.execute(text(f"SELECT count(*) FROM {table.name}")).scalar_one()
    except Exception as ex:
        engine.dispose()
        raise BenchError(f"{name} unavailable: {type(ex).__name__}: {ex}") from ex
    if count != rows:
        raise BenchError(f"{name}: inserted {count} rows, expected {rows}")

    def drop() -> None:
        try:
            table.drop(engine, checkfirst=True)
        finally:
            engine.dispose()

    return Backend(name, url, world, data, [drop])


# -- the variants -------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One way of writing the ``/db`` handler.

    Attributes:
        label: Shown in the table (``oakling.db Session``).
        kind: ``sync`` or ``async``: which handlers it is compared with.
        role: ``battery`` (injected session), ``manual`` (the battery's
            ``db.session()`` opened in the handler), ``plain`` (plain
            SQLAlchemy, no commit), ``plain-tx`` (plain SQLAlchemy in a
            transaction: ``Session.begin()``, commits) or ``raw`` (the driver).
        factory: ``factory(backend)`` builds the oakling app.
        backends: The backends it runs on.
    """

    label: str
    kind: str
    role: str
    factory: Callable[[Backend], ASGIApp]
    backends: tuple[str, ...] = BACKENDS


VARIANTS: list[Variant] = []


def variant(
    label: str, kind: str, role: str, backends: tuple[str, ...] = BACKENDS
) -> Callable[[Callable[[Backend], ASGIApp]], Callable[[Backend], ASGIApp]]:
    """Register the decorated app factory as a variant."""

    def decorator(factory: Callable[[Backend], ASGIApp]) -> Callable[[Backend], ASGIApp]:
        VARIANTS.append(Variant(label, kind, role, factory, backends))
        return factory

    return decorator


def _random_id(backend: Backend) -> Callable[[], int]:
    top = len(backend.rows)
    randint = random.randint
    return lambda: randint(1, top)


@variant("oakling.db Session", "sync", "battery")
def sync_battery(backend: Backend) -> ASGIApp:
    from oakling import App
    from oakling.db import Database, Session

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    app = App(secret_key=SECRET_KEY, plugins=[Database(backend.url)])

    @app.get("/db")
    def world(session: Session) -> dict[str, int]:
        row: Any = session.get(World, random_id())
        return {"id": row.id, "randomNumber": row.randomnumber}

    return app


@variant("oakling.db [db.session() in handler]", "sync", "manual")
def sync_manual(backend: Backend) -> ASGIApp:
    from oakling import App
    from oakling.db import Database

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    db = Database(backend.url)
    app = App(secret_key=SECRET_KEY, plugins=[db])

    @app.get("/db")
    def world() -> dict[str, int]:
        with db.session() as session:
            row: Any = session.get(World, random_id())
            return {"id": row.id, "randomNumber": row.randomnumber}

    return app


def _sync_plain(backend: Backend, *, commit: bool) -> ASGIApp:
    """A plain SQLAlchemy app: ``Session()``, or ``Session.begin()`` when ``commit``.

    No ``pool_pre_ping``: what a plain SQLAlchemy user writes (oakling.db
    pings only connections that sat idle, see ``oakling/db/engines.py``).
    """
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from oakling import App
    from oakling.db import sync_url

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    engine = create_engine(sync_url(backend.url))
    Session = sessionmaker(engine)  # noqa: N806 - SQLAlchemy's documented spelling
    begin = Session.begin if commit else Session
    app = App(secret_key=SECRET_KEY)

    @app.get("/db")
    def world() -> dict[str, int]:
        with begin() as session:
            row: Any = session.get(World, random_id())
            return {"id": row.id, "randomNumber": row.randomnumber}

    app.on_shutdown(engine.dispose)
    return app


@variant("plain sessionmaker", "sync", "plain")
def sync_plain(backend: Backend) -> ASGIApp:
    return _sync_plain(backend, commit=False)


@variant("plain sessionmaker.begin() (commits)", "sync", "plain-tx")
def sync_plain_transaction(backend: Backend) -> ASGIApp:
    return _sync_plain(backend, commit=True)


@variant("oakling.db AsyncSession", "async", "battery")
def async_battery(backend: Backend) -> ASGIApp:
    from oakling import App
    from oakling.db import AsyncSession, Database

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    app = App(secret_key=SECRET_KEY, plugins=[Database(backend.url)])

    @app.get("/db")
    async def world(session: AsyncSession) -> dict[str, int]:
        row: Any = await session.get(World, random_id())
        return {"id": row.id, "randomNumber": row.randomnumber}

    return app


@variant("oakling.db [db.async_session() in handler]", "async", "manual")
def async_manual(backend: Backend) -> ASGIApp:
    from oakling import App
    from oakling.db import Database

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    db = Database(backend.url)
    app = App(secret_key=SECRET_KEY, plugins=[db])

    @app.get("/db")
    async def world() -> dict[str, int]:
        async with db.async_session() as session:
            row: Any = await session.get(World, random_id())
            return {"id": row.id, "randomNumber": row.randomnumber}

    return app


def _async_plain(backend: Backend, *, commit: bool) -> ASGIApp:
    """:func:`_sync_plain` with ``async_sessionmaker`` and an ``async def`` handler."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from oakling import App
    from oakling.db import async_url

    World = backend.world  # noqa: N806 - a model class
    random_id = _random_id(backend)
    engine = create_async_engine(async_url(backend.url))
    Session = async_sessionmaker(engine, expire_on_commit=False)  # noqa: N806
    begin = Session.begin if commit else Session
    app = App(secret_key=SECRET_KEY)

    @app.get("/db")
    async def world() -> dict[str, int]:
        async with begin() as session:
            row: Any = await session.get(World, random_id())
            return {"id": row.id, "randomNumber": row.randomnumber}

    app.on_shutdown(engine.dispose)
    return app


@variant("plain async_sessionmaker", "async", "plain")
def async_plain(backend: Backend) -> ASGIApp:
    return _async_plain(backend, commit=False)


@variant("plain async_sessionmaker.begin() (commits)", "async", "plain-tx")
def async_plain_transaction(backend: Backend) -> ASGIApp:
    return _async_plain(backend, commit=True)


@variant("raw asyncpg pool (reference)", "async", "raw", backends=("postgresql",))
def async_raw_asyncpg(backend: Backend) -> ASGIApp:
    import asyncpg  # type: ignore[import-untyped]  # no stubs, no py.typed
    from sqlalchemy import make_url

    from oakling import App

    random_id = _random_id(backend)
    # NOTE: the table name is this run's own, made here: not user input.
    query = f"SELECT id, randomnumber FROM {backend.table} WHERE id = $1"
    dsn = make_url(backend.url).set(drivername="postgresql").render_as_string(False)
    pools: list[Any] = []
    app = App(secret_key=SECRET_KEY)

    @app.on_startup
    async def open_pool() -> None:
        pools.append(await asyncpg.create_pool(dsn, min_size=1, max_size=10))

    @app.on_shutdown
    async def close_pool() -> None:
        await pools.pop().close()

    @app.get("/db")
    async def world() -> dict[str, int]:
        row = await pools[0].fetchrow(query, random_id())
        return {"id": row["id"], "randomNumber": row["randomnumber"]}

    return app
