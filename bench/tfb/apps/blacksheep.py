"""BlackSheep: ``@get`` handlers, response functions, DI, Jinja2 views.

As BlackSheep's documentation writes it: handlers on the default router
returning ``json(...)``, ``text(...)`` and ``view(...)`` (Jinja2, its
``.jinja`` templates: ``templates/blacksheep/fortunes.jinja``), query values
bound from handler parameters, and the asyncpg pool registered in the DI
container by a ``lifespan`` and injected by its type. ORM path: SQLAlchemy 2
async ORM (asyncpg driver), a session per request from an
``async_sessionmaker``.

Served from the repository root::

    uvicorn bench.tfb.apps.blacksheep:app --no-access-log --loop uvloop --http httptools
    granian --interface asgi --workers 1 --no-ws --log-level warning bench.tfb.apps.blacksheep:app
"""

# NOTE: no ``from __future__ import annotations``: BlackSheep binds handler
# parameters from their annotations, which stay real objects.

import os
import random
from pathlib import Path

import asyncpg
from blacksheep import Application, get, json, text
from blacksheep.server.rendering.jinja2 import JinjaRenderer
from blacksheep.server.responses import view
from blacksheep.settings.html import html_settings
from jinja2 import FileSystemLoader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
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
Session = async_sessionmaker(engine, expire_on_commit=False)


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


app = Application()
html_settings.use(
    JinjaRenderer(FileSystemLoader(Path(__file__).resolve().parent.parent / "templates/blacksheep"))
)


@app.lifespan
async def asyncpg_pool():
    async with asyncpg.create_pool(DSN, min_size=1, max_size=POOL_SIZE) as pool:
        app.services.register(asyncpg.Pool, instance=pool)
        yield
    await engine.dispose()


def clamp(queries: str | None) -> int:
    """Return ``queries`` as a count in 1..500; missing or not a number is 1."""
    if queries is None:
        return 1
    try:
        return min(max(int(queries), 1), 500)
    except ValueError:
        return 1


@get("/json")
async def json_serialization():
    return json({"message": "Hello, World!"})


@get("/plaintext")
async def plaintext():
    return text("Hello, World!")


# -- ORM: SQLAlchemy async -------------------------------------------------------


@get("/db")
async def single_query():
    async with Session() as session:
        world = await session.get(World, random.randint(1, 10000))
    return json({"id": world.id, "randomNumber": world.randomnumber})


@get("/queries")
async def multiple_queries(queries: str | None = None):
    worlds = []
    async with Session() as session:
        for world_id in random.sample(range(1, 10001), clamp(queries)):  # one query each
            world = await session.get(World, world_id)
            worlds.append({"id": world.id, "randomNumber": world.randomnumber})
    return json(worlds)


@get("/updates")
async def updates(queries: str | None = None):
    worlds = []
    async with Session.begin() as session:  # committed at the end of the block
        for world_id in random.sample(range(1, 10001), clamp(queries)):
            world = await session.get(World, world_id)
            world.randomnumber = random.randint(1, 10000)
            worlds.append({"id": world.id, "randomNumber": world.randomnumber})
    return json(worlds)


@get("/fortunes")
async def fortunes():
    async with Session() as session:
        rows = list(await session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return view("fortunes", {"fortunes": rows})


# -- raw driver: asyncpg -----------------------------------------------------------


@get("/raw/db")
async def raw_single_query(pool: asyncpg.Pool):
    world_id, number = await pool.fetchrow(READ_ROW, random.randint(1, 10000))
    return json({"id": world_id, "randomNumber": number})


async def read_worlds(connection: asyncpg.Connection, count: int) -> list[dict[str, int]]:
    worlds = []
    for world_id in random.sample(range(1, 10001), count):  # one query each
        found, number = await connection.fetchrow(READ_ROW, world_id)
        worlds.append({"id": found, "randomNumber": number})
    return worlds


@get("/raw/queries")
async def raw_multiple_queries(pool: asyncpg.Pool, queries: str | None = None):
    async with pool.acquire() as connection:
        worlds = await read_worlds(connection, clamp(queries))
    return json(worlds)


@get("/raw/updates")
async def raw_updates(pool: asyncpg.Pool, queries: str | None = None):
    async with pool.acquire() as connection:
        worlds = await read_worlds(connection, clamp(queries))
        for world in worlds:
            world["randomNumber"] = random.randint(1, 10000)
        # Sorted by id so concurrent requests lock rows in the same order.
        await connection.executemany(
            WRITE_ROW, sorted((world["id"], world["randomNumber"]) for world in worlds)
        )
    return json(worlds)


@get("/raw/fortunes")
async def raw_fortunes(pool: asyncpg.Pool):
    rows = [dict(row) for row in await pool.fetch(READ_FORTUNES)]
    rows.append({"id": 0, "message": ADDITIONAL_FORTUNE})
    rows.sort(key=lambda fortune: fortune["message"])
    return view("fortunes", {"fortunes": rows})
