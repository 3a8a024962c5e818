"""The cache API every backend shares: Django's names and semantics, sync and async.

A backend implements a small byte-level store (``_get``, ``_set``, ``_add``
... and their ``_a``-prefixed coroutines); :class:`BaseCache` adds what users
call: key prefix, version and key function, default timeout, serialization,
outage handling (a store that is down is a miss) and stampede protection in
``get_or_set``.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final

from oakling.outages import CircuitBreaker, outages

from ..serializers import Serializer, decode, encode, get_serializer

__all__ = ["DEFAULT_TIMEOUT", "BaseCache", "KeyFunction", "default_key_func"]


class _DefaultTimeout:
    def __repr__(self) -> str:
        return "DEFAULT_TIMEOUT"


#: The ``timeout`` meaning "this cache's default" (Django's ``DEFAULT_TIMEOUT``).
DEFAULT_TIMEOUT: Final[Any] = _DefaultTimeout()

KeyFunction = Callable[[str, str, int], str]

#: Seconds a failed store is skipped (every call is a miss, no I/O) before
#: one call probes it again (``OPTIONS["RETRY_INTERVAL"]``): an outage costs
#: nothing per request, and recovery is seen within this time.
RETRY_INTERVAL = 0.5

_MISSING: Final[Any] = object()


def default_key_func(key: str, key_prefix: str, version: int) -> str:
    """Return ``"<prefix>:<version>:<key>"``, Django's default ``KEY_FUNCTION``."""
    return f"{key_prefix}:{version}:{key}"


class _Flight:
    """One computation in progress in this process, and its result."""

    __slots__ = ("done", "event", "ok", "value")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.done = False
        self.ok = False
        self.value: Any = None


class BaseCache:
    """A cache: Django's ``BaseCache`` API, sync and async (``aget``, ``aset`` ...).

    Args:
        timeout: Default seconds a value lives (``TIMEOUT``, 300); None is
            forever, 0 or less expires at once (the value is not kept).
        key_prefix: Put before every key (``KEY_PREFIX``), so caches
            sharing a store don't collide.
        version: Default version of keys (``VERSION``, 1).
        key_function: ``func(key, key_prefix, version) -> str``
            (``KEY_FUNCTION``), default :func:`default_key_func`.
        serializer: ``"msgspec"`` (default, safe on any bytes) or
            ``"pickle"`` (any object; never for data a client can
            influence, see :class:`~oakling.cache.serializers.PickleSerializer`).
        lock_timeout: Seconds ``get_or_set`` waits for another worker or
            thread computing the same key before computing it itself.
        retry_interval: Seconds a store that failed (down, or slower than
            its timeout) is skipped, every call a miss without I/O, before
            one call probes it again (:class:`~oakling.outages.CircuitBreaker`).
    """

    #: The name outages of this backend are logged under.
    service = "cache"
    #: Whether other processes see the same store (then ``get_or_set``
    #: also takes a best-effort lock in it, across workers).
    shared = False

    def __init__(
        self,
        *,
        timeout: float | None = 300,
        key_prefix: str = "",
        version: int = 1,
        key_function: KeyFunction | str | None = None,
        serializer: str | Serializer | None = None,
        lock_timeout: float = 10.0,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        self.default_timeout = timeout
        self.key_prefix = key_prefix
        self.version = version
        if isinstance(key_function, str):
            from oakling.cache.handler import import_string

            key_function = import_string(key_function)
        self.key_func: KeyFunction = key_function or default_key_func  # type: ignore[assignment]  # NOTE: an imported callable
        self.serializer = get_serializer(serializer)
        self.lock_timeout = lock_timeout
        # NOTE: exceptions meaning "the store is unreachable": a miss, not an error.
        self._errors: tuple[type[BaseException], ...] = ()
        self.breaker = CircuitBreaker(retry_interval)
        self._flights: dict[str, _Flight] = {}
        self._flights_lock = threading.Lock()
        self._async_flights: dict[tuple[int, str], asyncio.Future[Any]] = {}

    # -- keys and timeouts ------------------------------------------------------

    def make_key(self, key: str, version: int | None = None) -> str:
        """Return the store's key for ``key`` (prefix, version, key function).

        Raises:
            TypeError: If ``key`` is not a string.
        """
        if not isinstance(key, str):
            raise TypeError(f"cache keys are strings, not {type(key).__name__}")
        return self.key_func(key, self.key_prefix, self.version if version is None else version)

    def get_backend_timeout(self, timeout: Any = DEFAULT_TIMEOUT) -> float | None:
        """Return seconds to keep a value: None for ever, 0 or less for not at all."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return None
        return float(timeout)

    def clear_prefix(self) -> str | None:
        """Return the prefix every key of this cache starts with, None if unknown.

        Known with the default key function: ``"<KEY_PREFIX>:"``. ``clear``
        deletes only such keys; with a custom key function it clears the
        whole store (Django's behaviour).
        """
        return f"{self.key_prefix}:" if self.key_func is default_key_func else None

    # -- outages -----------------------------------------------------------------

    def _failed(self, ex: BaseException) -> None:
        self.breaker.failed()
        outages.failed(self.service, ex)

    def _call(self, func: Callable[..., Any], *args: Any, miss: Any) -> Any:
        breaker = self.breaker
        if breaker.open_until and not breaker.allow():
            return miss  # PERF: a store known down costs no I/O
        try:
            result = func(*args)
        except self._errors as ex:
            self._failed(ex)
            return miss
        if breaker.open_until:
            breaker.succeeded()
        outages.recovered(self.service)
        return result

    async def _acall(self, func: Callable[..., Awaitable[Any]], *args: Any, miss: Any) -> Any:
        breaker = self.breaker
        if breaker.open_until and not breaker.allow():
            return miss
        try:
            result = await func(*args)
        except self._errors as ex:
            self._failed(ex)
            return miss
        if breaker.open_until:
            breaker.succeeded()
        outages.recovered(self.service)
        return result

    def _decode(self, raw: bytes | None, default: Any) -> Any:
        if raw is None:
            return default
        try:
            return decode(self.serializer, raw)
        except ValueError:
            return default  # NOTE: written by another serializer or corrupt: a miss

    def _encode(self, value: Any) -> bytes:
        return encode(self.serializer, value)

    # -- the byte-level store: backends override these ----------------------------

    def _get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        raise NotImplementedError

    def _add(self, key: str, value: bytes, ttl: float | None) -> bool:
        raise NotImplementedError

    def _delete(self, key: str) -> bool:
        raise NotImplementedError

    def _touch(self, key: str, ttl: float | None) -> bool:
        raise NotImplementedError

    def _incr(self, key: str, delta: int) -> int | None:
        raise NotImplementedError

    def _has(self, key: str) -> bool:
        return self._get(key) is not None

    def _get_many(self, keys: list[str]) -> dict[str, bytes]:
        found = {key: self._get(key) for key in keys}
        return {key: value for key, value in found.items() if value is not None}

    def _set_many(self, items: dict[str, bytes], ttl: float | None) -> None:
        for key, value in items.items():
            self._set(key, value, ttl)

    def _delete_many(self, keys: list[str]) -> None:
        for key in keys:
            self._delete(key)

    def _clear(self) -> None:
        raise NotImplementedError

    async def _aget(self, key: str) -> bytes | None:
        return self._get(key)

    async def _aset(self, key: str, value: bytes, ttl: float | None) -> None:
        self._set(key, value, ttl)

    async def _aadd(self, key: str, value: bytes, ttl: float | None) -> bool:
        return self._add(key, value, ttl)

    async def _adelete(self, key: str) -> bool:
        return self._delete(key)

    async def _atouch(self, key: str, ttl: float | None) -> bool:
        return self._touch(key, ttl)

    async def _aincr(self, key: str, delta: int) -> int | None:
        return self._incr(key, delta)

    async def _ahas(self, key: str) -> bool:
        return self._has(key)

    async def _aget_many(self, keys: list[str]) -> dict[str, bytes]:
        return self._get_many(keys)

    async def _aset_many(self, items: dict[str, bytes], ttl: float | None) -> None:
        self._set_many(items, ttl)

    async def _adelete_many(self, keys: list[str]) -> None:
        self._delete_many(keys)

    async def _aclear(self) -> None:
        self._clear()

    # -- the API, sync ---------------------------------------------------------------

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        """Return the value of ``key``, or ``default`` if missing, expired or unreachable."""
        return self._decode(self._call(self._get, self.make_key(key, version), miss=None), default)

    def set(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        """Store ``value`` under ``key`` for ``timeout`` seconds (dropped when unreachable).

        Raises:
            TypeError: If the serializer cannot hold ``value``.
        """
        made, ttl = self.make_key(key, version), self.get_backend_timeout(timeout)
        data = self._encode(value)
        if ttl is not None and ttl <= 0:
            self._call(self._delete, made, miss=False)
            return
        self._call(self._set, made, data, ttl, miss=None)

    def add(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """Store ``value`` only if ``key`` is missing; return whether it was stored."""
        made, ttl = self.make_key(key, version), self.get_backend_timeout(timeout)
        data = self._encode(value)
        if ttl is not None and ttl <= 0:
            return not self._call(self._has, made, miss=True)
        return bool(self._call(self._add, made, data, ttl, miss=False))

    def delete(self, key: str, version: int | None = None) -> bool:
        """Delete ``key``; return whether it existed."""
        return bool(self._call(self._delete, self.make_key(key, version), miss=False))

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        """Give ``key`` a new timeout; return whether the key existed."""
        made, ttl = self.make_key(key, version), self.get_backend_timeout(timeout)
        if ttl is not None and ttl <= 0:
            return bool(self._call(self._delete, made, miss=False))
        return bool(self._call(self._touch, made, ttl, miss=False))

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        """Add ``delta`` to the integer under ``key`` atomically; return the new value.

        Raises:
            ValueError: If the key is missing (or the store unreachable: every
                key is missing then), or its value is not an integer.
        """
        made = self.make_key(key, version)
        value = self._call(self._incr, made, delta, miss=None)
        if value is None:
            raise ValueError(f"Key '{key}' not found")
        return int(value)

    def decr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        """Subtract ``delta`` from the integer under ``key``; see :meth:`incr`."""
        return self.incr(key, -delta, version)

    def has_key(self, key: str, version: int | None = None) -> bool:
        """Tell whether ``key`` holds an unexpired value."""
        return bool(self._call(self._has, self.make_key(key, version), miss=False))

    def get_many(self, keys: Iterable[str], version: int | None = None) -> dict[str, Any]:
        """Return ``{key: value}`` for the ``keys`` found (missing ones are left out)."""
        made = {self.make_key(key, version): key for key in keys}
        found = self._call(self._get_many, list(made), miss={})
        result: dict[str, Any] = {}
        for stored, raw in found.items():
            value = self._decode(raw, _MISSING)
            if value is not _MISSING:
                result[made[stored]] = value
        return result

    def set_many(
        self,
        data: Mapping[str, Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> list[str]:
        """Store every item of ``data``; return the keys that failed (all when unreachable)."""
        if not data:
            return []
        ttl = self.get_backend_timeout(timeout)
        items = {self.make_key(key, version): self._encode(value) for key, value in data.items()}
        if ttl is not None and ttl <= 0:
            self._call(self._delete_many, list(items), miss=None)
            return []
        ok = self._call(self._set_many_ok, items, ttl, miss=False)
        return [] if ok else list(data)

    def _set_many_ok(self, items: dict[str, bytes], ttl: float | None) -> bool:
        self._set_many(items, ttl)
        return True

    def delete_many(self, keys: Iterable[str], version: int | None = None) -> None:
        """Delete every one of ``keys``."""
        made = [self.make_key(key, version) for key in keys]
        if made:
            self._call(self._delete_many, made, miss=None)

    def clear(self) -> None:
        """Delete every key of this cache (see :meth:`clear_prefix`)."""
        self._call(self._clear, miss=None)

    def incr_version(self, key: str, delta: int = 1, version: int | None = None) -> int:
        """Move ``key`` to version ``version + delta``; return the new version.

        Raises:
            ValueError: If the key is missing.
        """
        version = self.version if version is None else version
        value = self.get(key, _MISSING, version)
        if value is _MISSING:
            raise ValueError(f"Key '{key}' not found")
        self.set(key, value, version=version + delta)
        self.delete(key, version)
        return version + delta

    def decr_version(self, key: str, delta: int = 1, version: int | None = None) -> int:
        """Move ``key`` to version ``version - delta``; see :meth:`incr_version`."""
        return self.incr_version(key, -delta, version)

    def get_or_set(
        self,
        key: str,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> Any:
        """Return the value of ``key``; if missing, store ``default`` (called if callable).

        Stampede protection: while one thread of this process calls
        ``default`` for a key, the others wait (up to ``lock_timeout``
        seconds) and get its value; on a shared store (Redis, a database) a
        best-effort lock in the store makes other workers wait too.
        """
        made = self.make_key(key, version)
        value = self._decode(self._call(self._get, made, miss=None), _MISSING)
        if value is not _MISSING:
            return value
        if not callable(default):
            self.set(key, default, timeout, version)
            return default
        with self._flights_lock:
            flight = self._flights.get(made)
            leader = flight is None
            if flight is None:
                flight = self._flights[made] = _Flight()
        if not leader:
            flight.event.wait(self.lock_timeout)
            if flight.ok:
                return flight.value
            return self._compute(made, key, default, timeout, version)
        try:
            flight.value = self._lead(made, key, default, timeout, version)
            flight.ok = True
            return flight.value
        finally:
            flight.done = True
            flight.event.set()
            with self._flights_lock:
                self._flights.pop(made, None)

    def _lock_key(self, made: str) -> str:
        return f"{made}:lock"

    def _lead(
        self, made: str, key: str, default: Callable[[], Any], timeout: Any, version: int | None
    ) -> Any:
        if not self.shared:
            return self._compute(made, key, default, timeout, version)
        lock = self._lock_key(made)
        token = uuid.uuid4().hex.encode()
        if not self._call(self._add, lock, token, self.lock_timeout, miss=True):
            # NOTE: another worker computes it: wait for its value, polling.
            deadline = time.monotonic() + self.lock_timeout
            while time.monotonic() < deadline:
                time.sleep(0.02)
                value = self._decode(self._call(self._get, made, miss=None), _MISSING)
                if value is not _MISSING:
                    return value
                if not self._call(self._has, lock, miss=False):
                    # NOTE: released: the holder stored the value just before.
                    value = self._decode(self._call(self._get, made, miss=None), _MISSING)
                    if value is not _MISSING:
                        return value
                    break
            return self._compute(made, key, default, timeout, version)
        try:
            # NOTE: our miss may have been read before another thread or worker
            # stored the value and released the lock: check again, holding it.
            value = self._decode(self._call(self._get, made, miss=None), _MISSING)
            if value is not _MISSING:
                return value
            return self._compute(made, key, default, timeout, version)
        finally:
            self._call(self._delete, lock, miss=False)

    def _compute(
        self, made: str, key: str, default: Callable[[], Any], timeout: Any, version: int | None
    ) -> Any:
        value = default()
        self.set(key, value, timeout, version)
        return value

    def close(self) -> None:
        """Close connections this cache opened (Django's ``close``)."""

    # -- raw bytes (no serializer): the page and fragment caches ------------------

    async def aget_bytes(self, key: str, version: int | None = None) -> bytes | None:
        """Return the bytes stored under ``key`` as given to :meth:`aset_bytes`, or None."""
        raw: bytes | None = await self._acall(self._aget, self.make_key(key, version), miss=None)
        return raw

    async def aset_bytes(
        self, key: str, value: bytes, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        """Store ``value`` as is, bypassing the serializer (dropped when unreachable)."""
        ttl = self.get_backend_timeout(timeout)
        if ttl is not None and ttl <= 0:
            return
        await self._acall(self._aset, self.make_key(key, version), value, ttl, miss=None)

    def get_bytes(self, key: str, version: int | None = None) -> bytes | None:
        """Return the bytes stored under ``key`` by :meth:`set_bytes`, or None."""
        raw: bytes | None = self._call(self._get, self.make_key(key, version), miss=None)
        return raw

    def set_bytes(
        self, key: str, value: bytes, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        """Store ``value`` as is, bypassing the serializer (dropped when unreachable)."""
        ttl = self.get_backend_timeout(timeout)
        if ttl is not None and ttl <= 0:
            return
        self._call(self._set, self.make_key(key, version), value, ttl, miss=None)

    # -- the API, async (Django 4's a-prefixed names) ------------------------------

    async def aget(self, key: str, default: Any = None, version: int | None = None) -> Any:
        """Return the value of ``key``; see :meth:`get`."""
        raw = await self._acall(self._aget, self.make_key(key, version), miss=None)
        return self._decode(raw, default)

    async def aset(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        """Store ``value`` under ``key``; see :meth:`set`."""
        made, ttl = self.make_key(key, version), self.get_backend_timeout(timeout)
        data = self._encode(value)
        if ttl is not None and ttl <= 0:
            await self._acall(self._adelete, made, miss=False)
            return
        await self._acall(self._aset, made, data, ttl, miss=None)

    async def aadd(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """Store ``value`` only if ``key`` is missing; see :meth:`add`."""
        made, ttl = self.make_key(key, version), self.get_backend_timeout(timeout)
        data = self._encode(value)
        if ttl is not None and ttl <= 0:
            return not await self._acall(self._ahas, made, miss=True)
        return bool(await self._acall(self._aadd, made, data, ttl, miss=False))

    async def adelete(self, key: str, version: int | None = None) -> bool:
        """Delete ``key``; see :meth:`delete`."""
        return bool(await self._acall(self._adelete, self.make_key(key, version), miss=False))

    async def atouch(
        self, key: str, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """Give ``key`` a new timeout; see :meth:`touch`."""
        made, ttl = self.make_key(key, version), self.get_backend_timeout(timeout)
        if ttl is not None and ttl <= 0:
            return bool(await self._acall(self._adelete, made, miss=False))
        return bool(await self._acall(self._atouch, made, ttl, miss=False))

    async def aincr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        """Add ``delta`` to the integer under ``key``; see :meth:`incr`.

        Raises:
            ValueError: If the key is missing or not an integer.
        """
        value = await self._acall(self._aincr, self.make_key(key, version), delta, miss=None)
        if value is None:
            raise ValueError(f"Key '{key}' not found")
        return int(value)

    async def adecr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        """Subtract ``delta`` from the integer under ``key``; see :meth:`incr`."""
        return await self.aincr(key, -delta, version)

    async def ahas_key(self, key: str, version: int | None = None) -> bool:
        """Tell whether ``key`` holds an unexpired value."""
        return bool(await self._acall(self._ahas, self.make_key(key, version), miss=False))

    async def aget_many(self, keys: Iterable[str], version: int | None = None) -> dict[str, Any]:
        """Return ``{key: value}`` for the ``keys`` found; see :meth:`get_many`."""
        made = {self.make_key(key, version): key for key in keys}
        found = await self._acall(self._aget_many, list(made), miss={})
        result: dict[str, Any] = {}
        for stored, raw in found.items():
            value = self._decode(raw, _MISSING)
            if value is not _MISSING:
                result[made[stored]] = value
        return result

    async def aset_many(
        self,
        data: Mapping[str, Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> list[str]:
        """Store every item of ``data``; see :meth:`set_many`."""
        if not data:
            return []
        ttl = self.get_backend_timeout(timeout)
        items = {self.make_key(key, version): self._encode(value) for key, value in data.items()}
        if ttl is not None and ttl <= 0:
            await self._acall(self._adelete_many, list(items), miss=None)
            return []
        ok = await self._acall(self._aset_many_ok, items, ttl, miss=False)
        return [] if ok else list(data)

    async def _aset_many_ok(self, items: dict[str, bytes], ttl: float | None) -> bool:
        await self._aset_many(items, ttl)
        return True

    async def adelete_many(self, keys: Iterable[str], version: int | None = None) -> None:
        """Delete every one of ``keys``."""
        made = [self.make_key(key, version) for key in keys]
        if made:
            await self._acall(self._adelete_many, made, miss=None)

    async def aclear(self) -> None:
        """Delete every key of this cache; see :meth:`clear`."""
        await self._acall(self._aclear, miss=None)

    async def aget_or_set(
        self,
        key: str,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> Any:
        """Return the value of ``key``; if missing, store ``default``; see :meth:`get_or_set`.

        ``default`` may be a value, a function or a coroutine function. While
        one task computes a key, the other tasks of the event loop asking for
        it await that computation and get its value.
        """
        made = self.make_key(key, version)
        value = self._decode(await self._acall(self._aget, made, miss=None), _MISSING)
        if value is not _MISSING:
            return value
        if not callable(default):
            await self.aset(key, default, timeout, version)
            return default
        loop = asyncio.get_running_loop()
        flight_key = (id(loop), made)
        waiting = self._async_flights.get(flight_key)
        if waiting is not None:
            try:
                return await asyncio.wait_for(asyncio.shield(waiting), self.lock_timeout)
            except Exception:  # noqa: BLE001 - the leader failed or took too long: compute
                return await self._acompute(key, default, timeout, version)
        future: asyncio.Future[Any] = loop.create_future()
        self._async_flights[flight_key] = future
        try:
            value = await self._alead(made, key, default, timeout, version)
        except BaseException as ex:
            future.set_exception(ex)
            future.exception()  # NOTE: retrieved, so no "never retrieved" warning
            raise
        else:
            future.set_result(value)
            return value
        finally:
            self._async_flights.pop(flight_key, None)

    async def _alead(
        self, made: str, key: str, default: Callable[[], Any], timeout: Any, version: int | None
    ) -> Any:
        if not self.shared:
            return await self._acompute(key, default, timeout, version)
        lock = self._lock_key(made)
        token = uuid.uuid4().hex.encode()
        if not await self._acall(self._aadd, lock, token, self.lock_timeout, miss=True):
            deadline = time.monotonic() + self.lock_timeout
            while time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                raw = await self._acall(self._aget, made, miss=None)
                value = self._decode(raw, _MISSING)
                if value is not _MISSING:
                    return value
                if not await self._acall(self._ahas, lock, miss=False):
                    # NOTE: released: the holder stored the value just before.
                    raw = await self._acall(self._aget, made, miss=None)
                    value = self._decode(raw, _MISSING)
                    if value is not _MISSING:
                        return value
                    break
            return await self._acompute(key, default, timeout, version)
        try:
            # NOTE: see _lead: check again, holding the lock.
            value = self._decode(await self._acall(self._aget, made, miss=None), _MISSING)
            if value is not _MISSING:
                return value
            return await self._acompute(key, default, timeout, version)
        finally:
            await self._acall(self._adelete, lock, miss=False)

    async def _acompute(
        self, key: str, default: Callable[[], Any], timeout: Any, version: int | None
    ) -> Any:
        value = default()
        if inspect.isawaitable(value):
            value = await value
        await self.aset(key, value, timeout, version)
        return value

    async def aclose(self) -> None:
        """Close connections this cache opened in the running event loop."""
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self.key_prefix!r} timeout={self.default_timeout}>"
