"""Flask's request globals, opt in: ``g``, ``request``, ``session``, ``current_app``.

Handlers keep receiving the request explicitly; these names are a
convenience for code written Flask's way (a helper three calls below the
handler that needs the database handle kept in ``g``). They are off unless
the app installs :class:`RequestGlobals`, so an app that never uses them
pays nothing::

    from oakling import App
    from oakling.globals import RequestGlobals, g, request

    app = App(plugins=[RequestGlobals()])


    @app.before_request
    def open_db():
        g.db = connect()


    @app.get("/")
    def index():
        return {"path": request.path, "db": g.db.name}

Each request gets a fresh ``g``. The values live in a :mod:`contextvars`
variable set by the app's outermost layer, so they are seen by hooks, dependencies,
handlers, templates and whatever they call, async or sync, and in the
worker thread of a sync handler (:func:`oakling.concurrency.run_in_threadpool`
copies the context). Outside a request, reading any of them raises
:class:`RuntimeError` ("Working outside of request context", Flask's words).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

from oakling.requests import HTTPConnection, Request
from oakling.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from oakling.applications import App

__all__ = [
    "RequestContextMiddleware",
    "RequestGlobals",
    "current_app",
    "g",
    "has_request_context",
    "install_request_context",
    "request",
    "session",
]

_OUTSIDE = (
    "Working outside of request context: {name} exists only while a request is "
    "handled (in its hooks, dependencies, handler and templates, and code they call). "
    "Install the plugin, App(plugins=[RequestGlobals()]) with "
    "`from oakling.globals import RequestGlobals`, and pass what you need explicitly "
    "to code run elsewhere (tasks, startup, the CLI)."
)


class _Namespace:
    """The ``g`` of one request: set any attribute (Flask's ``_AppCtxGlobals``)."""

    def get(self, name: str, default: Any = None) -> Any:
        """Return attribute ``name``, or ``default`` when it is not set."""
        return self.__dict__.get(name, default)

    def pop(self, name: str, *default: Any) -> Any:
        """Remove attribute ``name`` and return it (or ``default``).

        Raises:
            KeyError: If it is not set and no default is given.
        """
        return self.__dict__.pop(name, *default)

    def setdefault(self, name: str, default: Any = None) -> Any:
        """Return attribute ``name``, setting it to ``default`` first if unset."""
        return self.__dict__.setdefault(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self.__dict__

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dict__)

    def __repr__(self) -> str:
        return f"<g {self.__dict__!r}>"


class _RequestContext:
    """What the globals resolve to during one request."""

    __slots__ = ("g", "receive", "request", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.g = _Namespace()
        self.request: HTTPConnection | None = None


# NOTE: the app's outermost layer sets ``(scope, receive)`` (cheap: a tuple);
# the first read makes the _RequestContext and keeps it in the scope, which
# every piece of the request (and its worker thread) shares.
_context: ContextVar[_RequestContext | tuple[Scope, Receive]] = ContextVar(
    "oakling.request_context"
)
_SCOPE_KEY = "oakling.request_context"


def _resolved(ctx: _RequestContext | tuple[Scope, Receive]) -> _RequestContext:
    if type(ctx) is not tuple:
        return ctx  # type: ignore[return-value]
    scope, receive = ctx
    found: _RequestContext | None = scope.get(_SCOPE_KEY)
    if found is None:
        found = scope[_SCOPE_KEY] = _RequestContext(scope, receive)
    return found


def has_request_context() -> bool:
    """Return whether a request is being handled here (Flask's function)."""
    return _context.get(None) is not None


def _current(name: str) -> _RequestContext:
    ctx = _context.get(None)
    if ctx is None:
        raise RuntimeError(_OUTSIDE.format(name=name))
    return _resolved(ctx)


def _get_g() -> _Namespace:
    return _current("g").g


_STACK_CODES: dict[Any, str] = {}


def _stack_codes() -> dict[Any, str]:
    if not _STACK_CODES:
        from oakling._dispatch import RouteHandler
        from oakling._threaded import serve, serve_sync_fast

        # NOTE: the core's frames that hold the request being handled, and
        # the local naming it ("scope": a fast-path route, no Request yet).
        _STACK_CODES[RouteHandler.__call__.__code__] = "scope"
        _STACK_CODES[serve.__code__] = "request"
        _STACK_CODES[serve_sync_fast.__code__] = "scope"
    return _STACK_CODES


def request_on_stack() -> HTTPConnection | None:
    """Return the request whose route is running below this call, or None.

    For batteries whose request-less form (``flash(message)``) must cost
    nothing to requests that never call it: instead of a ``ContextVar`` set
    per request, the call stack is walked (only when called) up to the
    core's route frame, on the loop or in a sync request's thread. Code in a
    task of its own (``asyncio.create_task``) or in middleware has no such
    frame: it gets None, and should pass the request or install
    :class:`RequestGlobals`, whose context is copied into new tasks.
    """
    codes = _stack_codes()
    frame = sys._getframe(1)
    while frame is not None:
        name = codes.get(frame.f_code)
        if name is not None:
            local = frame.f_locals
            request = local.get("request")
            if isinstance(request, HTTPConnection):
                return request
            scope = local.get(name)
            if isinstance(scope, dict):
                found: HTTPConnection | None = scope.get(_STACK_KEY)
                if found is None:
                    app = scope["app"]
                    receive = local.get("receive") or _no_body
                    found = scope[_STACK_KEY] = Request(scope, receive, app.limits)
                return found
        frame = frame.f_back  # type: ignore[assignment]
    return None


_STACK_KEY = "oakling.stack_request"


async def _no_body() -> dict[str, Any]:
    # NOTE: a sync fast-path handler takes no body; its thread's frame has no receive.
    return {"type": "http.request", "body": b"", "more_body": False}


def _get_request() -> HTTPConnection:
    ctx = _current("request")
    if ctx.request is None:
        # NOTE: before the route's hooks ran (in middleware, say); the
        # RequestGlobals hook replaces it with the handler's own object.
        app = ctx.scope["app"]
        ctx.request = Request(ctx.scope, ctx.receive, app.limits)
    return ctx.request


def _get_app() -> App:
    return cast("App", _current("current_app").scope["app"])


def _get_session() -> Any:
    return _get_request().session


class _Proxy:
    """Forwards to the object ``resolve()`` returns for the current request."""

    __slots__ = ("_resolve",)

    def __init__(self, resolve: Callable[[], Any]) -> None:
        object.__setattr__(self, "_resolve", resolve)

    def _target(self) -> Any:
        return self._resolve()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and _context.get(None) is None:
            # NOTE: introspection (copy, pickle, pytest, doctest) probes dunders
            # with hasattr(): outside a request they are simply absent.
            raise AttributeError(name)
        return getattr(self._resolve(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._resolve(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._resolve(), name)

    def __getitem__(self, key: Any) -> Any:
        return self._resolve()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._resolve()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._resolve()[key]

    def __contains__(self, item: object) -> bool:
        return item in self._resolve()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._resolve())

    def __bool__(self) -> bool:
        # NOTE: Flask's proxies are falsy outside a request, so `if g:` is safe.
        if _context.get(None) is None:
            return False
        return bool(self._resolve())

    def __eq__(self, other: object) -> bool:
        return bool(self._resolve() == other)

    def __hash__(self) -> int:
        return hash(self._resolve())

    def __repr__(self) -> str:
        if _context.get(None) is None:
            return "<unbound oakling.globals proxy: no request is being handled>"
        return repr(self._resolve())


#: The current request's namespace (Flask's ``g``): fresh for each request.
g: _Namespace = cast(_Namespace, _Proxy(_get_g))
#: The current request: the same object a handler's ``request`` parameter gets.
request: Request = cast(Request, _Proxy(_get_request))
#: The current request's session (needs the sessions battery).
session: Any = _Proxy(_get_session)
#: The app serving the current request (Flask's ``current_app``).
current_app: App = cast("App", _Proxy(_get_app))


class RequestContextMiddleware:
    """Set the request context that :mod:`oakling.globals` reads.

    Pure ASGI middleware: HTTP and WebSocket connections each get a fresh
    context for as long as the app below handles them. The app sets the
    same context itself for :class:`RequestGlobals` and for batteries
    needing the current request (``oakling.messages`` for ``flash()``,
    through :func:`install_request_context`), at less cost; this class is
    for an ASGI app of your own that reads the globals.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one connection inside its own request context."""
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        token = _context.set(_RequestContext(scope, receive))
        try:
            await self.app(scope, receive, send)
        finally:
            _context.reset(token)


_MIDDLEWARE_KEY = "oakling.request_context"


def install_request_context(app: App) -> None:
    """Have ``app`` set the request context that :mod:`oakling.globals` reads.

    For batteries (``oakling.messages`` for ``flash()``) and
    :class:`RequestGlobals`. No middleware is added: the app's outermost
    layer sets the context, which costs a tuple and a ``ContextVar`` set per
    request; what the globals need is made on first use.
    """
    if app.extensions.get(_MIDDLEWARE_KEY):
        return
    app.extensions[_MIDDLEWARE_KEY] = True
    app._request_context = True


def _capture(conn: HTTPConnection) -> None:
    ctx = _context.get(None)
    if ctx is not None:
        _resolved(ctx).request = conn


class RequestGlobals:
    """Turn on ``g``, ``request``, ``session`` and ``current_app`` for an app.

    Installed with ``App(plugins=[RequestGlobals()])``, it adds
    :class:`RequestContextMiddleware`, a first ``before_request`` hook
    (and ``before_websocket`` one) so that ``request`` is the very object
    the handler gets, and the ``g`` template global (``{{ g.user }}``).

    # PERF: the hook means no route of this app takes the no-hook fast
    # path; apps that do not install the plugin are unaffected.
    """

    name = "globals"

    def install(self, app: App) -> None:
        """Register the middleware, the hooks and the template global."""
        install_request_context(app)
        app.before_request(_capture)
        app.before_websocket(_capture)
        app.add_template_global("g", g)
        app.extensions[self.name] = self
