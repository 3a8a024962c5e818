"""oakling: typed handlers, oakling.db for the ORM path, asyncpg for the raw one.

Written as docs/handlers.md and docs/db.md show: handlers return a ``dict``
(JSON) or a ``str`` (text), take typed query parameters, get an
``AsyncSession`` by annotation from the ``Database`` plugin (one transaction
per request), and render Jinja2 templates with ``render``. The raw path
takes an asyncpg pool, opened in an ``on_startup`` hook, through ``Depends``.

Served from the repository root (``OAKLING_SECRET_KEY`` is not needed: the
app sets a benchmark-only key, it signs nothing here)::

    uvicorn bench.tfb.apps.oakling:app --no-access-log --loop uvloop --http httptools
    granian --interface asgi --workers 1 --no-ws --log-level warning bench.tfb.apps.oakling:app
    granian --interface rsgi --workers 1 --no-ws --log-level warning bench.tfb.apps.oakling:app
"""

# NOTE: no ``from __future__ import annotations``: the handlers' annotations
# stay real objects, as in a user's module.

import os
import random
from pathlib import Path
from typing import Annotated

import asyncpg
from sqlalchemy import select
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App, Depends, Request, render
from oakling.db import AsyncSession, Database, Model

__all__ = ["KIND", "ORM", "RSGI", "app"]

KIND = "asgi"
ORM = True
RSGI = "app"  # an App speaks RSGI too (oakling.rsgi)

DSN = os.environ.get("TFB_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tfb")
POOL_SIZE = 8
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
ADDITIONAL_FORTUNE = "Additional fortune added at request time."

READ_ROW = "SELECT id, randomnumber FROM world WHERE id = $1"
WRITE_ROW = "UPDATE world SET randomnumber = $2 WHERE id = $1"
READ_FORTUNES = "SELECT id, message FROM fortune"


class World(Model):
    __tablename__ = "world"

    id: Mapped[int] = mapped_column(primary_key=True)
    randomnumber: Mapped[int]


class Fortune(Model):
    __tablename__ = "fortune"

    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str]


app = App(
    # Benchmark only: the key signs nothing in this app, but oakling refuses
    # to start outside debug without one.
    secret_key=os.environ.get("OAKLING_SECRET_KEY", "tfb-benchmark-only-" + "k" * 32),
    # The Database's async engine: asyncpg (postgresql:// becomes +asyncpg).
    plugins=[Database(DSN, engine_options={"pool_size": POOL_SIZE, "max_overflow": 0})],
    template_folder=TEMPLATES,
)


def clamp(queries: str | None) -> int:
    """Return ``queries`` as a count in 1..500; missing or not a number is 1."""
    if queries is None:
        return 1
    try:
        return min(max(int(queries), 1), 500)
    except ValueError:
        return 1


# -- no database ---------------------------------------------------------------


@app.get("/json")
async def json_serialization():
    return {"message": "Hello, World!"}


@app.get("/plaintext")
async def plaintext():
    return "Hello, World!"


# -- ORM: oakling.db -----------------------------------------------------------
# NOTE: the read-only handlers are not marked @no_transaction: docs/db.md
# presents it as the opt-out for handlers that commit by themselves
# (batches), not as advice for reads; a user writes the plain handler and
# gets the per-request transaction, as measured here.


@app.get("/db")
async def single_query(session: AsyncSession):
    world = await session.get(World, random.randint(1, 10000))
    return {"id": world.id, "randomNumber": world.randomnumber}


@app.get("/queries")
async def multiple_queries(session: AsyncSession, queries: str | None = None):
    worlds = []
    for world_id in random.sample(range(1, 10001), clamp(queries)):  # one query each
        world = await session.get(World, world_id)
        worlds.append({"id": world.id, "randomNumber": world.randomnumber})
    return worlds


@app.get("/updates")
async def updates(session: AsyncSession, queries: str | None = None):
    worlds = []
    for world_id in random.sample(range(1, 10001), clamp(queries)):
        world = await session.get(World, world_id)
        world.randomnumber = random.randint(1, 10000)  # saved by the request's commit
        worlds.append({"id": world.id, "randomNumber": world.randomnumber})
    return worlds


@app.get("/fortunes")
async def fortunes(request: Request, session: AsyncSession):
    rows = list(await session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return render(request, "fortunes.html", fortunes=rows)


# -- raw driver: asyncpg ---------------------------------------------------------


@app.on_startup
async def open_pool():
    app.state.pool = await asyncpg.create_pool(DSN, min_size=1, max_size=POOL_SIZE)


@app.on_shutdown
async def close_pool():
    await app.state.pool.close()


async def get_pool() -> asyncpg.Pool:
    return app.state.pool


Pool = Annotated[asyncpg.Pool, Depends(get_pool)]


@app.get("/raw/db")
async def raw_single_query(pool: Pool):
    world_id, number = await pool.fetchrow(READ_ROW, random.randint(1, 10000))
    return {"id": world_id, "randomNumber": number}


async def read_worlds(connection: asyncpg.Connection, count: int) -> list[dict[str, int]]:
    worlds = []
    for world_id in random.sample(range(1, 10001), count):  # one query each
        found, number = await connection.fetchrow(READ_ROW, world_id)
        worlds.append({"id": found, "randomNumber": number})
    return worlds


@app.get("/raw/queries")
async def raw_multiple_queries(pool: Pool, queries: str | None = None):
    async with pool.acquire() as connection:
        return await read_worlds(connection, clamp(queries))


@app.get("/raw/updates")
async def raw_updates(pool: Pool, queries: str | None = None):
    async with pool.acquire() as connection:
        worlds = await read_worlds(connection, clamp(queries))
        for world in worlds:
            world["randomNumber"] = random.randint(1, 10000)
        # Sorted by id so concurrent requests lock rows in the same order.
        await connection.executemany(
            WRITE_ROW, sorted((world["id"], world["randomNumber"]) for world in worlds)
        )
    return worlds


@app.get("/raw/fortunes")
async def raw_fortunes(request: Request, pool: Pool):
    rows = [dict(row) for row in await pool.fetch(READ_FORTUNES)]
    rows.append({"id": 0, "message": ADDITIONAL_FORTUNE})
    rows.sort(key=lambda fortune: fortune["message"])
    return render(request, "fortunes.html", fortunes=rows)
