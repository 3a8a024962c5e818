"""Flask (WSGI): views, Flask-SQLAlchemy, ``render_template``, a psycopg pool.

As Flask's documentation writes it: ``@app.get`` views returning a dict or a
list (JSON) or a ``Response``, ``request.args`` for the query string,
Flask-SQLAlchemy models and ``db.session``, Jinja2 templates through
``render_template``. ORM path: Flask-SQLAlchemy (SQLAlchemy 2, psycopg 3).
Raw path: a ``psycopg_pool.ConnectionPool``, opened on first use.

Served from the repository root (WSGI)::

    granian --interface wsgi --workers 1 --no-ws --log-level warning bench.tfb.apps.flask:app
    uvicorn bench.tfb.apps.flask:app --interface wsgi --no-access-log --http httptools
"""

import os
import random
from operator import itemgetter
from pathlib import Path

from flask import Flask, Response, render_template, request
from flask_sqlalchemy import SQLAlchemy
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["KIND", "ORM", "app"]

KIND = "wsgi"
ORM = True

DSN = os.environ.get("TFB_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tfb")
POOL_SIZE = 8
ADDITIONAL_FORTUNE = "Additional fortune added at request time."

READ_ROW = "SELECT id, randomnumber FROM world WHERE id = %s"
WRITE_ROW = "UPDATE world SET randomnumber = %s WHERE id = %s"
READ_FORTUNES = "SELECT id, message FROM fortune"

by_id = itemgetter("id")


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)

app = Flask(__name__, template_folder=Path(__file__).resolve().parent.parent / "templates")
app.config["SQLALCHEMY_DATABASE_URI"] = DSN.replace("postgresql://", "postgresql+psycopg://", 1)
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_size": POOL_SIZE, "max_overflow": 0}
db.init_app(app)  # the engine connects on first use, not here

# The raw path's pool: opened by the first request that needs it.
pool = ConnectionPool(DSN, min_size=1, max_size=POOL_SIZE, open=False)


class World(db.Model):
    __tablename__ = "world"

    id: Mapped[int] = mapped_column(primary_key=True)
    randomnumber: Mapped[int]


class Fortune(db.Model):
    __tablename__ = "fortune"

    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str]


def get_queries() -> int:
    """Return ``?queries=`` clamped to 1..500; missing or not a number is 1."""
    try:
        return min(max(int(request.args.get("queries", "1")), 1), 500)
    except ValueError:
        return 1


def get_pool() -> ConnectionPool:
    if pool.closed:
        pool.open()  # thread-safe, and a no-op on an open pool
    return pool


@app.get("/json")
def json_serialization():
    return {"message": "Hello, World!"}


@app.get("/plaintext")
def plaintext():
    return Response("Hello, World!", mimetype="text/plain")


# -- ORM: Flask-SQLAlchemy ---------------------------------------------------------


@app.get("/db")
def single_query():
    world = db.session.get(World, random.randint(1, 10000))
    return {"id": world.id, "randomNumber": world.randomnumber}


@app.get("/queries")
def multiple_queries():
    worlds = []
    for world_id in random.sample(range(1, 10001), get_queries()):  # one query each
        world = db.session.get(World, world_id)
        worlds.append({"id": world.id, "randomNumber": world.randomnumber})
    return worlds


@app.get("/updates")
def updates():
    worlds = []
    for world_id in random.sample(range(1, 10001), get_queries()):
        world = db.session.get(World, world_id)
        world.randomnumber = random.randint(1, 10000)
        worlds.append({"id": world.id, "randomNumber": world.randomnumber})
    db.session.commit()
    return worlds


@app.get("/fortunes")
def fortunes():
    rows = list(db.session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return render_template("fortunes.html", fortunes=rows)


# -- raw driver: psycopg pool ------------------------------------------------------


@app.get("/raw/db")
def raw_single_query():
    with get_pool().connection() as connection:
        world_id, number = connection.execute(READ_ROW, (random.randint(1, 10000),)).fetchone()
    return {"id": world_id, "randomNumber": number}


def read_worlds(connection, count: int) -> list[dict[str, int]]:
    worlds = []
    for world_id in random.sample(range(1, 10001), count):  # one query each
        found, number = connection.execute(READ_ROW, (world_id,)).fetchone()
        worlds.append({"id": found, "randomNumber": number})
    return worlds


@app.get("/raw/queries")
def raw_multiple_queries():
    with get_pool().connection() as connection:
        return read_worlds(connection, get_queries())


@app.get("/raw/updates")
def raw_updates():
    with get_pool().connection() as connection:  # committed when the block ends
        worlds = read_worlds(connection, get_queries())
        for world in worlds:
            world["randomNumber"] = random.randint(1, 10000)
        # Sorted by id so concurrent requests lock rows in the same order.
        connection.cursor().executemany(
            WRITE_ROW,
            [(world["randomNumber"], world["id"]) for world in sorted(worlds, key=by_id)],
        )
    return worlds


@app.get("/raw/fortunes")
def raw_fortunes():
    with get_pool().connection() as connection:
        cursor = connection.cursor(row_factory=dict_row)
        rows = cursor.execute(READ_FORTUNES).fetchall()
    rows.append({"id": 0, "message": ADDITIONAL_FORTUNE})
    rows.sort(key=lambda fortune: fortune["message"])
    return render_template("fortunes.html", fortunes=rows)
