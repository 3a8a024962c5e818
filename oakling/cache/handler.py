"""``CACHES``: named caches built from settings, ``caches["name"]`` and ``cache``."""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from oakling.exceptions import ImproperlyConfigured

from .backends.base import BaseCache

__all__ = [
    "BACKENDS",
    "DEFAULT_CACHE_ALIAS",
    "CacheHandler",
    "InvalidCacheBackendError",
    "cache",
    "caches",
    "create_cache",
    "import_string",
]

DEFAULT_CACHE_ALIAS = "default"

#: Short backend names accepted in ``BACKEND``; anything else is a dotted path.
BACKENDS = {
    "memory": "oakling.cache.backends.memory.MemoryCache",
    "locmem": "oakling.cache.backends.memory.MemoryCache",
    "redis": "oakling.cache.backends.redis.RedisCache",
    "database": "oakling.cache.backends.database.DatabaseCache",
    "db": "oakling.cache.backends.database.DatabaseCache",
    "dummy": "oakling.cache.backends.dummy.DummyCache",
}

# NOTE: Django's setting names -> the backends' keyword arguments.
_TOP_LEVEL = {
    "TIMEOUT": "timeout",
    "KEY_PREFIX": "key_prefix",
    "VERSION": "version",
    "KEY_FUNCTION": "key_function",
}


class InvalidCacheBackendError(ImproperlyConfigured):
    """An unknown cache alias, or a ``CACHES`` entry that does not build."""


def import_string(path: str) -> Any:
    """Import ``"package.module.Name"`` and return ``Name`` (Django's ``import_string``).

    Raises:
        ImportError: If the module or the name does not exist.
    """
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ImportError(f"{path!r} is not a dotted path")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"module {module_name!r} has no attribute {attr!r}") from None


def create_cache(config: Mapping[str, Any]) -> BaseCache:
    """Build a cache from one ``CACHES`` entry (Django's keys).

    ``{"BACKEND": "redis", "LOCATION": "redis://...", "TIMEOUT": 300,
    "KEY_PREFIX": "", "VERSION": 1, "KEY_FUNCTION": "dotted.path",
    "OPTIONS": {"MAX_ENTRIES": 300, "SERIALIZER": "msgspec", ...}}``;
    ``OPTIONS`` keys are the backend's keyword arguments, upper-cased.

    Raises:
        InvalidCacheBackendError: For an unknown backend or option.
    """
    config = dict(config)
    backend = str(config.pop("BACKEND", "memory"))
    path = BACKENDS.get(backend.lower(), backend)
    try:
        cls = import_string(path)
    except ImportError as ex:
        raise InvalidCacheBackendError(
            f"cache BACKEND {backend!r} cannot be imported: {ex}"
        ) from ex
    if not (isinstance(cls, type) and issubclass(cls, BaseCache)):
        raise InvalidCacheBackendError(f"cache BACKEND {backend!r} is not a BaseCache subclass")
    kwargs: dict[str, Any] = {}
    location = config.pop("LOCATION", None)
    if location:
        kwargs["database" if path.endswith("DatabaseCache") else "location"] = location
    for name, argument in _TOP_LEVEL.items():
        if name in config:
            kwargs[argument] = config.pop(name)
    options = config.pop("OPTIONS", None) or {}
    if config:
        raise InvalidCacheBackendError(f"unknown CACHES keys: {sorted(config)}")
    for name, value in dict(options).items():
        kwargs[str(name).lower()] = value
    try:
        instance: BaseCache = cls(**kwargs)
        return instance
    except TypeError as ex:
        raise InvalidCacheBackendError(f"cache {backend!r}: {ex}") from None


def parse_caches(raw: Any) -> dict[str, dict[str, Any]]:
    """Return ``CACHES`` as ``{alias: config}``, from a dict or a JSON string.

    Raises:
        ImproperlyConfigured: If it is neither, or an entry is not an object.
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as ex:
            raise ImproperlyConfigured(
                f"CACHES must be a JSON object {{alias: {{...}}}}: {ex}"
            ) from None
    if not isinstance(raw, Mapping) or not all(
        isinstance(alias, str) and isinstance(entry, Mapping) for alias, entry in raw.items()
    ):
        raise ImproperlyConfigured("CACHES must be an object {alias: {BACKEND: ...}}")
    return {alias: dict(entry) for alias, entry in raw.items()}


class CacheHandler:
    """The named caches of the process: ``caches["default"]`` (Django's ``caches``).

    Built lazily from the configuration, one instance per alias. Until the
    ``Cache`` plugin configures it, ``"default"`` is a :class:`MemoryCache`.
    """

    def __init__(self, config: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._config: dict[str, dict[str, Any]] = {
            alias: dict(entry)
            for alias, entry in (config or {DEFAULT_CACHE_ALIAS: {"BACKEND": "memory"}}).items()
        }
        self._caches: dict[str, BaseCache] = {}
        self._lock = threading.Lock()

    def configure(
        self,
        config: Mapping[str, Mapping[str, Any]],
        instances: Mapping[str, BaseCache] | None = None,
    ) -> None:
        """Replace the configuration (the caches built so far are closed)."""
        with self._lock:
            old = list(self._caches.values())
            self._config = {alias: dict(entry) for alias, entry in config.items()}
            self._caches = dict(instances or {})
        for instance in old:
            if instance not in self._caches.values():
                instance.close()

    def __getitem__(self, alias: str) -> BaseCache:
        """Return the cache named ``alias``.

        Raises:
            InvalidCacheBackendError: If ``CACHES`` has no such alias.
        """
        found = self._caches.get(alias)
        if found is not None:
            return found
        with self._lock:
            found = self._caches.get(alias)
            if found is None:
                if alias not in self._config:
                    raise InvalidCacheBackendError(
                        f"the cache {alias!r} is not in CACHES (aliases: {sorted(self._config)})"
                    )
                found = self._caches[alias] = create_cache(self._config[alias])
        return found

    def __contains__(self, alias: object) -> bool:
        return alias in self._config

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._config))

    @property
    def aliases(self) -> list[str]:
        """The configured aliases."""
        return list(self._config)

    def all(self, initialized_only: bool = False) -> list[BaseCache]:
        """Return every cache (only those built so far with ``initialized_only``)."""
        if initialized_only:
            return list(self._caches.values())
        return [self[alias] for alias in self._config]

    def close_all(self) -> None:
        """Close every cache built so far."""
        for instance in list(self._caches.values()):
            instance.close()

    async def aclose_all(self) -> None:
        """Close every cache built so far, async clients of this loop included."""
        for instance in list(self._caches.values()):
            await instance.aclose()


#: The process's named caches (``caches["default"]``), configured by the plugin.
caches = CacheHandler()


class _DefaultCache:
    """``cache``: the default cache, looked up at each use (Django's ``cache``)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(caches[DEFAULT_CACHE_ALIAS], name)

    def __repr__(self) -> str:
        return f"<default cache {caches[DEFAULT_CACHE_ALIAS]!r}>"


#: The default cache: ``cache.get("key")``, ``await cache.aget("key")``.
cache: Any = _DefaultCache()
