"""Where rate-limit counters live: this process's memory, or Redis.

One :class:`RateLimitStorage` serves every limit of an app (the route limits
and the auth throttles alike); each limit keeps its counters under a
namespace of its own. The counting itself is the ``limits`` library's, with
its moving-window, fixed-window and sliding-window-counter strategies.

A Redis storage uses oakling's redis-py options
(:func:`oakling.sessions.backends.redis_options`: connect and reply timeouts
of ``socket_timeout`` seconds, 1 s by default, one retry of a dead pooled
connection); options in the URL's query string
(``?socket_timeout=0.5&socket_connect_timeout=0.5``) win. A failure of Redis
is raised as :class:`StorageUnavailable` after being reported to
:data:`oakling.outages` (one log line per interval); each caller then applies
its own policy (fail open or closed).

A :class:`~oakling.outages.CircuitBreaker` keeps a hung Redis (one that
accepts connections and never answers) from costing every request its
timeout: after a failure, calls raise :class:`StorageUnavailable` at once
for ``retry_interval`` seconds (0.5 s), then one request probes Redis; the
first request after Redis answers again is counted within that interval.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from limits import RateLimitItem
from limits import strategies as sync_strategies
from limits.aio.storage import MemoryStorage as AioMemoryStorage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.storage import MemoryStorage, storage_from_string

from oakling.outages import CircuitBreaker, outages

__all__ = ["STRATEGIES", "Hit", "RateLimitStorage", "StorageUnavailable", "Strategy"]

#: The ``limits`` strategies by name (Flask-Limiter's ``RATELIMIT_STRATEGY`` names).
Strategy = Literal["moving-window", "fixed-window", "sliding-window-counter"]
STRATEGIES: dict[str, type[RateLimiter]] = {
    "moving-window": MovingWindowRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}

_SYNC_STRATEGIES: dict[str, type[sync_strategies.RateLimiter]] = {
    "moving-window": sync_strategies.MovingWindowRateLimiter,
    "fixed-window": sync_strategies.FixedWindowRateLimiter,
    "sliding-window-counter": sync_strategies.SlidingWindowCounterRateLimiter,
}

#: A prepared hit of one limit: ``hit(client_key, cost)`` -> whether it fits.
#: Memory answers at once (a bool), Redis with an awaitable.
Hit = Callable[[str, int], "bool | Awaitable[bool]"]

#: Seconds between two passes of the memory storage's expiry timer.
_EXPIRY_INTERVAL = 1.0

#: The service name reported to :data:`oakling.outages`.
SERVICE = "Redis"

#: Seconds Redis is skipped after a failure before one call probes it again.
RETRY_INTERVAL = 0.5


class StorageUnavailable(Exception):
    """The storage (Redis) is down or slower than its timeout.

    Already reported to :data:`oakling.outages`; the caller decides whether
    that lets the request through (fail open) or refuses it with a 503
    (fail closed).
    """


def _fail_fast(options: dict[str, Any]) -> dict[str, Any]:
    """Return redis-py ``options`` retrying a dead connection, never a timeout.

    redis-py's ``Retry`` retries timeouts too by default: a hung Redis would
    cost each call twice the timeout.
    """
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    retry = Retry(
        ExponentialBackoff(cap=0.05, base=0.01), retries=1, supported_errors=(RedisConnectionError,)
    )
    return {**options, "retry": retry}


def _storage_uri(url: str) -> str:
    """Return the ``limits`` async storage URI for a settings URL."""
    if url.startswith("async+"):
        return url
    return f"async+{url}"


class _MemoryStorage(MemoryStorage):
    """``limits``' memory storage, with a ``clear`` its expiry timer survives.

    ``limits`` expires moving-window entries from a timer thread that walks a
    snapshot of the keys and reads ``self.events[key]``: a key popped by
    ``clear`` meanwhile made it die with a ``KeyError`` (each successful
    login clears its account's counter). Here a cleared key keeps an empty
    list, which counts as no entries and which the timer itself removes.

    The synchronous storage, not ``limits.aio``'s: counting in memory does no
    I/O, so it runs inline on the event loop without a coroutine, an asyncio
    lock or a task per call (3-4x cheaper), and every event loop of the
    process (tests start one per client) shares the counters.

    No ``STORAGE_SCHEME``: ``limits`` does not register this class, so
    ``memory://`` elsewhere in the process is unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self._next_expiry = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - limits' private name
        """Start the expiry timer at most once per ``_EXPIRY_INTERVAL`` seconds.

        Replaces ``limits``' own (the name-mangled ``__schedule_expiry``),
        which starts a thread 10 ms after the last one ended: under load a
        new thread every 10 ms, each taking the GIL from the event loop.
        Expiry only frees memory: fixed-window counters are checked against
        their expiry when read, and moving windows compare entry times, so
        a later pass changes no answer.
        """
        # PERF: a float comparison per request instead of Thread.is_alive().
        now = time.monotonic()
        if now < self._next_expiry:
            return
        self._next_expiry = now + _EXPIRY_INTERVAL
        if not self.timer.is_alive():
            expire = self._MemoryStorage__expire_events  # type: ignore[attr-defined]  # NOTE: limits' private, name-mangled
            self.timer = threading.Timer(_EXPIRY_INTERVAL, expire)
            self.timer.daemon = True
            self.timer.start()

    def clear(self, key: str) -> None:
        """Forget every entry and counter of ``key``."""
        with self.locks[key]:
            if key in self.events:
                self.events[key] = []
            self.storage.pop(key, None)
            self.expirations.pop(key, None)


# PERF: limits wraps these methods in an error translator in *every* subclass
# of its Storage (``__init_subclass__``), so subclassing MemoryStorage wrapped
# each of them twice, and ``incr`` (through its own ``self.get``) cost three
# wrapper calls per request. The translator only acts with ``wrap_exceptions``,
# which this storage never sets: the plain functions behave the same.
for _name in ("incr", "get", "get_expiry", "check", "reset", "clear"):
    setattr(_MemoryStorage, _name, inspect.unwrap(getattr(_MemoryStorage, _name)))
del _name


def _unwrapped(storage: Any, name: str) -> Callable[..., Any]:
    """Return ``storage.name`` without limits' ``_wrap_errors`` wrapper, bound."""
    method = getattr(type(storage), name)
    inner = getattr(method, "__wrapped__", None)
    if inner is None or storage.wrap_exceptions:
        return getattr(storage, name)  # type: ignore[no-any-return]
    return inner.__get__(storage)  # type: ignore[no-any-return]


class RateLimitStorage:
    """Rate-limit counters in this process's memory, or in Redis.

    Args:
        url: ``memory://`` or ``redis://host:port/db`` (``rediss://`` for
            TLS); None means memory. Flask-Limiter's ``storage_uri``.
        socket_timeout: Seconds to wait for Redis to connect and to answer
            each command (the URL's ``?socket_timeout=`` wins).
        retry_interval: Seconds Redis is skipped after a failure (every
            call raises :class:`StorageUnavailable` without I/O) before one
            call probes it again.
        in_memory_fallback: While Redis is unavailable, count in this
            process's memory instead of raising :class:`StorageUnavailable`
            (Flask-Limiter's ``in_memory_fallback_enabled``): limits keep
            holding, per worker (N workers let up to N times the limit
            through), and the fail-open/fail-closed policies are not used.
            The fallback counters are dropped when Redis answers again.

    Raises:
        limits.errors.ConfigurationError: For an unknown storage scheme, or
            Redis without the ``redis`` package.
        ValueError: For a negative ``retry_interval``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        socket_timeout: float | None = None,
        retry_interval: float = RETRY_INTERVAL,
        in_memory_fallback: bool = False,
    ) -> None:
        self.url = url or "memory://"
        self.socket_timeout = socket_timeout
        self.breaker = CircuitBreaker(retry_interval)
        self.in_memory_fallback = in_memory_fallback
        self._fallback: dict[str, sync_strategies.RateLimiter] = {}
        self._fallback_storage: _MemoryStorage | None = None
        self.is_memory = self.url.startswith(("memory:", "async+memory:"))
        self._is_redis = self.url.startswith(("redis", "rediss", "async+redis"))
        # NOTE: async storages hold locks and connections of one event loop;
        # a process serves from one loop, tests start a loop per client.
        self._storages: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        self._limiters: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, RateLimiter]
        ] = weakref.WeakKeyDictionary()
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        self._memory = _MemoryStorage() if self.is_memory else None
        self._memory_limiters: dict[str, sync_strategies.RateLimiter] = {}
        # Fail at startup on a bad URL, not at the first request.
        storage_from_string(_storage_uri(self.url), **self._options())

    def _options(self) -> dict[str, Any]:
        if self._is_redis:
            # NOTE: limits defaults to coredis; redis-py is what oakling uses.
            return {"implementation": "redispy"}
        return {}

    def check_strategy(self, strategy: str) -> None:
        """Raise ValueError unless this storage supports ``strategy``.

        Raises:
            ValueError: For an unknown strategy name, or one the storage
                lacks (memcached has no moving window).
        """
        try:
            cls = STRATEGIES[strategy]
        except KeyError:
            raise ValueError(
                f"unknown rate-limit strategy {strategy!r}; use one of {', '.join(STRATEGIES)}"
            ) from None
        try:
            cls(storage_from_string(_storage_uri(self.url), **self._options()))
        except NotImplementedError as ex:
            raise ValueError(f"{self.scheme} storage does not support {strategy}: {ex}") from None

    def _memory_limiter(self, strategy: str) -> sync_strategies.RateLimiter:
        limiter = self._memory_limiters.get(strategy)
        if limiter is None:
            assert self._memory is not None
            limiter = self._memory_limiters[strategy] = _SYNC_STRATEGIES[strategy](self._memory)
        return limiter

    def prepare(self, strategy: str, item: RateLimitItem, *identifiers: str) -> Hit:
        """Return a function counting one request against ``item``'s bucket.

        ``hit(client_key, cost)`` counts under ``identifiers`` plus the
        client key, the same storage key the ``limits`` strategy uses (so
        :meth:`call` with ``get_window_stats`` or ``clear`` reads it).

        Returns:
            For memory a function returning a bool; for Redis one returning
            an awaitable that raises :class:`StorageUnavailable`.
        """
        # PERF: the key is built from a template made here, once per route.
        before, _, after = item.key_for(*identifiers, "\x00").partition("\x00")
        amount, expiry = item.amount, item.get_expiry()
        memory = self._memory
        if memory is not None and strategy == "fixed-window":
            # PERF: limits' error wrapper only re-raises for memory (it wraps
            # ValueError when wrap_exceptions is set, which it is not here).
            incr: Callable[[str, float, int], int] = _unwrapped(memory, "incr")

            def hit_fixed(key: str, cost: int) -> bool:
                return incr(before + key + after, expiry, cost) <= amount

            return hit_fixed
        if memory is not None and strategy == "moving-window":
            acquire: Callable[[str, int, int, int], bool] = _unwrapped(memory, "acquire_entry")

            def hit_moving(key: str, cost: int) -> bool:
                return acquire(before + key + after, amount, expiry, cost)

            return hit_moving
        if memory is not None:
            limiter = self._memory_limiter(strategy)

            def hit_other(key: str, cost: int) -> bool:
                return limiter.hit(item, *identifiers, key, cost=cost)

            return hit_other

        async def hit_redis(key: str, cost: int) -> bool:
            return bool(await self.call(strategy, "hit", item, *identifiers, key, cost=cost))

        return hit_redis

    def _storage(self, loop: asyncio.AbstractEventLoop) -> Any:
        storage = self._storages.get(loop)
        if storage is None:
            options = self._options()
            if self._is_redis:
                import redis.asyncio

                # NOTE: our own pool, so close() can release its connections.
                from oakling.sessions.backends import redis_options

                timeout = self.socket_timeout
                pool = redis.asyncio.ConnectionPool.from_url(
                    self.url.removeprefix("async+"),
                    **_fail_fast(redis_options() if timeout is None else redis_options(timeout)),
                )
                self._pools[loop] = pool
                options["connection_pool"] = pool
            storage = (
                AioMemoryStorage()
                if self.is_memory
                else storage_from_string(_storage_uri(self.url), **options)
            )
            self._storages[loop] = storage
        return storage

    def limiter(self, strategy: str = "moving-window") -> RateLimiter:
        """Return the running event loop's ``limits.aio`` limiter for ``strategy``.

        For a memory storage this is a limiter of its own (``limits.aio``'s
        memory storage); :meth:`call` and :meth:`prepare` count in the
        process-wide synchronous one instead.
        """
        loop = asyncio.get_running_loop()
        limiters = self._limiters.get(loop)
        if limiters is None:
            limiters = self._limiters[loop] = {}
        limiter = limiters.get(strategy)
        if limiter is None:
            limiter = limiters[strategy] = STRATEGIES[strategy](self._storage(loop))
        return limiter

    async def call(
        self, strategy: str, method: str, item: RateLimitItem, *identifiers: str, **options: Any
    ) -> Any:
        """Run one ``limits`` limiter method (``hit``, ``test``, ``clear``...).

        Returns:
            What the method returns (``hit``: whether the request fits).

        Raises:
            StorageUnavailable: When Redis is down or too slow (reported to
                :data:`oakling.outages` first), or failed less than
                ``retry_interval`` seconds ago (then without trying it).
        """
        if self._memory is not None:
            return getattr(self._memory_limiter(strategy), method)(item, *identifiers, **options)
        breaker = self.breaker
        if breaker.open_until and not breaker.allow():
            # PERF: a Redis known down costs no I/O and no timeout.
            if self.in_memory_fallback:
                return self._fallback_call(strategy, method, item, *identifiers, **options)
            raise StorageUnavailable(f"{SERVICE} failed less than {breaker.interval} s ago")
        limiter = self.limiter(strategy)
        try:
            result = await getattr(limiter, method)(item, *identifiers, **options)
        except Exception as ex:  # noqa: BLE001 - limits and redis-py raise several kinds
            breaker.failed()
            outages.failed(SERVICE, ex)
            if self.in_memory_fallback:
                return self._fallback_call(strategy, method, item, *identifiers, **options)
            raise StorageUnavailable(str(ex)) from None
        if breaker.open_until:
            breaker.succeeded()
        if self._fallback_storage is not None:
            # NOTE: Redis is back: its counters rule again; the outage's are dropped.
            self._fallback_storage = None
            self._fallback = {}
        outages.recovered(SERVICE)
        return result

    def _fallback_call(
        self, strategy: str, method: str, item: RateLimitItem, *identifiers: str, **options: Any
    ) -> Any:
        """Run a limiter method on this process's fallback counters (Redis is away)."""
        if self._fallback_storage is None:
            self._fallback_storage = _MemoryStorage()
            self._fallback = {}
        limiter = self._fallback.get(strategy)
        if limiter is None:
            limiter = self._fallback[strategy] = _SYNC_STRATEGIES[strategy](self._fallback_storage)
        return getattr(limiter, method)(item, *identifiers, **options)

    async def close(self) -> None:
        """Release this event loop's storage connections (run at app shutdown)."""
        loop = asyncio.get_running_loop()
        self._limiters.pop(loop, None)
        self._storages.pop(loop, None)
        pool = self._pools.pop(loop, None)
        if pool is not None:
            await pool.aclose()

    @property
    def scheme(self) -> str:
        """The URL's scheme only (the URL itself may hold a password)."""
        return self.url.partition("://")[0]

    def __repr__(self) -> str:
        # SECURITY: the storage URL may hold a password; show its scheme only.
        return f"{type(self).__name__}({self.scheme})"
