"""FastAPI: typed handlers, pydantic response models, ``Depends`` sessions.

As FastAPI's documentation writes it: path operations with a return type
(a pydantic model, validated and serialised by FastAPI), a dict for
``/json``, ``response_class=PlainTextResponse`` for text, a session
dependency with ``yield`` (``SessionDep = Annotated[AsyncSession,
Depends(get_session)]``), ``Jinja2Templates`` for fortunes and a lifespan
opening the asyncpg pool. ORM path: SQLAlchemy 2 async ORM (asyncpg driver).

The ``queries`` parameter is a ``str | None``: typed ``int``, FastAPI would
answer 422 to ``?queries=foo``, which TFB requires to mean 1.

Served from the repository root::

    uvicorn bench.tfb.apps.fastapi:app --no-access-log --loop uvloop --http httptools
    granian --interface asgi --workers 1 --no-ws --log-level warning bench.tfb.apps.fastapi:app
"""

import contextlib
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import asyncpg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
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

templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

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


class WorldOut(BaseModel):
    id: int
    randomNumber: int  # the TFB field name


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with asyncpg.create_pool(DSN, min_size=1, max_size=POOL_SIZE) as pool:
        app.state.pool = pool
        yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


async def get_pool(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


SessionDep = Annotated[AsyncSession, Depends(get_session)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]


def clamp(queries: str | None) -> int:
    """Return ``queries`` as a count in 1..500; missing or not a number is 1."""
    if queries is None:
        return 1
    try:
        return min(max(int(queries), 1), 500)
    except ValueError:
        return 1


@app.get("/json")
async def json_serialization():
    return {"message": "Hello, World!"}


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext():
    return "Hello, World!"


# -- ORM: SQLAlchemy async -------------------------------------------------------


@app.get("/db")
async def single_query(session: SessionDep) -> WorldOut:
    world = await session.get(World, random.randint(1, 10000))
    return WorldOut(id=world.id, randomNumber=world.randomnumber)


@app.get("/queries")
async def multiple_queries(session: SessionDep, queries: str | None = None) -> list[WorldOut]:
    worlds = []
    for world_id in random.sample(range(1, 10001), clamp(queries)):  # one query each
        world = await session.get(World, world_id)
        worlds.append(WorldOut(id=world.id, randomNumber=world.randomnumber))
    return worlds


@app.get("/updates")
async def updates(session: SessionDep, queries: str | None = None) -> list[WorldOut]:
    worlds = []
    for world_id in random.sample(range(1, 10001), clamp(queries)):
        world = await session.get(World, world_id)
        world.randomnumber = random.randint(1, 10000)
        worlds.append(WorldOut(id=world.id, randomNumber=world.randomnumber))
    await session.commit()
    return worlds


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes(request: Request, session: SessionDep):
    rows = list(await session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


# -- raw driver: asyncpg -----------------------------------------------------------


@app.get("/raw/db")
async def raw_single_query(pool: PoolDep) -> WorldOut:
    world_id, number = await pool.fetchrow(READ_ROW, random.randint(1, 10000))
    return WorldOut(id=world_id, randomNumber=number)


async def read_worlds(connection: asyncpg.Connection, count: int) -> list[WorldOut]:
    worlds = []
    for world_id in random.sample(range(1, 10001), count):  # one query each
        found, number = await connection.fetchrow(READ_ROW, world_id)
        worlds.append(WorldOut(id=found, randomNumber=number))
    return worlds


@app.get("/raw/queries")
async def raw_multiple_queries(pool: PoolDep, queries: str | None = None) -> list[WorldOut]:
    async with pool.acquire() as connection:
        return await read_worlds(connection, clamp(queries))


@app.get("/raw/updates")
async def raw_updates(pool: PoolDep, queries: str | None = None) -> list[WorldOut]:
    async with pool.acquire() as connection:
        worlds = await read_worlds(connection, clamp(queries))
        for world in worlds:
            world.randomNumber = random.randint(1, 10000)
        # Sorted by id so concurrent requests lock rows in the same order.
        await connection.executemany(
            WRITE_ROW, sorted((world.id, world.randomNumber) for world in worlds)
        )
    return worlds


@app.get("/raw/fortunes", response_class=HTMLResponse)
async def raw_fortunes(request: Request, pool: PoolDep):
    rows = [dict(row) for row in await pool.fetch(READ_FORTUNES)]
    rows.append({"id": 0, "message": ADDITIONAL_FORTUNE})
    rows.sort(key=lambda fortune: fortune["message"])
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})
