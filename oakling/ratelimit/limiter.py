"""Rate limits for routes: the ``Limiter`` plugin, ``@ratelimit`` and friends.

Limits come from, nearest first (the first that has any wins, unless a
decorator says ``override_defaults=False``, which adds to the others):

1. the route: ``@ratelimit("10/minute")`` on the handler, or the route
   option ``@app.get("/x", opt={"ratelimit": "10/minute"})``;
2. its routers, innermost first: ``ratelimit("600/minute")(router)`` or
   ``limiter.limit_router(router, "600/minute")``;
3. the app: ``Limiter(default_limits=["100/minute"])``
   (``RATELIMIT_DEFAULT``), counted per route like Flask-Limiter's.

Which routes are limited, and by what, is decided once at startup
(:meth:`oakling.Router.before_request_factory`): a route without limits keeps
the core's fast path and costs nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from limits import RateLimitItem, parse_many

from oakling.exceptions import HTTPException, ImproperlyConfigured, ServiceUnavailable
from oakling.params import Depends
from oakling.requests import HTTPConnection, Request

from .headers import policy_item, policy_name, ratelimit_item
from .keys import ip_key
from .storage import STRATEGIES, Hit, RateLimitStorage, StorageUnavailable

if TYPE_CHECKING:
    from oakling.applications import App
    from oakling.routing import Route, Router

__all__ = [
    "Limit",
    "Limiter",
    "RateLimit",
    "RateLimitExceeded",
    "has_scope",
    "is_staff",
    "parse_limits",
    "ratelimit",
    "ratelimit_exempt",
]

KeyFunc = Callable[[HTTPConnection], "str | None"]
Predicate = Callable[[HTTPConnection], bool]
_T = TypeVar("_T")

#: The attribute holding a handler's or router's limits.
_MARK = "__oakling_ratelimits__"
#: The attribute marking a handler exempt from router and app limits.
_EXEMPT = "__oakling_ratelimit_exempt__"
#: Key prefix of every route limit in the storage.
NAMESPACE = "oakling-rl"
#: ``request.scope`` key of the limits checked, for the response headers.
_SCOPE_KEY = "oakling.ratelimit"


def parse_limits(text: str | RateLimitItem | Iterable[str | RateLimitItem]) -> list[RateLimitItem]:
    """Parse ``limits`` strings: ``"10/minute"``, ``"5 per second; 100 per hour"``.

    Returns:
        The parsed limits, in order.

    Raises:
        ValueError: For text ``limits`` cannot parse.
    """
    if isinstance(text, RateLimitItem):
        return [text]
    if isinstance(text, str):
        return list(parse_many(text))
    items: list[RateLimitItem] = []
    for part in text:
        items.extend(parse_limits(part))
    return items


@dataclass(frozen=True)
class Limit:
    """One rate limit: how many requests, counted by what, for which requests.

    Attributes:
        item: The ``limits`` rate (amount per window).
        key: The key function: request -> bucket string, None to skip.
        scope: Bucket namespace shared by every route using it; None means
            one per route (decorator, route option, app default) or one per
            router (a router's limits).
        methods: Only requests of these methods count (None: all).
        exempt_when: A predicate; requests it is true for are not counted.
        cost: How much one request takes from the quota.
        fail_open: When the storage is down: True lets the request
            through, False answers 503; None means the Limiter's policy.
        strategy: A ``limits`` strategy name; None means the Limiter's.
        name: The policy name sent in ``RateLimit`` headers.
        override_defaults: Whether this route limit replaces the router's
            and app's limits (Flask-Limiter's ``override_defaults``).
    """

    item: RateLimitItem
    key: KeyFunc = ip_key
    scope: str | None = None
    methods: frozenset[str] | None = None
    exempt_when: Predicate | None = None
    cost: int = 1
    fail_open: bool | None = None
    strategy: str | None = None
    name: str = ""
    override_defaults: bool = True


def _limits(
    value: Any,
    *,
    key: KeyFunc = ip_key,
    scope: str | None = None,
    methods: Iterable[str] | None = None,
    exempt_when: Predicate | None = None,
    cost: int = 1,
    fail_open: bool | None = None,
    strategy: str | None = None,
    name: str | None = None,
    override_defaults: bool = True,
) -> list[Limit]:
    if isinstance(value, Limit):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(part, Limit) for part in value):
        return list(value)
    try:
        items = parse_limits(value)
    except ValueError as ex:
        raise ImproperlyConfigured(
            f"bad rate limit {value!r}: {ex} (write it like '10/minute' or '100 per hour')"
        ) from None
    if strategy is not None and strategy not in STRATEGIES:
        raise ImproperlyConfigured(
            f"unknown rate-limit strategy {strategy!r}; use one of {', '.join(STRATEGIES)}"
        )
    if cost < 1:
        raise ImproperlyConfigured(f"rate-limit cost must be >= 1, not {cost}")
    method_set = frozenset(method.upper() for method in methods) if methods else None
    return [
        Limit(
            item,
            key=key,
            scope=scope,
            methods=method_set,
            exempt_when=exempt_when,
            cost=cost,
            fail_open=fail_open,
            strategy=strategy,
            name=name or policy_name(item),
            override_defaults=override_defaults,
        )
        for item in items
    ]


def ratelimit(
    limit: str | RateLimitItem | Sequence[str | RateLimitItem],
    *,
    key: KeyFunc = ip_key,
    scope: str | None = None,
    methods: Iterable[str] | None = None,
    exempt_when: Predicate | None = None,
    cost: int = 1,
    fail_open: bool | None = None,
    strategy: str | None = None,
    name: str | None = None,
    override_defaults: bool = True,
) -> Callable[[_T], _T]:
    """Limit a handler, a ``View`` or every route of a ``Router``.

    ``@ratelimit("100/minute", key=token_key)`` is Flask-Limiter's
    ``@limiter.limit`` and django-ratelimit's ``@ratelimit``; stack several,
    or give ``"5/second;100/hour"``. Beyond the limit the route answers 429
    with ``Retry-After`` and the ``RateLimit``/``RateLimit-Policy`` fields.
    Counted only when a :class:`Limiter` is installed.

    Args:
        limit: One or several ``limits`` strings or items.
        key: Who is counted: :func:`~oakling.ratelimit.ip_key` (default),
            ``user_key``, ``token_key``, ``user_or_ip`` or your own
            ``key(request) -> str | None`` (None: not counted).
        scope: Share the bucket with every limit of the same scope name.
        methods: Count only these methods (``["POST"]``).
        exempt_when: ``predicate(request)``; True means not counted
            (:func:`is_staff`, :func:`has_scope`).
        cost: Quota one request takes.
        fail_open: Storage down: True serves, False answers 503; None is the
            Limiter's policy (``RATELIMIT_FAIL_OPEN``, open by default).
        strategy: ``"moving-window"``, ``"fixed-window"`` or
            ``"sliding-window-counter"``; None is the Limiter's.
        name: Policy name in the headers; default ``"100-per-minute"``.
        override_defaults: False adds the router's and app's limits to this
            route's instead of replacing them.

    Returns:
        A decorator returning its argument, marked.

    Raises:
        ImproperlyConfigured: For a limit ``limits`` cannot parse, an
            unknown strategy or a cost below 1.
    """
    made = _limits(
        limit,
        key=key,
        scope=scope,
        methods=methods,
        exempt_when=exempt_when,
        cost=cost,
        fail_open=fail_open,
        strategy=strategy,
        name=name,
        override_defaults=override_defaults,
    )

    def decorator(target: _T) -> _T:
        existing = target.__dict__.get(_MARK, ()) if hasattr(target, "__dict__") else ()
        # NOTE: decorators apply bottom-up; keep the order they are written in.
        setattr(target, _MARK, [*made, *existing])
        return target

    return decorator


def ratelimit_exempt(target: _T) -> _T:
    """Exempt a handler or ``View`` from its routers' and the app's limits.

    Flask-Limiter's ``@limiter.exempt``. Limits given on the handler itself
    still apply.
    """
    setattr(target, _EXEMPT, True)
    return target


def is_staff(conn: HTTPConnection) -> bool:
    """An ``exempt_when`` predicate: the logged-in user is staff."""
    user = conn.scope.get("user")
    return bool(user is not None and getattr(user, "is_staff", False))


def has_scope(*scopes: str) -> Predicate:
    """Return an ``exempt_when`` predicate: the API token holds every one of ``scopes``."""

    def holds(conn: HTTPConnection) -> bool:
        auth = conn.scope.get("auth")
        return bool(
            auth is not None
            and getattr(auth, "method", None) == "token"
            and all(scope in auth.scopes for scope in scopes)
        )

    holds.__name__ = f"has_scope({', '.join(scopes)})"
    return holds


class RateLimitExceeded(HTTPException):
    """A request over a limit: 429 with ``Retry-After`` and ``RateLimit`` fields.

    Answered through the app's negotiated error pages (RFC 6585 section 4):
    ``{"detail": "Rate limit exceeded: 10 per 1 minute"}`` for an API
    client, a short page for a browser. Register a handler for 429 (or this
    class) to answer otherwise.

    Attributes:
        limit: The limit that was reached.
        retry_after: Seconds until a request fits again (>= 1).
    """

    def __init__(self, limit: Limit, retry_after: int, headers: dict[str, str]) -> None:
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(429, f"Rate limit exceeded: {limit.item}", headers)


def _own(target: Any) -> list[Limit]:
    return list(getattr(target, _MARK, ()) or ())


def _exempt(target: Any) -> bool:
    return bool(getattr(target, _EXEMPT, False))


class _Checker:
    """The prepared check of one route: its limits, namespaced, with their policies."""

    __slots__ = ("limiter", "limits", "policy", "prepared")

    def __init__(self, limiter: Limiter, limits: list[tuple[Limit, str]]) -> None:
        self.limiter = limiter
        self.limits = limits
        # PERF: the RateLimit-Policy field is made once per route.
        self.policy = ", ".join(policy_item(limit.name, limit.item) for limit, _ in limits)
        self.prepared = limiter.prepare(limits)

    async def __call__(self, request: Request) -> None:
        limiter = self.limiter
        if limiter.headers_enabled or len(self.limits) != 1 or not limiter.storage.is_memory:
            await limiter.check(request, self.limits, self.policy, self.prepared)
            return
        # PERF: the common case, one limit in memory, counted in one coroutine.
        limit, scope = self.limits[0]
        if limit.exempt_when is not None and limit.exempt_when(request):
            return
        key = limit.key(request)
        if key is None:
            return
        if not self.prepared[0](key, limit.cost):
            await limiter._refuse(limit, scope, key, self.policy)


class Limiter:
    """Rate limiting for an app: the ``oakling.ratelimit`` plugin.

    ``App(plugins=[Limiter(default_limits=["100/minute"])])``; it is then
    ``app.extensions["ratelimit"]``. Flask-Limiter's ``Limiter`` and
    slowapi's. Arguments left None are read from the setting named in
    brackets (``OAKLING_<NAME>``).

    Args:
        default_limits: [RATELIMIT_DEFAULT] limits of every route without
            its own (``"100/minute;1000/hour"``), counted per route; none
            by default.
        storage_uri: [RATELIMIT_STORAGE_URL, else REDIS_URL] ``memory://``
            (the default: one process) or ``redis://host:6379/0`` (every
            worker shares the counters).
        strategy: [RATELIMIT_STRATEGY] ``"moving-window"`` (the default:
            exact, no burst at a window's edge), ``"fixed-window"`` (one
            counter per window, cheapest) or ``"sliding-window-counter"``.
        key_func: Key of limits given without one; :func:`ip_key`.
        fail_open: [RATELIMIT_FAIL_OPEN] when the storage is down, serve
            requests unlimited (True, the default) or answer 503 with
            ``Retry-After`` (False). A limit's own ``fail_open`` wins.
        headers_enabled: [RATELIMIT_HEADERS_ENABLED] send ``RateLimit`` and
            ``RateLimit-Policy`` on every limited response, not only on 429s
            (off by default: it costs a storage read per request).
        enabled: [RATELIMIT_ENABLED] False counts nothing (tests, local
            development).
        storage: A :class:`RateLimitStorage` to share (the auth battery's
            throttles use the Limiter's when there is one).
        storage_options: Keyword arguments of the :class:`RateLimitStorage`
            made from ``storage_uri`` (Flask-Limiter's ``storage_options``):
            ``socket_timeout`` (seconds, 1), ``retry_interval`` (seconds
            Redis is skipped after a failure, 0.5).
        in_memory_fallback: [RATELIMIT_IN_MEMORY_FALLBACK_ENABLED] while
            Redis is unavailable, count in each worker's memory instead of
            failing open or closed (off by default; see
            :class:`RateLimitStorage`). Applies to the auth throttles too,
            which share this storage.

    Raises:
        ImproperlyConfigured: From ``install``, for a bad setting.
    """

    name = "ratelimit"

    def __init__(
        self,
        *,
        default_limits: str | Sequence[str | RateLimitItem] | None = None,
        storage_uri: str | None = None,
        strategy: str | None = None,
        key_func: KeyFunc = ip_key,
        fail_open: bool | None = None,
        headers_enabled: bool | None = None,
        enabled: bool | None = None,
        storage: RateLimitStorage | None = None,
        storage_options: Mapping[str, Any] | None = None,
        in_memory_fallback: bool | None = None,
    ) -> None:
        self._default_arg = default_limits
        self._storage_options = dict(storage_options or {})
        self._fallback_arg = in_memory_fallback
        self._storage_arg = storage_uri
        self._strategy_arg = strategy
        self.key_func = key_func
        self._fail_open_arg = fail_open
        self._headers_arg = headers_enabled
        self._enabled_arg = enabled
        self.storage = storage if storage is not None else RateLimitStorage(None)
        self._storage_given = storage is not None
        self.default_limits: list[Limit] = []
        self.router_limits: dict[int, list[Limit]] = {}
        self.strategy = "moving-window"
        self.fail_open = True
        self.headers_enabled = False
        self.enabled = True

    # -- plugin ---------------------------------------------------------------

    def install(self, app: App) -> None:
        """Read the settings and hook the per-route checks into ``app``.

        Raises:
            ImproperlyConfigured: For a bad setting, or a second Limiter.
        """
        existing = app.extensions.get(self.name)
        if existing is not None and existing is not self:
            raise ImproperlyConfigured("the app already has a Limiter installed")
        settings = app.settings

        def setting(name: str, given: Any, default: Any, cast: type = str) -> Any:
            return given if given is not None else settings.get(name, default, cast=cast)

        self.enabled = bool(setting("RATELIMIT_ENABLED", self._enabled_arg, True, bool))
        self.fail_open = bool(setting("RATELIMIT_FAIL_OPEN", self._fail_open_arg, True, bool))
        self.headers_enabled = bool(
            setting("RATELIMIT_HEADERS_ENABLED", self._headers_arg, False, bool)
        )
        self.strategy = str(setting("RATELIMIT_STRATEGY", self._strategy_arg, "moving-window"))
        if not self._storage_given:
            url = setting("RATELIMIT_STORAGE_URL", self._storage_arg, None) or settings.get(
                "REDIS_URL"
            )
            fallback = bool(
                setting("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", self._fallback_arg, False, bool)
            )
            try:
                self.storage = RateLimitStorage(
                    url, **{"in_memory_fallback": fallback, **self._storage_options}
                )
            except TypeError as ex:
                raise ImproperlyConfigured(f"bad Limiter storage_options: {ex}") from None
            except Exception as ex:  # noqa: BLE001 - limits raises several kinds
                # SECURITY: limits quotes the URL, which may hold a password.
                reason = str(ex).replace(str(url), f"{str(url).partition('://')[0]}://...")
                raise ImproperlyConfigured(f"bad setting RATELIMIT_STORAGE_URL: {reason}") from None
        try:
            self.storage.check_strategy(self.strategy)
        except ValueError as ex:
            raise ImproperlyConfigured(f"bad setting RATELIMIT_STRATEGY: {ex}") from None
        defaults = setting("RATELIMIT_DEFAULT", self._default_arg, "")
        self.default_limits = _limits(defaults, key=self.key_func) if defaults else []
        app.extensions[self.name] = self
        app.before_request_factory(self.hook_for)
        if self.headers_enabled:
            app.after_request(self.add_headers)
        app.on_shutdown(self.storage.close)

    def limit_router(
        self,
        router: Router,
        limit: str | RateLimitItem | Sequence[str | RateLimitItem],
        *,
        key: KeyFunc | None = None,
        **options: Any,
    ) -> None:
        """Limit every route of ``router`` in this app (one bucket for the router).

        Like ``ratelimit(limit)(router)``, but kept by this Limiter, so a
        router shared by several apps (a module-level one) gets each app's
        own limits: ``limiter.limit_router(api, settings.API_RATE_LIMIT)``.
        Takes :func:`ratelimit`'s options; ``key`` defaults to the
        Limiter's ``key_func``. Call it before the app serves.

        Raises:
            ImproperlyConfigured: For a bad limit.
        """
        self.router_limits[id(router)] = _limits(limit, key=key or self.key_func, **options)

    # -- startup: which limits a route has ----------------------------------

    def limits_for(self, route: Route, method: str, routers: Sequence[Router]) -> list[Limit]:
        """Return the limits of ``route`` for ``method``, nearest first (see the module doc).

        Raises:
            ImproperlyConfigured: For a bad ``opt={"ratelimit": ...}``.
        """
        handler = route.handler_for(method)
        own = _own(handler)
        if route.view_class is not None:
            own = [*_own(route.view_class), *own]
        option = route.opt.get("ratelimit")
        if option is not None:
            own.extend(_limits(option, key=self.key_func))
        exempt = _exempt(handler) or (route.view_class is not None and _exempt(route.view_class))
        found = list(own)
        if exempt or (own and all(limit.override_defaults for limit in own)):
            return found
        for router in reversed(routers):
            mine = self.router_limits.get(id(router)) or router.__dict__.get(_MARK)
            if mine:
                return found + [_router_scoped(limit, router) for limit in mine]
        return found + self.default_limits

    def hook_for(
        self, route: Route, method: str, routers: Sequence[Router]
    ) -> Callable[[Request], Any] | None:
        """Return the before-request check of a route and method, None if unlimited.

        Called by the core once per route and method at startup
        (:meth:`oakling.Router.before_request_factory`).
        """
        if not self.enabled:
            return None
        limits = [
            limit
            for limit in self.limits_for(route, method, routers)
            if limit.methods is None
            or method in limit.methods
            or (method == "HEAD" and "GET" in limit.methods)
        ]
        if not limits:
            return None
        handler = route.handler_for(method)
        route_id = (
            f"{getattr(handler, '__module__', '')}.{getattr(handler, '__qualname__', route.path)}"
        )
        return _Checker(self, [(limit, limit.scope or route_id) for limit in limits])

    def prepare(self, limits: Sequence[tuple[Limit, str]]) -> list[Hit]:
        """Return the storage's prepared hit of each ``(limit, scope)``, in order."""
        return [
            self.storage.prepare(limit.strategy or self.strategy, limit.item, NAMESPACE, scope)
            for limit, scope in limits
        ]

    # -- per request ----------------------------------------------------------

    async def check(
        self,
        request: HTTPConnection,
        limits: Sequence[tuple[Limit, str]],
        policy: str = "",
        prepared: Sequence[Hit] | None = None,
    ) -> None:
        """Count ``request`` against ``limits`` (``(limit, scope)`` pairs).

        Args:
            request: The request (its key functions read it).
            limits: ``(limit, scope)`` pairs, in order; the first one that
                is full refuses the request (those before it were counted).
            policy: The ``RateLimit-Policy`` value of these limits.
            prepared: :meth:`prepare`'s result for ``limits`` (made here
                when None).

        Raises:
            RateLimitExceeded: When a limit is reached (429).
            ServiceUnavailable: When the storage is down and a limit fails
                closed (503 with ``Retry-After``).
        """
        if prepared is None:
            prepared = self.prepare(limits)
        counted: list[tuple[Limit, str, str]] | None = [] if self.headers_enabled else None
        for (limit, scope), hit in zip(limits, prepared, strict=True):
            if limit.exempt_when is not None and limit.exempt_when(request):
                continue
            key = limit.key(request)
            if key is None:
                continue
            allowed = hit(key, limit.cost)
            if not isinstance(allowed, bool):
                # NOTE: Redis: the awaitable raises StorageUnavailable.
                try:
                    allowed = await allowed
                except StorageUnavailable:
                    if limit.fail_open if limit.fail_open is not None else self.fail_open:
                        continue
                    # SECURITY: fail closed: no counter, no request.
                    raise ServiceUnavailable("Redis", retry_after=5) from None
            if not allowed:
                await self._refuse(limit, scope, key, policy)
            if counted is not None:
                counted.append((limit, scope, key))
        if counted:
            request.scope[_SCOPE_KEY] = (counted, policy)

    async def _refuse(self, limit: Limit, scope: str, key: str, policy: str) -> None:
        """Raise the 429 of a full bucket, with when it frees a place.

        Raises:
            RateLimitExceeded: Always.
        """
        strategy = limit.strategy or self.strategy
        try:
            stats = await self.storage.call(
                strategy, "get_window_stats", limit.item, NAMESPACE, scope, key
            )
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        except StorageUnavailable:
            retry_after = limit.item.get_expiry()
        raise RateLimitExceeded(
            limit,
            retry_after,
            {
                "Retry-After": str(retry_after),
                "RateLimit-Policy": policy or policy_item(limit.name, limit.item),
                "RateLimit": ratelimit_item(limit.name, 0, retry_after),
            },
        )

    async def add_headers(self, request: Request, response: Any) -> None:
        """Add ``RateLimit``/``RateLimit-Policy`` to a limited response (headers_enabled)."""
        found = request.scope.get(_SCOPE_KEY)
        if found is None or "ratelimit" in response.headers:
            return
        counted, policy = found
        members = []
        for limit, scope, key in counted:
            try:
                stats = await self.storage.call(
                    limit.strategy or self.strategy,
                    "get_window_stats",
                    limit.item,
                    NAMESPACE,
                    scope,
                    key,
                )
            except StorageUnavailable:
                return
            reset = max(0, math.ceil(stats.reset_time - time.time()))
            members.append(ratelimit_item(limit.name, stats.remaining, reset))
        response.headers["RateLimit-Policy"] = policy
        response.headers["RateLimit"] = ", ".join(members)

    async def reset(self, limit: Limit, key: str, scope: str) -> None:
        """Clear one bucket (for an admin or a test)."""
        await self.storage.call(
            limit.strategy or self.strategy, "clear", limit.item, NAMESPACE, scope, key
        )


def _router_scoped(limit: Limit, router: Router) -> Limit:
    if limit.scope is not None:
        return limit
    # NOTE: a router's limits are one bucket for all its routes.
    return Limit(
        limit.item,
        key=limit.key,
        scope=f"router:{router.name or id(router)}",
        methods=limit.methods,
        exempt_when=limit.exempt_when,
        cost=limit.cost,
        fail_open=limit.fail_open,
        strategy=limit.strategy,
        name=limit.name,
        override_defaults=limit.override_defaults,
    )


class RateLimit(Depends):
    """A rate limit as a dependency: ``_: Annotated[None, RateLimit("5/minute")]``.

    FastAPI users' ``Depends(RateLimiter(times=5, seconds=60))`` from
    fastapi-limiter; it is a :class:`~oakling.Depends` itself, so it goes
    where ``Depends(...)`` goes (an ``Annotated`` extra or a parameter's
    default). Counts when the dependency is resolved, per route
    (the handler's name) unless ``scope`` is given; needs an installed
    :class:`Limiter` for its storage and policies.

    Args:
        limit: One or several ``limits`` strings.
        key: Who is counted (:func:`ip_key` by default).
        scope, exempt_when, cost, fail_open, strategy, name: As for
            :func:`ratelimit`.

    Raises:
        ImproperlyConfigured: For a limit ``limits`` cannot parse.
    """

    def __init__(
        self,
        limit: str | Sequence[str],
        *,
        key: KeyFunc = ip_key,
        scope: str | None = None,
        exempt_when: Predicate | None = None,
        cost: int = 1,
        fail_open: bool | None = None,
        strategy: str | None = None,
        name: str | None = None,
    ) -> None:
        self.limits = _limits(
            limit,
            key=key,
            scope=scope,
            exempt_when=exempt_when,
            cost=cost,
            fail_open=fail_open,
            strategy=strategy,
            name=name,
        )
        self._policy = ", ".join(policy_item(item.name, item.item) for item in self.limits)
        self._prepared: dict[tuple[int, Any], tuple[list[tuple[Limit, str]], list[Hit]]] = {}
        super().__init__(self.count)

    def __repr__(self) -> str:
        return f"RateLimit({', '.join(str(limit.item) for limit in self.limits)!r})"

    async def count(self, request: Request) -> None:
        """Count the request (the dependency's value is None).

        Raises:
            RateLimitExceeded: Beyond the limit (429).
            ServiceUnavailable: Storage down and failing closed (503).
            RuntimeError: When no :class:`Limiter` is installed.
        """
        limiter = request.app.extensions.get(Limiter.name)
        if limiter is None:
            raise RuntimeError(
                "RateLimit needs the ratelimit battery: App(plugins=[Limiter()]) "
                "with `from oakling.ratelimit import Limiter`"
            )
        if not limiter.enabled:
            return
        endpoint = request.scope.get("endpoint")
        found = self._prepared.get((id(limiter), endpoint))
        if found is None:
            route_id = (
                f"{getattr(endpoint, '__module__', '')}.{getattr(endpoint, '__qualname__', '')}"
            )
            pairs = [(limit, limit.scope or route_id) for limit in self.limits]
            # PERF: keys and storage calls are prepared once per route.
            found = self._prepared[id(limiter), endpoint] = (pairs, limiter.prepare(pairs))
        await limiter.check(request, found[0], self._policy, found[1])
