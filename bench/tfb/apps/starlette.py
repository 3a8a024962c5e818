"""Starlette: a ``Route`` list, response classes, SQLAlchemy async, asyncpg.

As Starlette's documentation writes it: endpoints take a ``Request`` and
return ``JSONResponse``/``PlainTextResponse``; ``Jinja2Templates`` renders
fortunes; the lifespan opens the asyncpg pool into ``app.state`` and
disposes of the SQLAlchemy engine. ORM path: SQLAlchemy 2 async ORM
(asyncpg driver), a session per request from an ``async_sessionmaker``.

Served from the repository root::

    uvicorn bench.tfb.apps.starlette:app --no-access-log --loop uvloop --http httptools
    granian --interface asgi --workers 1 --no-ws --log-level warning bench.tfb.apps.starlette:app
"""

import contextlib
import os
import random
from pathlib import Path

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

__all__ = ["KIND", "ORM", "app"]

KIND = "asgi"
ORM = True

DSN = os.environ.get("TFB_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tfb")
POOL_SIZE = 8
ADDITIONAL_FORTUNE = "Additional fortune added at request time."

READ_ROW = "SELECT id, randomnumber FROM world WHERE id = $1"
WRITE_ROW = "UPDATE world SET randomnumber = $2 WHERE id = $1"
READ_FORTUNES = "SELECT id, message FROM fortune"

templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

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


def get_queries(request: Request) -> int:
    """Return ``?queries=`` clamped to 1..500; missing or not a number is 1."""
    try:
        return min(max(int(request.query_params["queries"]), 1), 500)
    except (KeyError, ValueError):
        return 1


async def json_endpoint(request: Request) -> JSONResponse:
    return JSONResponse({"message": "Hello, World!"})


async def plaintext(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, World!")


# -- ORM: SQLAlchemy async -------------------------------------------------------


async def single_query(request: Request) -> JSONResponse:
    async with Session() as session:
        world = await session.get(World, random.randint(1, 10000))
    return JSONResponse({"id": world.id, "randomNumber": world.randomnumber})


async def multiple_queries(request: Request) -> JSONResponse:
    worlds = []
    async with Session() as session:
        for world_id in random.sample(range(1, 10001), get_queries(request)):  # one query each
            world = await session.get(World, world_id)
            worlds.append({"id": world.id, "randomNumber": world.randomnumber})
    return JSONResponse(worlds)


async def updates(request: Request) -> JSONResponse:
    worlds = []
    async with Session.begin() as session:  # committed at the end of the block
        for world_id in random.sample(range(1, 10001), get_queries(request)):
            world = await session.get(World, world_id)
            world.randomnumber = random.randint(1, 10000)
            worlds.append({"id": world.id, "randomNumber": world.randomnumber})
    return JSONResponse(worlds)


async def fortunes(request: Request):
    async with Session() as session:
        rows = list(await session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


# -- raw driver: asyncpg -----------------------------------------------------------


async def raw_single_query(request: Request) -> JSONResponse:
    pool: asyncpg.Pool = request.app.state.pool
    world_id, number = await pool.fetchrow(READ_ROW, random.randint(1, 10000))
    return JSONResponse({"id": world_id, "randomNumber": number})


async def read_worlds(connection: asyncpg.Connection, count: int) -> list[dict[str, int]]:
    worlds = []
    for world_id in random.sample(range(1, 10001), count):  # one query each
        found, number = await connection.fetchrow(READ_ROW, world_id)
        worlds.append({"id": found, "randomNumber": number})
    return worlds


async def raw_multiple_queries(request: Request) -> JSONResponse:
    async with request.app.state.pool.acquire() as connection:
        worlds = await read_worlds(connection, get_queries(request))
    return JSONResponse(worlds)


async def raw_updates(request: Request) -> JSONResponse:
    async with request.app.state.pool.acquire() as connection:
        worlds = await read_worlds(connection, get_queries(request))
        for world in worlds:
            world["randomNumber"] = random.randint(1, 10000)
        # Sorted by id so concurrent requests lock rows in the same order.
        await connection.executemany(
            WRITE_ROW, sorted((world["id"], world["randomNumber"]) for world in worlds)
        )
    return JSONResponse(worlds)


async def raw_fortunes(request: Request):
    rows = [dict(row) for row in await request.app.state.pool.fetch(READ_FORTUNES)]
    rows.append({"id": 0, "message": ADDITIONAL_FORTUNE})
    rows.sort(key=lambda fortune: fortune["message"])
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    async with asyncpg.create_pool(DSN, min_size=1, max_size=POOL_SIZE) as pool:
        app.state.pool = pool
        yield
    await engine.dispose()


routes = [
    Route("/json", json_endpoint),
    Route("/plaintext", plaintext),
    Route("/db", single_query),
    Route("/queries", multiple_queries),
    Route("/updates", updates),
    Route("/fortunes", fortunes),
    Route("/raw/db", raw_single_query),
    Route("/raw/queries", raw_multiple_queries),
    Route("/raw/updates", raw_updates),
    Route("/raw/fortunes", raw_fortunes),
]

app = Starlette(routes=routes, lifespan=lifespan)
