"""oakling.cache: Django's cache framework, sync and async, with safe page caching.

``pip install oakling`` is enough for the memory cache; Redis needs
``oakling[redis]`` (redis-py, hiredis used when installed), the database
cache ``oakling[db]``::

    from oakling import App
    from oakling.cache import Cache, cache, cache_page

    app = App(plugins=[Cache()])  # CACHES from settings; memory by default


    @app.get("/stats")
    @cache_page(60)
    async def stats() -> dict[str, int]:
        return {"visits": await cache.aget_or_set("visits", lambda: 0)}

The database backend lives in :mod:`oakling.cache.backends.database`,
imported only when used (it declares the ``oakling_cache`` table).
"""

from __future__ import annotations

from .backends.base import DEFAULT_TIMEOUT, BaseCache, default_key_func
from .backends.dummy import DummyCache
from .backends.memory import MemoryCache
from .handler import (
    DEFAULT_CACHE_ALIAS,
    CacheHandler,
    InvalidCacheBackendError,
    cache,
    caches,
    create_cache,
)
from .middleware import CacheMiddleware
from .page import CachePage, cache_page
from .plugin import Cache
from .serializers import MsgspecSerializer, PickleSerializer, Serializer
from .templatetags import CacheExtension, make_fragment_key

__all__ = [
    "DEFAULT_CACHE_ALIAS",
    "DEFAULT_TIMEOUT",
    "BaseCache",
    "Cache",
    "CacheExtension",
    "CacheHandler",
    "CacheMiddleware",
    "CachePage",
    "DummyCache",
    "InvalidCacheBackendError",
    "MemoryCache",
    "MsgspecSerializer",
    "PickleSerializer",
    "Serializer",
    "cache",
    "cache_page",
    "caches",
    "create_cache",
    "default_key_func",
    "make_fragment_key",
]


def __getattr__(name: str) -> object:
    """Import the Redis and database backends on first use."""
    if name == "RedisCache":
        from .backends.redis import RedisCache

        return RedisCache
    if name == "DatabaseCache":
        from .backends.database import DatabaseCache

        return DatabaseCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
