"""The TFB database: create it, fill it, and read it back for the verifier.

PostgreSQL, database ``tfb`` (``TFB_DATABASE_URL``, default
``postgresql://postgres@127.0.0.1:5432/tfb``), tables exactly as the TechEmpower
toolset creates them: ``world(id, randomnumber)`` with 10,000 rows and
``fortune(id, message)`` with the 12 TFB fortunes (one with a ``<script>`` tag,
one Japanese, two with an em dash).
"""

from __future__ import annotations

import asyncio
import os
import random
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "ADDITIONAL_FORTUNE",
    "DEFAULT_DSN",
    "FORTUNES",
    "WORLD_ROWS",
    "admin_dsn",
    "database_dsn",
    "fetch_fortunes",
    "fetch_worlds",
    "prepare_database",
]

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/tfb"
WORLD_ROWS = 10_000

# The 12 rows of the TFB toolset's ``fortune`` table, verbatim (create-postgres.sql).
FORTUNES: tuple[tuple[int, str], ...] = (
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. \u2014 Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af"),
)
ADDITIONAL_FORTUNE = (0, "Additional fortune added at request time.")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS world ("
    " id integer NOT NULL PRIMARY KEY, randomnumber integer NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS fortune ("
    " id integer NOT NULL PRIMARY KEY, message varchar(2048) NOT NULL)",
)


def database_dsn(dsn: str | None = None) -> str:
    """Return the TFB DSN: ``dsn``, else ``TFB_DATABASE_URL``, else the default."""
    return dsn or os.environ.get("TFB_DATABASE_URL") or DEFAULT_DSN


def admin_dsn(dsn: str) -> tuple[str, str]:
    """Split ``dsn`` into a DSN for the ``postgres`` database and the db name.

    Returns:
        ``(dsn of the maintenance database, name of the TFB database)``.
    """
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/") or "tfb"
    return urlunsplit(parts._replace(path="/postgres")), name


async def prepare_database(dsn: str | None = None) -> None:
    """Create the TFB database, its two tables and their rows if missing.

    Idempotent: a table whose rows are not exactly what TFB prescribes (10,000
    ``world`` rows with ids 1..10000, the 12 fortunes verbatim) is refilled;
    a correct one is left alone (its random numbers are not reset).

    Raises:
        OSError, asyncpg.PostgresError: PostgreSQL is unreachable or refuses.
    """
    import asyncpg  # type: ignore[import-untyped]  # NOTE: asyncpg ships no stubs

    dsn = database_dsn(dsn)
    maintenance, name = admin_dsn(dsn)
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(maintenance, timeout=10)
        try:
            # NOTE: the name comes from our own DSN; quote it as an identifier anyway.
            quoted = '"' + name.replace('"', '""') + '"'
            await admin.execute(f"CREATE DATABASE {quoted}")
        except asyncpg.DuplicateDatabaseError:
            pass  # created concurrently: fine
        finally:
            await admin.close()
        conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for statement in _SCHEMA:
            await conn.execute(statement)
        count, low, high = await conn.fetchrow(
            "SELECT count(*), min(id), max(id) FROM world WHERE randomnumber BETWEEN 1 AND 10000"
        )
        if (count, low, high) != (WORLD_ROWS, 1, WORLD_ROWS):
            rows = [(i, random.randint(1, 10000)) for i in range(1, WORLD_ROWS + 1)]
            async with conn.transaction():
                await conn.execute("DELETE FROM world")
                await conn.copy_records_to_table(
                    "world", records=rows, columns=["id", "randomnumber"]
                )
        fortunes = await conn.fetch("SELECT id, message FROM fortune ORDER BY id")
        if [tuple(row) for row in fortunes] != list(FORTUNES):
            async with conn.transaction():
                await conn.execute("DELETE FROM fortune")
                await conn.executemany(
                    "INSERT INTO fortune (id, message) VALUES ($1, $2)", FORTUNES
                )
        await conn.execute("ANALYZE world")
        await conn.execute("ANALYZE fortune")
    finally:
        await conn.close()


async def _fetch_worlds(dsn: str) -> dict[int, int]:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await conn.fetch("SELECT id, randomnumber FROM world")
    finally:
        await conn.close()
    return {row[0]: row[1] for row in rows}


def fetch_worlds(dsn: str | None = None) -> dict[int, int]:
    """Read the whole ``world`` table directly (the verifier's ground truth).

    Returns:
        ``{id: randomnumber}`` for all rows.
    """
    return asyncio.run(_fetch_worlds(database_dsn(dsn)))


async def _fetch_fortunes(dsn: str) -> list[tuple[int, str]]:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await conn.fetch("SELECT id, message FROM fortune")
    finally:
        await conn.close()
    return [(row[0], row[1]) for row in rows]


def fetch_fortunes(dsn: str | None = None) -> list[tuple[int, str]]:
    """Read the ``fortune`` table directly; returns ``[(id, message), ...]``."""
    return asyncio.run(_fetch_fortunes(database_dsn(dsn)))
