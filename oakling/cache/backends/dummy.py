"""The dummy cache: stores nothing (Django's ``DummyCache``), for development."""

from __future__ import annotations

from .base import BaseCache

__all__ = ["DummyCache"]


class DummyCache(BaseCache):
    """Implement the cache API and keep nothing: every read is a miss.

    ``add`` answers True (as Django's), ``incr`` raises ``ValueError``
    (the key is always missing). Use it to run an app without caching.
    """

    service = "dummy cache"

    def _get(self, key: str) -> bytes | None:
        return None

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        return None

    def _add(self, key: str, value: bytes, ttl: float | None) -> bool:
        return True

    def _delete(self, key: str) -> bool:
        return False

    def _touch(self, key: str, ttl: float | None) -> bool:
        return False

    def _incr(self, key: str, delta: int) -> int | None:
        return None

    def _clear(self) -> None:
        return None
