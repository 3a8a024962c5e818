"""Helpers for the cache tests: every backend on the real services, sync and async.

Redis is db 1 of 127.0.0.1:6379 (``OAKLING_TEST_REDIS_URL``); PostgreSQL and
MariaDB are the ``OAKLING_TEST_POSTGRES_URL`` / ``OAKLING_TEST_MARIADB_URL``
databases. Every cache gets a key prefix unique to the test, so runs sharing
a store don't collide, and clears it afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oakling.cache import BaseCache, MemoryCache
from tests.conftest import database_problem, redis_problem, skip_or_fail

REDIS_URL = os.environ.get("OAKLING_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
PG_URL = os.environ.get("OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("OAKLING_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
BACKENDS = ["memory", "redis", "sqlite", "postgresql", "mariadb"]
SHARED_BACKENDS = ["redis", "sqlite", "postgresql", "mariadb"]


_redis_problem = redis_problem


_database_problem = database_problem


_databases: dict[str, Any] = {}


def database_for(kind: str, tmp_path: Path) -> Any:
    """Return a ``Database`` for ``kind`` with the cache table created."""
    from sqlalchemy import inspect

    from oakling.cache.backends.database import CacheEntry
    from oakling.db import Database

    url = {"postgresql": PG_URL, "mariadb": MARIADB_URL}.get(kind)
    if url is None:
        url = f"sqlite:///{tmp_path / 'cache.db'}"
    else:
        problem = _database_problem(url)
        if problem:
            skip_or_fail(problem)
    database = Database(url)
    engine = database.sync_engine()
    inspector = inspect(engine)
    if inspector.has_table("oakling_cache"):
        columns = {column["name"] for column in inspector.get_columns("oakling_cache")}
        if columns != {column.name for column in CacheEntry.__table__.columns}:
            # NOTE: the table of an older oakling in a reused test database.
            CacheEntry.__table__.drop(engine)
    CacheEntry.__table__.create(engine, checkfirst=True)
    return database


def make_cache(kind: str, tmp_path: Path, prefix: str | None = None, **options: Any) -> BaseCache:
    """Return a cache of backend ``kind`` with a fresh key prefix."""
    options.setdefault("key_prefix", prefix or f"t{uuid.uuid4().hex[:12]}")
    if kind == "memory":
        return MemoryCache(**options)
    if kind == "dummy":
        from oakling.cache import DummyCache

        return DummyCache(**options)
    if kind == "redis":
        problem = _redis_problem(REDIS_URL)
        if problem:
            skip_or_fail(problem)
        from oakling.cache.backends.redis import RedisCache

        return RedisCache(REDIS_URL, **options)
    from oakling.cache.backends.database import DatabaseCache

    return DatabaseCache(database_for(kind, tmp_path), **options)


class Api:
    """The cache API called as sync methods or as their ``a`` coroutines, one loop.

    ``api.get("k")`` runs ``cache.get("k")`` (sync) or ``cache.aget("k")`` on a
    loop kept for the test (async), so one test body checks both forms.
    """

    def __init__(self, cache: BaseCache, mode: str) -> None:
        self.cache = cache
        self.mode = mode
        self.loop = asyncio.new_event_loop() if mode == "async" else None

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if self.loop is None:
            return getattr(self.cache, name)  # type: ignore[no-any-return]
        method = getattr(self.cache, "a" + name)
        loop = self.loop
        return lambda *args, **kwargs: loop.run_until_complete(method(*args, **kwargs))

    def close(self) -> None:
        close_cache(self.cache, self.loop)
        if self.loop is not None:
            self.loop.close()


def close_cache(cache: BaseCache, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Clear ``cache`` and close its clients and engines (on ``loop`` if given)."""
    if loop is None:
        cache.clear()
        cache.close()
    else:
        loop.run_until_complete(cache.aclear())
        loop.run_until_complete(cache.aclose())
    database = getattr(cache, "_db", None)
    if database is not None:
        if loop is not None:
            loop.run_until_complete(database.dispose())
        else:
            asyncio.run(database.dispose())
