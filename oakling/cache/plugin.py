"""The Cache plugin: ``CACHES`` -> ``caches``, the page cache's middleware, tag, CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from oakling.exceptions import ImproperlyConfigured

from .backends.base import BaseCache
from .handler import DEFAULT_CACHE_ALIAS, CacheHandler, caches, create_cache, parse_caches
from .middleware import record_final_headers

if TYPE_CHECKING:
    from oakling.applications import App

__all__ = ["Cache"]


class Cache:
    """Caching for an app: the ``oakling.cache`` plugin.

    ``App(plugins=[Cache()])`` (after ``Database()`` for database caches)
    builds the caches of the ``CACHES`` setting into the process-wide
    :data:`~oakling.cache.caches` (``cache`` is ``caches["default"]``),
    adds a response start hook (so ``cache_page`` judges the final
    response), the ``{% cache %}`` template tag, ``oakling cache clear`` and
    the closing of clients at shutdown. It is ``app.extensions["cache"]``.

    Args:
        caches_config: ``{alias: {"BACKEND": ..., ...}}`` (Django's
            ``CACHES``), or ready caches ``{alias: BaseCache}``; default the
            ``CACHES`` setting (a JSON object in ``OAKLING_CACHES``), else
            one memory cache.

    Raises:
        ImproperlyConfigured: From ``install``, for a bad ``CACHES`` entry.
    """

    name = "cache"

    def __init__(self, caches_config: Mapping[str, Any] | None = None) -> None:
        self._given = caches_config
        self.caches: CacheHandler = caches

    def install(self, app: App) -> None:
        """Register on ``app``: caches, middleware, template tag, CLI, shutdown."""
        existing = app.extensions.get(self.name)
        if existing is not None and existing is not self:
            raise ImproperlyConfigured("the app already has Cache installed")
        raw: Any = self._given
        if raw is None:
            raw = app.settings.get("CACHES", None)
        if isinstance(raw, str):
            raw = parse_caches(raw)
        if raw is not None and not isinstance(raw, Mapping):
            raise ImproperlyConfigured("CACHES must be an object {alias: {BACKEND: ...}}")
        ready = {
            alias: value for alias, value in dict(raw or {}).items() if isinstance(value, BaseCache)
        }
        config = parse_caches({k: v for k, v in dict(raw or {}).items() if k not in ready})
        if not ready and not config:
            config = {DEFAULT_CACHE_ALIAS: {"BACKEND": "memory"}}
        instances = dict(ready)
        for alias, entry in config.items():
            instances[alias] = create_cache(entry)
        for instance in instances.values():
            setup = getattr(instance, "setup", None)
            if setup is not None:
                setup(app)
        config.update({alias: {} for alias in ready})
        self.caches.configure(config, instances)
        app.extensions[self.name] = self
        # PERF: a response start hook, not a middleware layer; last, so the
        # page cache judges the headers every other battery added.
        app.add_response_start_hook(record_final_headers, last=True)
        app.on_startup(lambda: self._add_tag(app))
        app.on_shutdown(self.caches.aclose_all)
        app.cli_commands.append(cache_command)

    @staticmethod
    def _add_tag(app: App) -> None:
        from .templatetags import CacheExtension

        env = app.templates.env
        if CacheExtension.identifier not in env.extensions:
            env.add_extension(CacheExtension)

    def __repr__(self) -> str:
        return f"<Cache {self.caches.aliases}>"


@click.group("cache")
def cache_command() -> None:
    """Manage the app's caches (CACHES)."""


@cache_command.command("clear")
@click.option("--cache", "alias", default=None, help="Only this alias (default: every cache).")
@click.option("--expired", is_flag=True, help="Only delete expired rows of database caches.")
def clear_command(alias: str | None, expired: bool) -> None:
    """Delete every key of the app's caches (or of one)."""
    aliases = [alias] if alias else caches.aliases
    for name in aliases:
        if name not in caches:
            raise click.ClickException(f"no cache {name!r} in CACHES (aliases: {caches.aliases})")
        instance = caches[name]
        if expired:
            clear_expired = getattr(instance, "clear_expired", None)
            if clear_expired is None:
                continue
            click.echo(f"{name}: deleted {clear_expired()} expired entries")
            continue
        instance.clear()
        click.echo(f"cleared cache {name!r} ({type(instance).__name__})")
