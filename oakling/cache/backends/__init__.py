"""Cache backends: memory (default), Redis, database, dummy; or your own.

The database backend is :mod:`oakling.cache.backends.database`, imported only
when used (it declares a table and needs ``oakling[db]``); Redis needs
``oakling[redis]``.
"""

from __future__ import annotations

from .base import DEFAULT_TIMEOUT, BaseCache, default_key_func
from .dummy import DummyCache
from .memory import MemoryCache

__all__ = ["DEFAULT_TIMEOUT", "BaseCache", "DummyCache", "MemoryCache", "default_key_func"]
