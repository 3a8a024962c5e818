"""Litestar: controllers, msgspec Structs, the SQLAlchemy plugin, templates.

As Litestar's documentation writes it: ``@get`` handlers with typed
parameters and return types (msgspec ``Struct``s, serialised by msgspec),
``Controller`` classes grouping the database routes, dependencies declared
with ``Provide`` (a generator dependency yielding the ``AsyncSession``, one
per request, closed after the handler; the asyncpg pool opened by a
lifespan), and a ``Template`` response rendered by Jinja2. ORM path:
SQLAlchemy 2 async ORM (asyncpg driver).

NOTE: Litestar's own SQLAlchemy plugin (``litestar.plugins.sqlalchemy``)
needs advanced-alchemy, which with SQLAlchemy 2.1 emits a deprecation warning
as soon as it is importable, even on a bare ``import litestar``: that breaks
every test run with warnings as errors. The generator dependency below does
what the plugin's session dependency does (a session per request).

The ``queries`` parameter is a ``str | None``: typed ``int``, Litestar would
answer 400 to ``?queries=foo``, which TFB requires to mean 1.

Served from the repository root::

    uvicorn bench.tfb.apps.litestar:app --no-access-log --loop uvloop --http httptools
    granian --interface asgi --workers 1 --no-ws --log-level warning bench.tfb.apps.litestar:app
"""

import contextlib
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import msgspec
from litestar import Controller, Litestar, MediaType, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["KIND", "ORM", "app"]

KIND = "asgi"
ORM = True

DSN = os.environ.get("TFB_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tfb")
POOL_SIZE = 8
ADDITIONAL_FORTUNE = "Additional fortune added at request time."

READ_ROW = "SELECT id, randomnumber FROM world WHERE id = $1"
WRITE_ROW = "UPDATE world SET randomnumber = $2 WHERE id = $1"
READ_FORTUNES = "SELECT id, message FROM fortune"


# The engine connects on first use, not here.
engine = create_async_engine(
    DSN.replace("postgresql://", "postgresql+asyncpg://", 1),
    pool_size=POOL_SIZE,
    max_overflow=0,
)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class World(Base):
    __tablename__ = "world"

    id: Mapped[int] = mapped_column(primary_key=True)
    randomnumber: Mapped[int]


class Fortune(Base):
    __tablename__ = "fortune"

    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str]


class WorldOut(msgspec.Struct):
    id: int
    randomNumber: int  # the TFB field name


def clamp(queries: str | None) -> int:
    """Return ``queries`` as a count in 1..500; missing or not a number is 1."""
    if queries is None:
        return 1
    try:
        return min(max(int(queries), 1), 500)
    except ValueError:
        return 1


@get("/json")
async def json_serialization() -> dict[str, str]:
    return {"message": "Hello, World!"}


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return "Hello, World!"


async def provide_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


class WorldController(Controller):
    """The ORM path: a session per request, from a generator dependency."""

    path = "/"
    dependencies = {"db_session": Provide(provide_session)}

    @get("/db")
    async def single_query(self, db_session: NamedDependency[AsyncSession]) -> WorldOut:
        world = await db_session.get(World, random.randint(1, 10000))
        return WorldOut(id=world.id, randomNumber=world.randomnumber)

    @get("/queries")
    async def multiple_queries(
        self, db_session: NamedDependency[AsyncSession], queries: FromQuery[str | None] = None
    ) -> list[WorldOut]:
        worlds = []
        for world_id in random.sample(range(1, 10001), clamp(queries)):  # one query each
            world = await db_session.get(World, world_id)
            worlds.append(WorldOut(id=world.id, randomNumber=world.randomnumber))
        return worlds

    @get("/updates")
    async def updates(
        self, db_session: NamedDependency[AsyncSession], queries: FromQuery[str | None] = None
    ) -> list[WorldOut]:
        worlds = []
        for world_id in random.sample(range(1, 10001), clamp(queries)):
            world = await db_session.get(World, world_id)
            world.randomnumber = random.randint(1, 10000)
            worlds.append(WorldOut(id=world.id, randomNumber=world.randomnumber))
        await db_session.commit()
        return worlds

    @get("/fortunes")
    async def fortunes(self, db_session: NamedDependency[AsyncSession]) -> Template:
        rows = list(await db_session.scalars(select(Fortune)))
        rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
        rows.sort(key=lambda fortune: fortune.message)
        return Template(template_name="fortunes.html", context={"fortunes": rows})


async def read_worlds(connection: asyncpg.Connection, count: int) -> list[WorldOut]:
    worlds = []
    for world_id in random.sample(range(1, 10001), count):  # one query each
        found, number = await connection.fetchrow(READ_ROW, world_id)
        worlds.append(WorldOut(id=found, randomNumber=number))
    return worlds


def provide_pool(state: State) -> asyncpg.Pool:
    return state.pool


class RawController(Controller):
    """The raw path: asyncpg, the pool injected by ``Provide``."""

    path = "/raw"
    dependencies = {"pool": Provide(provide_pool, sync_to_thread=False)}

    @get("/db")
    async def single_query(self, pool: NamedDependency[asyncpg.Pool]) -> WorldOut:
        world_id, number = await pool.fetchrow(READ_ROW, random.randint(1, 10000))
        return WorldOut(id=world_id, randomNumber=number)

    @get("/queries")
    async def multiple_queries(
        self, pool: NamedDependency[asyncpg.Pool], queries: FromQuery[str | None] = None
    ) -> list[WorldOut]:
        async with pool.acquire() as connection:
            return await read_worlds(connection, clamp(queries))

    @get("/updates")
    async def updates(
        self, pool: NamedDependency[asyncpg.Pool], queries: FromQuery[str | None] = None
    ) -> list[WorldOut]:
        async with pool.acquire() as connection:
            worlds = await read_worlds(connection, clamp(queries))
            for world in worlds:
                world.randomNumber = random.randint(1, 10000)
            # Sorted by id so concurrent requests lock rows in the same order.
            await connection.executemany(
                WRITE_ROW, sorted((world.id, world.randomNumber) for world in worlds)
            )
        return worlds

    @get("/fortunes")
    async def fortunes(self, pool: NamedDependency[asyncpg.Pool]) -> Template:
        rows = [dict(row) for row in await pool.fetch(READ_FORTUNES)]
        rows.append({"id": 0, "message": ADDITIONAL_FORTUNE})
        rows.sort(key=lambda fortune: fortune["message"])
        return Template(template_name="fortunes.html", context={"fortunes": rows})


@contextlib.asynccontextmanager
async def asyncpg_pool(app: Litestar) -> AsyncIterator[None]:
    async with asyncpg.create_pool(DSN, min_size=1, max_size=POOL_SIZE) as pool:
        app.state.pool = pool
        yield
    await engine.dispose()


app = Litestar(
    route_handlers=[json_serialization, plaintext, WorldController, RawController],
    lifespan=[asyncpg_pool],
    template_config=TemplateConfig(
        directory=Path(__file__).resolve().parent.parent / "templates",
        engine=JinjaTemplateEngine,
    ),
)
