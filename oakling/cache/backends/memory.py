"""The in-process cache: LRU with TTL and a size bound (the default backend)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from .base import BaseCache

__all__ = ["MemoryCache"]


class MemoryCache(BaseCache):
    """Keep values in this process: Django's ``LocMemCache``, with true LRU.

    Each process (each worker) has its own copy; use Redis or the database
    to share one cache between workers. Values are stored serialized, so a
    value read is a copy: changing it does not change the cache. Thread-safe.

    Bounds: at most ``max_entries`` keys (``MAX_ENTRIES``, default 300, as
    Django) and, when given, ``max_size`` bytes of values (``MAX_SIZE``);
    past either, the least recently used keys are evicted. Expired keys are
    dropped when read and evicted first when space is needed.

    Args:
        max_entries: Most keys kept.
        max_size: Most bytes of serialized values kept (None: no bound).
        **options: :class:`~oakling.cache.backends.base.BaseCache` options.
    """

    service = "memory cache"

    def __init__(
        self, *, max_entries: int = 300, max_size: int | None = None, **options: Any
    ) -> None:
        super().__init__(**options)
        if max_entries < 1:
            raise ValueError(f"MAX_ENTRIES must be at least 1, not {max_entries}")
        self.max_entries = max_entries
        self.max_size = max_size
        # NOTE: key -> (value, expires at (monotonic) or None); oldest first.
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> bytes | None:
        """Return the unexpired value of ``key`` (lock held), refreshing its recency."""
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= now:
            self._pop(key)
            return None
        self._data.move_to_end(key)
        return value

    def _pop(self, key: str) -> bool:
        item = self._data.pop(key, None)
        if item is None:
            return False
        self._size -= len(item[0])
        return True

    def _store(self, key: str, value: bytes, ttl: float | None, now: float) -> None:
        self._pop(key)
        self._data[key] = (value, None if ttl is None else now + ttl)
        self._size += len(value)
        if len(self._data) > self.max_entries or (
            self.max_size is not None and self._size > self.max_size
        ):
            self._evict(now)

    def _evict(self, now: float) -> None:
        expired = [key for key, (_, exp) in self._data.items() if exp is not None and exp <= now]
        for key in expired:
            self._pop(key)
        while len(self._data) > self.max_entries or (
            self.max_size is not None and self._size > self.max_size and len(self._data) > 1
        ):
            self._pop(next(iter(self._data)))
        if self.max_size is not None and self._size > self.max_size:
            self._pop(next(iter(self._data)))  # NOTE: one value larger than the bound

    def _get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key, time.monotonic())

    def get_bytes_now(self, key: str, version: int | None = None) -> bytes | None:
        """Return the bytes stored under ``key``, or None, without awaiting.

        For the page cache's hit path: an in-process store needs no
        coroutine. Backends doing I/O do not have this method.
        """
        return self._get(self.make_key(key, version))

    async def aget_bytes(self, key: str, version: int | None = None) -> bytes | None:
        """Return the bytes stored under ``key``, or None (no I/O: read directly)."""
        # PERF: the page cache's hit path; nothing here can be down.
        return self._get(self.make_key(key, version))

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        with self._lock:
            self._store(key, value, ttl, time.monotonic())

    def _add(self, key: str, value: bytes, ttl: float | None) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._live(key, now) is not None:
                return False
            self._store(key, value, ttl, now)
            return True

    def _delete(self, key: str) -> bool:
        with self._lock:
            live = self._live(key, time.monotonic()) is not None
            self._pop(key)
            return live

    def _touch(self, key: str, ttl: float | None) -> bool:
        with self._lock:
            now = time.monotonic()
            value = self._live(key, now)
            if value is None:
                return False
            self._data[key] = (value, None if ttl is None else now + ttl)
            return True

    def _incr(self, key: str, delta: int) -> int | None:
        with self._lock:
            now = time.monotonic()
            value = self._live(key, now)
            if value is None:
                return None
            try:
                number = int(value) + delta
            except ValueError:
                raise ValueError("the cached value is not an integer") from None
            expires = self._data[key][1]
            self._pop(key)
            self._data[key] = (str(number).encode("ascii"), expires)
            self._size += len(self._data[key][0])
            return number

    def _has(self, key: str) -> bool:
        with self._lock:
            return self._live(key, time.monotonic()) is not None

    def _clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._size = 0

    def __len__(self) -> int:
        """Return how many keys are held (expired ones not yet dropped included)."""
        return len(self._data)
