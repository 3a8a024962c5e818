"""The Redis cache (redis-py, sync and ``redis.asyncio``; hiredis when installed)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from .base import BaseCache

if TYPE_CHECKING:
    import redis as redis_sync
    import redis.asyncio as redis_async

__all__ = ["REDIS_TIMEOUT", "RedisCache", "redis_options"]

#: Seconds to wait for Redis to connect or answer: short, so a hung Redis is
#: a miss quickly (the sessions battery uses the same 1 s).
REDIS_TIMEOUT = 1.0

# NOTE: INCRBY creates a missing key; Django's incr raises for one.
_INCR_EXISTING = """
if redis.call('exists', KEYS[1]) == 1 then
  return redis.call('incrby', KEYS[1], ARGV[1])
end
return false
"""


def redis_options(timeout: float = REDIS_TIMEOUT, *, asyncio_client: bool) -> dict[str, Any]:
    """Return redis-py client options for a cache that must fail fast.

    ``timeout`` seconds to connect and per reply, one quick retry on a
    connection error (a pooled connection that died in a Redis restart is
    replaced, not reported) but none on a timeout (a hung Redis costs one
    timeout, not two), health checks of connections idle for 30 s.
    Options in the URL's query string (``?socket_timeout=2``) win.
    """
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    if asyncio_client:
        from redis.asyncio.retry import Retry as AsyncRetry

        retry: Any = AsyncRetry(
            ExponentialBackoff(cap=0.05, base=0.01),
            retries=1,
            supported_errors=(RedisConnectionError,),
        )
    else:
        from redis.retry import Retry

        # NOTE: redis-py retries timeouts too by default: a hung Redis would
        # cost twice the timeout per call.
        retry = Retry(
            ExponentialBackoff(cap=0.05, base=0.01),
            retries=1,
            supported_errors=(RedisConnectionError,),
        )
    return {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": retry,
        "retry_on_error": [RedisConnectionError],
        "health_check_interval": 30,
    }


class RedisCache(BaseCache):
    """Keep values in Redis: Django's ``RedisCache``, shared by every worker.

    Each key is one Redis string with a TTL (``PX``), so Redis expires it.
    Integers are stored as digits and ``incr`` is atomic (a Lua script
    around ``INCRBY`` that refuses missing keys, as Django). ``get_or_set``
    takes a ``SET NX PX`` lock in Redis, so one worker computes a missing
    key while the others poll for its value (best effort: after
    ``lock_timeout`` seconds, or if the lock holder dies, they compute it).

    When Redis is down, hung or slower than ``socket_timeout``: reads are
    misses, writes are dropped, nothing raises; the outage is logged once
    per interval (``oakling.outage``). After a failure Redis is skipped for
    ``retry_interval`` seconds (every call a miss, no I/O), then one call
    probes it (:class:`~oakling.outages.CircuitBreaker`): a hung Redis costs
    one request per interval its timeout, not every request.

    Args:
        location: ``redis://host:port/db`` URL (``LOCATION``).
        socket_timeout: Seconds to connect and to wait for each reply
            (``OPTIONS["SOCKET_TIMEOUT"]``, 1 s; the URL's
            ``?socket_timeout=`` wins).
        **options: :class:`~oakling.cache.backends.base.BaseCache` options
            (``RETRY_INTERVAL`` among them).
    """

    service = "Redis"
    shared = True

    def __init__(
        self,
        location: str = "redis://127.0.0.1:6379/0",
        *,
        socket_timeout: float = REDIS_TIMEOUT,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        try:
            import redis
            import redis.asyncio  # noqa: F401
        except ImportError as ex:
            raise ImportError(
                f"RedisCache needs redis-py ({ex}): pip install 'oakling[redis]'"
            ) from ex
        self.location = location
        self.socket_timeout = socket_timeout
        # NOTE: ResponseError (a wrong type, a script error) is a bug to
        # report, not an outage: only connection-level errors are misses.
        self._errors = (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            redis.exceptions.BusyLoadingError,
            OSError,
            asyncio.TimeoutError,
        )
        self._sync: redis_sync.Redis | None = None
        self._clients: dict[asyncio.AbstractEventLoop, redis_async.Redis] = {}

    @property
    def client(self) -> redis_sync.Redis:
        """The sync client (one connection pool, thread-safe)."""
        if self._sync is None:
            import redis

            self._sync = redis.Redis.from_url(
                self.location, **redis_options(self.socket_timeout, asyncio_client=False)
            )
        return self._sync

    @property
    def async_client(self) -> redis_async.Redis:
        """The ``redis.asyncio`` client of the running event loop (one per loop)."""
        # NOTE: an asyncio pool belongs to the loop that made it; test clients
        # each run their own loop.
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            import redis.asyncio

            client = self._clients[loop] = redis.asyncio.Redis.from_url(
                self.location, **redis_options(self.socket_timeout, asyncio_client=True)
            )
        return client

    @staticmethod
    def _px(ttl: float | None) -> int | None:
        return None if ttl is None else max(1, int(ttl * 1000))

    def _integer(self, value: Any) -> int | None:
        return None if value is None else int(value)

    # -- sync -------------------------------------------------------------------

    def _get(self, key: str) -> bytes | None:
        return cast("bytes | None", self.client.get(key))

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        self.client.set(key, value, px=self._px(ttl))

    def _add(self, key: str, value: bytes, ttl: float | None) -> bool:
        return bool(self.client.set(key, value, px=self._px(ttl), nx=True))

    def _delete(self, key: str) -> bool:
        return bool(self.client.delete(key))

    def _touch(self, key: str, ttl: float | None) -> bool:
        if ttl is None:
            return bool(self.client.persist(key)) or bool(self.client.exists(key))
        return bool(self.client.pexpire(key, self._px(ttl) or 1))

    def _incr(self, key: str, delta: int) -> int | None:
        import redis

        try:
            return self._integer(self.client.eval(_INCR_EXISTING, 1, key, delta))
        except redis.exceptions.ResponseError:
            raise ValueError("the cached value is not an integer") from None

    def _has(self, key: str) -> bool:
        return bool(self.client.exists(key))

    def _get_many(self, keys: list[str]) -> dict[str, bytes]:
        values = cast("list[bytes | None]", self.client.mget(keys))
        return {key: value for key, value in zip(keys, values, strict=True) if value is not None}

    def _set_many(self, items: dict[str, bytes], ttl: float | None) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(key, value, px=self._px(ttl))
        pipe.execute()

    def _delete_many(self, keys: list[str]) -> None:
        self.client.delete(*keys)

    def _clear(self) -> None:
        prefix = self.clear_prefix()
        if prefix is None:
            self.client.flushdb()
            return
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=_glob_escape(prefix) + "*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                self.client.unlink(*batch)
                batch = []
        if batch:
            self.client.unlink(*batch)

    # -- async --------------------------------------------------------------------

    async def _aget(self, key: str) -> bytes | None:
        return cast("bytes | None", await self.async_client.get(key))

    async def _aset(self, key: str, value: bytes, ttl: float | None) -> None:
        await self.async_client.set(key, value, px=self._px(ttl))

    async def _aadd(self, key: str, value: bytes, ttl: float | None) -> bool:
        return bool(await self.async_client.set(key, value, px=self._px(ttl), nx=True))

    async def _adelete(self, key: str) -> bool:
        return bool(await self.async_client.delete(key))

    async def _atouch(self, key: str, ttl: float | None) -> bool:
        client = self.async_client
        if ttl is None:
            return bool(await client.persist(key)) or bool(await client.exists(key))
        return bool(await client.pexpire(key, self._px(ttl) or 1))

    async def _aincr(self, key: str, delta: int) -> int | None:
        import redis

        try:
            return self._integer(await self.async_client.eval(_INCR_EXISTING, 1, key, delta))
        except redis.exceptions.ResponseError:
            raise ValueError("the cached value is not an integer") from None

    async def _ahas(self, key: str) -> bool:
        return bool(await self.async_client.exists(key))

    async def _aget_many(self, keys: list[str]) -> dict[str, bytes]:
        values = cast("list[bytes | None]", await self.async_client.mget(keys))
        return {key: value for key, value in zip(keys, values, strict=True) if value is not None}

    async def _aset_many(self, items: dict[str, bytes], ttl: float | None) -> None:
        pipe = self.async_client.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(key, value, px=self._px(ttl))
        await pipe.execute()

    async def _adelete_many(self, keys: list[str]) -> None:
        await self.async_client.delete(*keys)

    async def _aclear(self) -> None:
        client = self.async_client
        prefix = self.clear_prefix()
        if prefix is None:
            await client.flushdb()
            return
        batch: list[bytes] = []
        async for key in client.scan_iter(match=_glob_escape(prefix) + "*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                await client.unlink(*batch)
                batch = []
        if batch:
            await client.unlink(*batch)

    def close(self) -> None:
        """Close the sync client's connections."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        """Close the client of the running event loop (and the sync one)."""
        self.close()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()


def _glob_escape(text: str) -> str:
    """Escape Redis ``MATCH`` pattern characters in ``text``."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)
