"""Per-view caching: ``@cache_page(seconds)`` and the route option (Django's ``cache_page``).

A cached page is served before the handler, its dependencies or its
parameters run. What keys an entry (Django's ``learn_cache_key``, less its
foot-guns):

- the method (HEAD is served from GET's entry), the full URL (scheme, Host,
  root path, path, query string);
- the request headers that proxies use to rewrite URLs (``X-Forwarded-Host``,
  ``X-Original-URL`` ...), always: a poisoned value can only land in the
  attacker's own entry;
- the request headers named in the response's ``Vary`` (learned from the
  first response and kept in an index entry).

What is never stored, unless the view opts in: a response to an
authenticated request (an ``Authorization`` header, or a logged-in
``scope["user"]``), a response setting a cookie, a response marked
``private``, ``no-store`` or ``no-cache``, ``Vary: *``, a status other
than 200, a body over ``max_size`` bytes. With the ``Cache`` plugin
installed these are judged on the final response, after the sessions,
CSRF and auth middleware added their headers; without it, a request
that has a session is never stored (its cookie headers are not seen).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from oakling.cachecontrol import patch_vary_headers

from .handler import DEFAULT_CACHE_ALIAS, caches

if TYPE_CHECKING:
    from oakling.types import ASGIApp, Message, Receive, Scope, Send

    from .backends.base import BaseCache

__all__ = ["CachePage", "CachePageMiddleware", "cache_page"]

logger = logging.getLogger("oakling.cache")

_F = TypeVar("_F", bound=Callable[..., Any])

# SECURITY: headers that proxies and frameworks use to rebuild the URL or
# the method. A page built from them must never be served to a request
# without them, so they are always part of the key.
UNKEYED_INPUTS = (
    b"forwarded",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"x-forwarded-scheme",
    b"x-forwarded-prefix",
    b"x-forwarded-port",
    b"x-forwarded-server",
    b"x-host",
    b"x-original-host",
    b"x-original-url",
    b"x-rewrite-url",
    b"x-http-method-override",
)

#: The scope key where :class:`~oakling.cache.CacheMiddleware` leaves the
#: final response headers for the page cache to judge.
FINAL_HEADERS = "oakling.cache.final_headers"

_REFUSING_DIRECTIVES = (b"private", b"no-store", b"no-cache")


class _Page(msgspec.Struct, array_like=True):
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored_at: float


class _Index(msgspec.Struct, array_like=True):
    vary: list[str]
    page: _Page | None = None


_encode = msgspec.msgpack.Encoder().encode
_decode_index = msgspec.msgpack.Decoder(_Index).decode
_decode_page = msgspec.msgpack.Decoder(_Page).decode


def _header_values(scope: Scope, name: bytes) -> bytes:
    return b", ".join(value for key, value in scope["headers"] if key == name)


def _digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(len(part).to_bytes(4, "big"))
        hasher.update(part)
    return hasher.hexdigest()


_KEYED = frozenset((b"host", *UNKEYED_INPUTS))
_UNKEYED_SET = frozenset(UNKEYED_INPUTS)


def _request_key(scope: Scope) -> tuple[bool, bytes]:
    """Return ``(has Authorization, the bytes keying the request)`` in one header pass.

    The bytes hold the scheme, Host, root path, path, query string and every
    header of :data:`UNKEYED_INPUTS` the request has, with its value.
    """
    headers = scope["headers"]
    found = dict(headers)
    if len(found) == len(headers) and not _UNKEYED_SET.intersection(found):
        # PERF: no repeated header and no unkeyed input (the usual request):
        # C-level lookups instead of a Python loop over the headers.
        host = found.get(b"host", b"")
        if not host:
            server = scope.get("server")
            host = f"{server[0]}:{server[1]}".encode() if server else b""
        root_path: str = scope.get("root_path", "")
        raw = (root_path + scope["path"]).encode("utf-8", "surrogateescape")
        query_string: bytes = scope.get("query_string", b"")
        url = scope.get("scheme", "http").encode() + b"://" + host + raw
        return b"authorization" in found, url + b"?" + query_string if query_string else url
    authorized = False
    host = b""
    keyed: list[bytes] = []
    for key, value in headers:
        if key in _KEYED:
            if key == b"host":
                host = value
            else:
                keyed.append(key + b":" + value)
        elif key == b"authorization":
            authorized = True
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}".encode() if server else b""
    path: bytes = (str(scope.get("root_path", "")) + str(scope["path"])).encode(
        "utf-8", "surrogateescape"
    )
    query: bytes = scope.get("query_string", b"")
    scheme = str(scope.get("scheme", "http")).encode()
    url = scheme + b"://" + host + path + (b"?" + query if query else b"")
    if keyed:
        url += b"\n" + b"\n".join(sorted(keyed))
    return authorized, url


def _vary_names(headers: list[tuple[bytes, bytes]]) -> list[str] | None:
    """Return the lowered header names of ``Vary``; None for ``Vary: *``."""
    names: list[str] = []
    for key, value in headers:
        if key.lower() == b"vary":
            for token in value.split(b","):
                name = token.strip().lower().decode("latin-1")
                if name == "*":
                    return None
                if name and name not in names:
                    names.append(name)
    return names


def _refuses(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Return why a response must not be stored, judged on its headers; None if it may."""
    for key, value in headers:
        name = key.lower()
        if name == b"set-cookie":
            return "it sets a cookie"
        if name == b"cache-control":
            directives = {part.strip().split(b"=")[0].lower() for part in value.split(b",")}
            for directive in _REFUSING_DIRECTIVES:
                if directive in directives:
                    return f"it is Cache-Control: {directive.decode()}"
    return None


def _logged_in(scope: Scope) -> bool:
    user = scope.get("user")
    return bool(user is not None and getattr(user, "is_authenticated", False))


class CachePage:
    """The policy of one cached view; a decorator and a route middleware spec.

    Made by :func:`cache_page`; see there.
    """

    def __init__(
        self,
        timeout: float,
        *,
        cache: str | BaseCache | None = None,
        key_prefix: str = "",
        cache_authenticated: bool = False,
        max_size: int = 1 << 20,
        lock_timeout: float = 10.0,
    ) -> None:
        if timeout is None or timeout <= 0:
            raise ValueError(f"cache_page needs a positive number of seconds, not {timeout!r}")
        self.timeout = timeout
        self.cache_alias = cache if isinstance(cache, str) or cache is None else None
        self._cache = None if isinstance(cache, str) or cache is None else cache
        self.key_prefix = key_prefix
        self.cache_authenticated = cache_authenticated
        self.max_size = max_size
        self.lock_timeout = lock_timeout

    @property
    def cache(self) -> BaseCache:
        """The cache holding the pages (looked up in ``caches`` at each use)."""
        if self._cache is not None:
            return self._cache
        return caches[self.cache_alias or DEFAULT_CACHE_ALIAS]

    def __call__(self, func: _F) -> _F:
        """Mark ``func`` as cached: the route that serves it wraps it in the page cache."""
        existing = tuple(getattr(func, "__oakling_middleware__", ()))
        func.__oakling_middleware__ = (*existing, self)  # type: ignore[attr-defined]  # NOTE: a mark read by the route table
        return func

    def build(self, app: ASGIApp) -> ASGIApp:
        """Return the page-cache middleware around one route's handler."""
        return CachePageMiddleware(app, self)

    def __repr__(self) -> str:
        return f"cache_page({self.timeout}, cache={self.cache_alias or 'default'!r})"


def cache_page(
    timeout: float,
    *,
    cache: str | BaseCache | None = None,
    key_prefix: str = "",
    cache_authenticated: bool = False,
    max_size: int = 1 << 20,
) -> CachePage:
    """Cache a view's GET responses for ``timeout`` seconds (Django's ``cache_page``).

    Use it under the route decorator, or as a route option::

        @app.get("/tasks")
        @cache_page(60)
        def tasks() -> str: ...

        @app.get("/about", middleware=[cache_page(3600)])
        def about() -> str: ...

    While one request of the process computes a missing page, the others
    for the same key wait and get its response (on a shared cache, other
    workers wait on a lock in the store, best effort). See the module doc
    for what keys an entry and what is never stored.

    Args:
        timeout: Seconds an entry lives.
        cache: The alias in ``CACHES`` (default ``"default"``) or a cache.
        key_prefix: Added to the keys (Django's ``key_prefix``), so
            entries can be told apart, or cleared by version.
        cache_authenticated: Also serve and store for authenticated
            requests: only for pages that are the same for every user, or
            that send ``Vary`` on the header identifying the user.
        max_size: Largest body stored, in bytes (1 MiB).

    Returns:
        A :class:`CachePage`: a decorator, and a route middleware spec.

    Raises:
        ValueError: If ``timeout`` is not a positive number.
    """
    return CachePage(
        timeout,
        cache=cache,
        key_prefix=key_prefix,
        cache_authenticated=cache_authenticated,
        max_size=max_size,
    )


class _Waiter:
    """The outcome of a page computed by another request: the page and its key."""

    __slots__ = ("page", "vary", "values")

    def __init__(self, page: _Page | None, vary: list[str], values: bytes) -> None:
        self.page = page
        self.vary = vary
        self.values = values


class CachePageMiddleware:
    """Serve and store one route's pages (built by :class:`CachePage`)."""

    _warned_without_plugin = False

    def __init__(self, app: ASGIApp, policy: CachePage) -> None:
        self.app = app
        self.policy = policy
        self._prefix = f"oakling.page:{policy.key_prefix}:GET:"
        self._memo: tuple[bytes, _Index] | None = None
        # PERF: request key bytes -> the store key (its SHA-256), bounded.
        self._bases: dict[bytes, str] = {}
        self._flights: dict[tuple[int, str], asyncio.Future[_Waiter]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request: from the cache, or through the handler (and store it)."""
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            await self.app(scope, receive, send)
            return
        authorized, request_key = _request_key(scope)
        if not self.policy.cache_authenticated and (authorized or _logged_in(scope)):
            await self.app(scope, receive, send)
            return
        cache = self.policy.cache
        bases = self._bases
        base = bases.get(request_key)
        if base is None:
            if len(bases) >= 1024:
                bases.clear()  # SECURITY: bounded memory, whatever the URLs asked.
            base = bases[request_key] = self._prefix + hashlib.sha256(request_key).hexdigest()
        # PERF: an in-process cache answers without a coroutine.
        get_now = getattr(cache, "get_bytes_now", None)
        raw = get_now(base) if get_now is not None else await cache.aget_bytes(base)
        if raw is not None:
            memo = self._memo
            # PERF: the memory cache returns the very bytes it stored: decode once.
            index = memo[1] if memo is not None and memo[0] is raw else self._decode(raw)
            if index is not None and index.page is not None:
                self._memo = (raw, index)
                await self._serve(index.page, index.vary, scope, send)
                return
        index, page, vary_key = await self._lookup(cache, base, scope)
        if page is not None:
            await self._serve(page, index.vary if index else [], scope, send)
            return
        if method == "HEAD":
            await self.app(scope, receive, send)  # NOTE: no body to store for GET
            return
        flight_key = (id(asyncio.get_running_loop()), vary_key or base)
        waiting = self._flights.get(flight_key)
        if waiting is not None:
            try:
                outcome = await asyncio.wait_for(asyncio.shield(waiting), self.policy.lock_timeout)
            except Exception:  # noqa: BLE001 - the leader failed or is slow: serve ourselves
                outcome = None
            if (
                outcome is not None
                and outcome.page is not None
                and self._values(scope, outcome.vary) == outcome.values
            ):
                await self._serve(outcome.page, outcome.vary, scope, send)
                return
            await self._compute(cache, base, scope, receive, send)
            return
        future: asyncio.Future[_Waiter] = asyncio.get_running_loop().create_future()
        self._flights[flight_key] = future
        outcome = None
        try:
            outcome = await self._lead(cache, base, vary_key, scope, receive, send)
        finally:
            self._flights.pop(flight_key, None)
            future.set_result(outcome or _Waiter(None, [], b""))

    @staticmethod
    def _values(scope: Scope, vary: list[str]) -> bytes:
        return _encode([_header_values(scope, name.encode("latin-1")) for name in vary])

    def _variant_key(self, base: str, scope: Scope, vary: list[str]) -> str:
        return f"{base}:{_digest(self._values(scope, vary))}"

    @staticmethod
    def _decode(raw: bytes) -> _Index | None:
        try:
            return _decode_index(raw)
        except msgspec.DecodeError:
            return None

    async def _lookup(
        self, cache: BaseCache, base: str, scope: Scope
    ) -> tuple[_Index | None, _Page | None, str | None]:
        raw = await cache.aget_bytes(base)
        if raw is None:
            return None, None, None
        try:
            index = _decode_index(raw)
        except msgspec.DecodeError:
            return None, None, None
        if index.page is not None:
            return index, index.page, None
        variant = self._variant_key(base, scope, index.vary)
        raw = await cache.aget_bytes(variant)
        if raw is None:
            return index, None, variant
        try:
            return index, _decode_page(raw), variant
        except msgspec.DecodeError:
            return index, None, variant

    async def _serve(self, page: _Page, vary: list[str], scope: Scope, send: Send) -> None:
        headers = list(page.headers)
        if vary:
            patch_vary_headers(headers, *(name.encode("latin-1") for name in vary))
        age = int(time.time() - page.stored_at)
        headers.append((b"age", b"%d" % (age if age > 0 else 0)))
        await send({"type": "http.response.start", "status": page.status, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else page.body
        await send({"type": "http.response.body", "body": body})

    async def _lead(
        self,
        cache: BaseCache,
        base: str,
        vary_key: str | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> _Waiter | None:
        if not cache.shared:
            return await self._compute(cache, base, scope, receive, send)
        lock = f"{vary_key or base}:lock"
        if not await cache.aadd(lock, uuid.uuid4().hex, self.policy.lock_timeout):
            # NOTE: another worker computes this page: poll for it, best effort.
            deadline = time.monotonic() + self.policy.lock_timeout
            while time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                index, page, _ = await self._lookup(cache, base, scope)
                if page is not None:
                    await self._serve(page, index.vary if index else [], scope, send)
                    return _Waiter(page, index.vary if index else [], b"")
                if not await cache.ahas_key(lock):
                    # NOTE: released: the holder stored the page just before.
                    index, page, _ = await self._lookup(cache, base, scope)
                    if page is not None:
                        vary = index.vary if index else []
                        await self._serve(page, vary, scope, send)
                        return _Waiter(page, vary, self._values(scope, vary))
                    break
            return await self._compute(cache, base, scope, receive, send)
        try:
            # NOTE: our miss may predate a page another worker stored before
            # releasing the lock: look again, holding it.
            index, page, _ = await self._lookup(cache, base, scope)
            if page is not None:
                vary = index.vary if index else []
                await self._serve(page, vary, scope, send)
                return _Waiter(page, vary, self._values(scope, vary))
            return await self._compute(cache, base, scope, receive, send)
        finally:
            await cache.adelete(lock)

    async def _compute(
        self, cache: BaseCache, base: str, scope: Scope, receive: Receive, send: Send
    ) -> _Waiter | None:
        """Run the handler, sending its response on, and store it if it may be."""
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        complete = False
        keep = True
        final: dict[str, Any] = {}
        scope[FINAL_HEADERS] = final

        async def capture(message: Message) -> None:
            nonlocal start, size, complete, keep
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and keep:
                body = message.get("body", b"")
                size += len(body)
                if size > self.policy.max_size:
                    keep = False
                    chunks.clear()
                else:
                    chunks.append(body)
                if not message.get("more_body", False):
                    complete = True
            await send(message)

        await self.app(scope, receive, capture)
        if start is None or not keep or not complete or start["status"] != 200:
            return None
        inner: list[tuple[bytes, bytes]] = [
            (bytes(key).lower(), bytes(value)) for key, value in start.get("headers", ())
        ]
        seen = final.get("headers")
        if seen is None:
            if "session" in scope or "user" in scope:
                # NOTE: the sessions/auth middleware run outside this one and
                # may add a cookie or Vary: Cookie that we cannot see.
                self._warn_without_plugin()
                return None
            seen = inner
        judged = [(bytes(key).lower(), bytes(value)) for key, value in seen]
        if _refuses(judged) is not None:
            return None
        vary = _vary_names(judged)
        if vary is None:
            return None
        page = _Page(200, inner, b"".join(chunks), time.time())
        timeout = self.policy.timeout
        if vary:
            await cache.aset_bytes(base, _encode(_Index(vary)), timeout)
            variant = self._variant_key(base, scope, vary)
            await cache.aset_bytes(variant, _encode(page), timeout)
        else:
            await cache.aset_bytes(base, _encode(_Index([], page)), timeout)
        return _Waiter(page, vary, self._values(scope, vary))

    def _warn_without_plugin(self) -> None:
        if not CachePageMiddleware._warned_without_plugin:
            CachePageMiddleware._warned_without_plugin = True
            logger.warning(
                "cache_page did not store a page of a request with a session or a user: "
                "install the Cache plugin (App(plugins=[..., Cache()])) so that the page "
                "cache sees the cookies and Vary the sessions and auth middleware add"
            )
