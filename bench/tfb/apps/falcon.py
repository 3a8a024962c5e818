"""Falcon (ASGI): resources with ``on_get``, ``resp.media``, a startup component.

As Falcon's documentation writes it: one resource class per route, built
with its dependencies (a SQLAlchemy ``async_sessionmaker``, or the asyncpg
pool holder), ``resp.media`` for JSON, ``resp.text`` with a content type
for text and HTML, a middleware component whose ``process_startup`` and
``process_shutdown`` open and close the asyncpg pool, and Jinja2 for the
fortunes page (Falcon ships no template engine; its FAQ points to Jinja2).
ORM path: SQLAlchemy 2 async ORM (asyncpg driver).

Served from the repository root::

    uvicorn bench.tfb.apps.falcon:app --no-access-log --loop uvloop --http httptools
    granian --interface asgi --workers 1 --no-ws --log-level warning bench.tfb.apps.falcon:app
"""

import os
import random
from pathlib import Path

import asyncpg
import falcon
import falcon.asgi
import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
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

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=jinja2.select_autoescape(),
)


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


def get_queries(req: falcon.asgi.Request) -> int:
    """Return ``?queries=`` clamped to 1..500; missing or not a number is 1."""
    try:
        return min(max(int(req.get_param("queries", default="1")), 1), 500)
    except ValueError:
        return 1


class JSONResource:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"message": "Hello, World!"}


class PlaintextResource:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello, World!"


# -- ORM: SQLAlchemy async -------------------------------------------------------


class SingleQueryResource:
    def __init__(self, sessionmaker: async_sessionmaker) -> None:
        self.sessionmaker = sessionmaker

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        async with self.sessionmaker() as session:
            world = await session.get(World, random.randint(1, 10000))
        resp.media = {"id": world.id, "randomNumber": world.randomnumber}


class QueriesResource:
    def __init__(self, sessionmaker: async_sessionmaker) -> None:
        self.sessionmaker = sessionmaker

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        worlds = []
        async with self.sessionmaker() as session:
            for world_id in random.sample(range(1, 10001), get_queries(req)):  # one query each
                world = await session.get(World, world_id)
                worlds.append({"id": world.id, "randomNumber": world.randomnumber})
        resp.media = worlds


class UpdatesResource:
    def __init__(self, sessionmaker: async_sessionmaker) -> None:
        self.sessionmaker = sessionmaker

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        worlds = []
        async with self.sessionmaker.begin() as session:  # committed at the end
            for world_id in random.sample(range(1, 10001), get_queries(req)):
                world = await session.get(World, world_id)
                world.randomnumber = random.randint(1, 10000)
                worlds.append({"id": world.id, "randomNumber": world.randomnumber})
        resp.media = worlds


class FortunesResource:
    def __init__(self, sessionmaker: async_sessionmaker) -> None:
        self.sessionmaker = sessionmaker

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        async with self.sessionmaker() as session:
            rows = list(await session.scalars(select(Fortune)))
        rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
        rows.sort(key=lambda fortune: fortune.message)
        resp.content_type = falcon.MEDIA_HTML
        resp.text = templates.get_template("fortunes.html").render(fortunes=rows)


# -- raw driver: asyncpg -----------------------------------------------------------


class PoolManager:
    """Middleware component: the asyncpg pool, opened at startup, closed at shutdown."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.pool: asyncpg.Pool | None = None
        self.engine = engine

    async def process_startup(self, scope: dict, event: dict) -> None:
        self.pool = await asyncpg.create_pool(DSN, min_size=1, max_size=POOL_SIZE)

    async def process_shutdown(self, scope: dict, event: dict) -> None:
        if self.pool is not None:
            await self.pool.close()
        await self.engine.dispose()


async def read_worlds(connection: asyncpg.Connection, count: int) -> list[dict[str, int]]:
    worlds = []
    for world_id in random.sample(range(1, 10001), count):  # one query each
        found, number = await connection.fetchrow(READ_ROW, world_id)
        worlds.append({"id": found, "randomNumber": number})
    return worlds


class RawSingleQueryResource:
    def __init__(self, database: PoolManager) -> None:
        self.database = database

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        world_id, number = await self.database.pool.fetchrow(READ_ROW, random.randint(1, 10000))
        resp.media = {"id": world_id, "randomNumber": number}


class RawQueriesResource:
    def __init__(self, database: PoolManager) -> None:
        self.database = database

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        async with self.database.pool.acquire() as connection:
            resp.media = await read_worlds(connection, get_queries(req))


class RawUpdatesResource:
    def __init__(self, database: PoolManager) -> None:
        self.database = database

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        async with self.database.pool.acquire() as connection:
            worlds = await read_worlds(connection, get_queries(req))
            for world in worlds:
                world["randomNumber"] = random.randint(1, 10000)
            # Sorted by id so concurrent requests lock rows in the same order.
            await connection.executemany(
                WRITE_ROW, sorted((world["id"], world["randomNumber"]) for world in worlds)
            )
        resp.media = worlds


class RawFortunesResource:
    def __init__(self, database: PoolManager) -> None:
        self.database = database

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        rows = [dict(row) for row in await self.database.pool.fetch(READ_FORTUNES)]
        rows.append({"id": 0, "message": ADDITIONAL_FORTUNE})
        rows.sort(key=lambda fortune: fortune["message"])
        resp.content_type = falcon.MEDIA_HTML
        resp.text = templates.get_template("fortunes.html").render(fortunes=rows)


def create_app() -> falcon.asgi.App:
    """Build the app: engine and session factory, the pool component, the routes."""
    # The engine connects on first use, not here.
    engine = create_async_engine(
        DSN.replace("postgresql://", "postgresql+asyncpg://", 1),
        pool_size=POOL_SIZE,
        max_overflow=0,
    )
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    database = PoolManager(engine)

    application = falcon.asgi.App(middleware=[database])
    application.add_route("/json", JSONResource())
    application.add_route("/plaintext", PlaintextResource())
    application.add_route("/db", SingleQueryResource(sessionmaker))
    application.add_route("/queries", QueriesResource(sessionmaker))
    application.add_route("/updates", UpdatesResource(sessionmaker))
    application.add_route("/fortunes", FortunesResource(sessionmaker))
    application.add_route("/raw/db", RawSingleQueryResource(database))
    application.add_route("/raw/queries", RawQueriesResource(database))
    application.add_route("/raw/updates", RawUpdatesResource(database))
    application.add_route("/raw/fortunes", RawFortunesResource(database))
    return application


app = create_app()
