"""The ``{% cache seconds, key... %}`` Jinja2 tag: fragment caching (Django's ``{% cache %}``)."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.parser import Parser
from markupsafe import Markup

from .handler import DEFAULT_CACHE_ALIAS, caches

__all__ = ["CacheExtension", "make_fragment_key"]


def make_fragment_key(name: str, vary_on: tuple[Any, ...] = ()) -> str:
    """Return the cache key of a fragment (Django's ``make_template_fragment_key``).

    Args:
        name: The fragment's name, the tag's first key.
        vary_on: The tag's further keys (a user id, a language ...).
    """
    hasher = hashlib.sha256()
    for value in vary_on:
        hasher.update(str(value).encode("utf-8"))
        hasher.update(b"\0")
    return f"oakling.fragment:{name}:{hasher.hexdigest()}"


class CacheExtension(Extension):
    """Cache a template fragment: ``{% cache 300, "sidebar", user.id %}...{% endcache %}``.

    The first argument is the timeout in seconds (None: the cache's
    default), the second the fragment's name, the rest vary the key. The
    rendered fragment is cached as text (through msgspec, never pickle) in
    the ``"default"`` cache, or the one named by ``using="name"`` last::

        {% cache 600, "footer", using="templates" %}...{% endcache %}

    Sync and async templates both work (``enable_async``). A cache that is
    down renders the fragment every time. Installed into the app's templates
    by the ``Cache`` plugin; add it to your own ``Templates(extensions=[...])``
    otherwise.
    """

    tags = {"cache"}

    def parse(self, parser: Parser) -> nodes.Node:
        """Parse the tag's arguments and body."""
        lineno = next(parser.stream).lineno
        args: list[nodes.Expr] = [parser.parse_expression()]
        using: nodes.Expr = nodes.Const(None)
        while parser.stream.skip_if("comma"):
            if parser.stream.current.test("name:using") and parser.stream.look().test("assign"):
                next(parser.stream)
                next(parser.stream)
                using = parser.parse_expression()
                break
            args.append(parser.parse_expression())
        if len(args) < 2:
            parser.fail("{% cache %} needs a timeout and a fragment name", lineno)
        body = parser.parse_statements(("name:endcache",), drop_needle=True)
        call_args = [args[0], args[1], nodes.List(args[2:]), using]
        method = "_render_async" if self.environment.is_async else "_render"
        return nodes.CallBlock(self.call_method(method, call_args), [], [], body).set_lineno(lineno)

    @staticmethod
    def _key(name: Any, vary_on: list[Any], using: str | None) -> tuple[Any, str]:
        cache = caches[using or DEFAULT_CACHE_ALIAS]
        return cache, make_fragment_key(str(name), tuple(vary_on))

    def _render(
        self, timeout: Any, name: Any, vary_on: list[Any], using: str | None, caller: Any
    ) -> str:
        cache, key = self._key(name, vary_on, using)
        raw = cache.get_bytes(key)
        if raw is not None:
            return Markup(msgspec.msgpack.decode(raw, type=str))
        text = str(caller())
        cache.set_bytes(key, msgspec.msgpack.encode(text), _timeout(timeout))
        return Markup(text)

    async def _render_async(
        self, timeout: Any, name: Any, vary_on: list[Any], using: str | None, caller: Any
    ) -> str:
        cache, key = self._key(name, vary_on, using)
        raw = await cache.aget_bytes(key)
        if raw is not None:
            return Markup(msgspec.msgpack.decode(raw, type=str))
        text = str(await caller())
        await cache.aset_bytes(key, msgspec.msgpack.encode(text), _timeout(timeout))
        return Markup(text)


def _timeout(value: Any) -> Any:
    from .backends.base import DEFAULT_TIMEOUT

    return DEFAULT_TIMEOUT if value is None else float(value)
