"""Routes, routers (blueprints), path compilation, matching and ``url_for``.

Matching rules (written down in docs/routing.md):
- a path without parameters is one dict lookup; it wins over parameterised
  paths, which are tried in registration order among those sharing their
  first segment; mounts come last, longest prefix first;
- a path matching but a method not: 405 with ``Allow``; HEAD is served by
  GET and OPTIONS answered automatically unless a handler takes them;
- trailing slashes are significant; when only the other form matches, the
  client is redirected there with 308 (Werkzeug's ``strict_slashes``), which
  keeps the method and body.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from oakling.convertors import CONVERTERS, Converter, converter_for_annotation
from oakling.exceptions import ImproperlyConfigured
from oakling.types import ASGIApp

if TYPE_CHECKING:
    from oakling.cli import AppGroup
    from oakling.middleware import Middleware

__all__ = [
    "HTTP_METHODS",
    "Mount",
    "NoMatchFound",
    "Route",
    "Router",
    "View",
    "WebSocketRoute",
    "compile_path",
]

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class _Unset:
    """The type of a "not given" default, where None means something."""


_UNSET = _Unset()

_PARAM_RE = re.compile(
    r"\{([A-Za-z_]\w*)(?::([A-Za-z_]\w*))?\}|<(?:([A-Za-z_]\w*):)?([A-Za-z_]\w*)>"
)


class NoMatchFound(Exception):
    """``url_for`` found no route with that name taking those parameters."""


class CompiledPath:
    """A route path compiled once: its regex, converters and URL builder.

    Attributes:
        path: The path as written, normalised to ``{name}`` syntax.
        regex: The anchored pattern, or None for a static path.
        converters: ``{param: Converter}`` in path order.
    """

    __slots__ = ("converters", "parts", "path", "regex")

    def __init__(
        self,
        path: str,
        regex: re.Pattern[str] | None,
        converters: dict[str, Converter],
        parts: list[str],
    ) -> None:
        self.path = path
        self.regex = regex
        self.converters = converters
        self.parts = parts

    @property
    def first_segment(self) -> str:
        """The literal first segment, or ``""`` when a parameter starts the path."""
        head = self.parts[0].lstrip("/")
        if "/" in head:
            return head.split("/", 1)[0]
        return "" if len(self.parts) > 1 else head

    def build(self, params: dict[str, Any]) -> str:
        """Return the path with ``params`` filled in; extra ones go to the query.

        Raises:
            NoMatchFound: If a parameter is missing or does not convert.
        """
        out = [self.parts[0]]
        remaining = dict(params)
        for index, (name, converter) in enumerate(self.converters.items()):
            if name not in remaining:
                raise NoMatchFound(f"missing path parameter {name!r} for {self.path!r}")
            try:
                text = converter.to_string(remaining.pop(name))
            except (ValueError, TypeError) as ex:
                raise NoMatchFound(f"parameter {name!r} for {self.path!r}: {ex}") from None
            safe = "/" if isinstance(converter, CONVERTERS["path"].__class__) else ""
            out.append(quote(text, safe=safe + ":@!$&'()*+,;=-._~"))
            out.append(self.parts[index + 1])
        url = "".join(out)
        if remaining:
            url += "?" + urlencode(
                {key: value for key, value in remaining.items() if value is not None}, doseq=True
            )
        return url


def compile_path(path: str, annotations: dict[str, Any] | None = None) -> CompiledPath:
    """Compile ``/users/{id:int}`` (or Flask's ``/users/<int:id>``).

    Args:
        path: The route path; must start with ``/``.
        annotations: The handler's type hints; a parameter without a
            converter takes one from its annotation (``id: int`` -> ``int``).

    Raises:
        ImproperlyConfigured: On an unknown converter or a repeated name.
    """
    if not path.startswith("/"):
        raise ImproperlyConfigured(f"route path {path!r} must start with '/'")
    converters: dict[str, Converter] = {}
    parts: list[str] = []
    pattern = "^"
    position = 0
    for match in _PARAM_RE.finditer(path):
        name = match.group(1) or match.group(4)
        kind = match.group(2) or match.group(3)
        literal = path[position : match.start()]
        parts.append(literal)
        pattern += re.escape(literal)
        if name in converters:
            raise ImproperlyConfigured(f"path {path!r} repeats parameter {name!r}")
        if kind is None:
            converter = converter_for_annotation((annotations or {}).get(name)) or CONVERTERS["str"]
        else:
            if kind not in CONVERTERS:
                raise ImproperlyConfigured(
                    f"unknown path converter {kind!r} in {path!r}; known: {sorted(CONVERTERS)}"
                )
            converter = CONVERTERS[kind]
        converters[name] = converter
        pattern += f"(?P<{name}>{converter.regex})"
        position = match.end()
    tail = path[position:]
    parts.append(tail)
    pattern += re.escape(tail) + "$"
    normalised = parts[0] + "".join(
        f"{{{name}}}{parts[index + 1]}" for index, name in enumerate(converters)
    )
    regex = re.compile(pattern) if converters else None
    return CompiledPath(normalised, regex, converters, parts)


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - unresolvable forward refs: no annotation-based converters
        return {}


class Route:
    """An HTTP route: a path, the methods it answers, and its handler.

    Args:
        path: ``/tasks/{id:int}``-style path (relative to the router prefix).
        endpoint: A sync or async function, or a :class:`View` subclass.
        methods: HTTP methods; defaults to ``["GET"]`` (every method the
            view defines, for a View).
        name: For ``url_for``; defaults to the function's name.
        status_code: Status for return values that are not a Response.
        response_class: Wraps return values that are not a Response
            (``PlainTextResponse``, ``HTMLResponse`` ...).
        include_in_schema: Whether API documentation lists it.
        tags: OpenAPI tags (added to those of the routers it is in).
        summary: The OpenAPI summary; default the docstring's first line.
        description: The OpenAPI description; default the rest of the docstring.
        deprecated: Mark the operation deprecated in the OpenAPI document.
        responses: Extra documented responses, ``{status: type or response
            object}`` (FastAPI's ``responses``); a response object may hold a
            ``"model"`` key, whose JSON schema becomes its content.
        operation_id: The OpenAPI ``operationId``; default from the route's name.
        openapi_extra: Merged last into the route's OpenAPI operation object.
        response_model: ``...`` (the default) reads the response model from
            the return annotation; None turns it off, so what the handler
            returns is sent as it is (the annotation stays for type
            checkers), and a type uses that type instead of the annotation.
            FastAPI's ``response_model``, including ``response_model=None``.
        opt: Options for plugins, read at startup by their per-route hooks
            (Litestar's ``opt``): ``opt={"ratelimit": "10/minute"}``.
        middleware: ASGI middleware specs (anything with ``build(app)``,
            such as :class:`~oakling.middleware.Middleware`) wrapped around
            this route only, outermost first. A handler may also carry
            specs in an ``__oakling_middleware__`` attribute (decorators
            such as ``cache_page`` put themselves there); those go inside.
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Iterable[str] | None = None,
        name: str | None = None,
        status_code: int | None = None,
        response_class: type | None = None,
        include_in_schema: bool = True,
        tags: Sequence[str] = (),
        summary: str | None = None,
        description: str | None = None,
        deprecated: bool = False,
        responses: dict[int | str, Any] | None = None,
        operation_id: str | None = None,
        openapi_extra: dict[str, Any] | None = None,
        response_model: Any = ...,
        opt: Mapping[str, Any] | None = None,
        middleware: Sequence[Any] = (),
    ) -> None:
        self.path = path
        self.opt: dict[str, Any] = dict(opt) if opt else {}
        self.middleware = list(middleware)
        self.endpoint = endpoint
        # NOTE: read by the openapi battery only, never on the request path.
        self.tags = list(tags)
        self.summary = summary
        self.description = description
        self.deprecated = deprecated
        self.responses = dict(responses or {})
        self.operation_id = operation_id
        self.openapi_extra = dict(openapi_extra or {})
        # NOTE: ``...`` means "from the return annotation" (read in _dispatch).
        self.response_model = response_model
        self.view_class: type[View] | None = None
        if inspect.isclass(endpoint) and issubclass(endpoint, View):
            self.view_class = endpoint
            defined = [method for method in HTTP_METHODS if hasattr(endpoint, method.lower())]
            self.methods = [method.upper() for method in methods] if methods else defined
        else:
            self.methods = [method.upper() for method in (methods or ["GET"])]
        for method in self.methods:
            if not re.fullmatch(r"[A-Z][A-Z0-9_\-]*", method):
                raise ImproperlyConfigured(f"invalid HTTP method {method!r} for {path!r}")
        self.name = name or getattr(endpoint, "__name__", None) or path
        self.status_code = status_code
        self.response_class = response_class
        self.include_in_schema = include_in_schema
        self.hints = _hints(self.handler_for(self.methods[0]) if self.methods else endpoint)
        self.compiled = compile_path(path, self.hints)
        from oakling.params import compile_extractor

        # PERF: each handler's signature is compiled here, once; errors in it
        # surface at registration, not at the first request.
        names = frozenset(self.compiled.converters)
        self.extractors = {
            method: compile_extractor(
                self.handler_for(method), names, skip_first=self.view_class is not None
            )
            for method in self.methods
        }

    def handler_for(self, method: str) -> Callable[..., Any]:
        """Return the function answering ``method`` (a View's method for views)."""
        if self.view_class is not None:
            return getattr(self.view_class, method.lower())  # type: ignore[no-any-return]
        return self.endpoint

    def __repr__(self) -> str:
        return f"Route({self.path!r}, methods={self.methods!r}, name={self.name!r})"


class WebSocketRoute:
    """A WebSocket route; the handler gets a ``WebSocket`` and typed path params."""

    def __init__(self, path: str, endpoint: Callable[..., Any], *, name: str | None = None) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            raise ImproperlyConfigured(
                f"WebSocket handler {getattr(endpoint, '__qualname__', endpoint)} must be "
                "an 'async def' function: it awaits messages on the event loop"
            )
        self.path = path
        self.endpoint = endpoint
        self.name = name or getattr(endpoint, "__name__", None) or path
        self.hints = _hints(endpoint)
        self.compiled = compile_path(path, self.hints)

    def __repr__(self) -> str:
        return f"WebSocketRoute({self.path!r}, name={self.name!r})"


class Mount:
    """Any ASGI app served under a path prefix (its ``root_path`` grows by it).

    ``url_for(name, path="a/b.css")`` builds ``<prefix>/a/b.css``.
    """

    def __init__(self, path: str, app: ASGIApp, *, name: str | None = None) -> None:
        if path != "" and (not path.startswith("/") or path.endswith("/")):
            raise ImproperlyConfigured(
                f"mount path {path!r} must start with '/' and not end with '/'"
            )
        self.path = path
        self.app = app
        self.name = name

    def __repr__(self) -> str:
        return f"Mount({self.path!r}, name={self.name!r})"


class View:
    """A class-based view: one method per HTTP method (Django's ``View``).

    An instance is made per request; methods take typed parameters like
    function handlers::

        class TaskView(View):
            async def get(self, id: int) -> dict: ...
            async def delete(self, id: int) -> None: ...

        app.add_route("/tasks/{id}", TaskView)
    """


Handler = Callable[..., Any]


class Router:
    """A group of routes with a prefix and a name: Flask's blueprint.

    Args:
        prefix: Path prefix added to every route (``/api``).
        name: Namespace for ``url_for`` names (``"api:list_tasks"``).
        template_folder: A folder of templates searched after the app's
            (Flask's blueprint ``template_folder``).
        middleware: ASGI middleware wrapped around this router's routes only.
        tags: OpenAPI tags for every route in it (default: ``[name]``).
        include_in_schema: False leaves all its routes out of API documentation.
        cli_group: The name its :attr:`cli` commands are grouped under
            (``oakling NAME COMMAND``; default: ``name``); None puts them at
            the top level (``oakling COMMAND``), as Flask's blueprint
            ``cli_group`` does.

    Decorators register routes (``@router.get("/x")``); hooks and error
    handlers registered here apply to this router's routes only. Include it
    with ``app.include(router)``.
    """

    def __init__(
        self,
        prefix: str = "",
        *,
        name: str | None = None,
        template_folder: str | None = None,
        middleware: Sequence[Middleware] = (),
        tags: Sequence[str] | None = None,
        include_in_schema: bool = True,
        cli_group: str | None | _Unset = _UNSET,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ImproperlyConfigured(
                f"router prefix {prefix!r} must start with '/' and not end with '/'"
            )
        self.prefix = prefix
        self.name = name
        self.template_folder = template_folder
        self.middleware = list(middleware)
        self.tags = list(tags) if tags is not None else None
        self.include_in_schema = include_in_schema
        self.cli_group = name if isinstance(cli_group, _Unset) else cli_group
        self._cli: AppGroup | None = None
        self.routes: list[Route | WebSocketRoute | Mount] = []
        self.children: list[tuple[Router, str]] = []
        self.error_handlers: dict[int | type[BaseException], Handler] = {}
        self.before_request_funcs: list[Handler] = []
        self.before_request_methods: dict[Handler, Container[str]] = {}
        self.before_request_factories: set[Handler] = set()
        self.after_request_funcs: list[Handler] = []
        self.before_websocket_funcs: list[Handler] = []
        # NOTE: Flask's before_app_request & co.: registered here, run for
        # every request of the app that includes this router.
        self.app_before_request_funcs: list[tuple[Handler, Container[str] | None]] = []
        self.app_after_request_funcs: list[Handler] = []
        self.app_error_handlers: dict[int | type[BaseException], Handler] = {}

    @property
    def cli(self) -> AppGroup:
        """This router's ``oakling`` commands: ``@router.cli.command()`` (Flask's ``bp.cli``).

        Once the router is included in an app, ``oakling --help`` lists them
        under the router's ``cli_group`` (its name by default), and
        ``oakling GROUP COMMAND`` runs one; with ``cli_group=None`` they sit
        at the top level beside the app's own. A command taking a parameter
        named ``app`` gets the app there.
        """
        if self._cli is None:
            from oakling.cli import AppGroup

            group = self.cli_group
            self._cli = AppGroup(
                group or "router",
                help=f"Commands of the {group!r} router." if group else None,
            )
        return self._cli

    # -- registration -----------------------------------------------------

    def add_route(
        self, path: str, endpoint: Handler, methods: Iterable[str] | None = None, **options: Any
    ) -> Route:
        """Register ``endpoint`` at ``path`` and return the route."""
        route = Route(path, endpoint, methods=methods, **options)
        self.routes.append(route)
        return route

    def route(
        self, path: str, methods: Iterable[str] | None = None, **options: Any
    ) -> Callable[[Handler], Handler]:
        """Register the decorated function (or View) for ``methods`` at ``path``."""

        def decorator(endpoint: Handler) -> Handler:
            self.add_route(path, endpoint, methods, **options)
            return endpoint

        return decorator

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register the decorated function for GET (and so HEAD) at ``path``."""
        return self.route(path, ["GET"], **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register the decorated function for POST at ``path``."""
        return self.route(path, ["POST"], **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register the decorated function for PUT at ``path``."""
        return self.route(path, ["PUT"], **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register the decorated function for PATCH at ``path``."""
        return self.route(path, ["PATCH"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register the decorated function for DELETE at ``path``."""
        return self.route(path, ["DELETE"], **options)

    def websocket(self, path: str, *, name: str | None = None) -> Callable[[Handler], Handler]:
        """Register the decorated function as a WebSocket handler at ``path``."""

        def decorator(endpoint: Handler) -> Handler:
            self.routes.append(WebSocketRoute(path, endpoint, name=name))
            return endpoint

        return decorator

    def mount(self, path: str, app: ASGIApp, *, name: str | None = None) -> None:
        """Serve the ASGI ``app`` under ``path`` (static files, another framework)."""
        self.routes.append(Mount(path, app, name=name))

    def include(self, router: Router, *, prefix: str | None = None) -> None:
        """Add ``router``'s routes here, under ``prefix`` (default: its own)."""
        if router is self:
            raise ImproperlyConfigured("a router cannot include itself")
        self.children.append((router, router.prefix if prefix is None else prefix))

    # -- hooks --------------------------------------------------------------

    def errorhandler(self, key: int | type[BaseException]) -> Callable[[Handler], Handler]:
        """Handle a status code or exception class: ``handler(request, exc)``."""

        def decorator(func: Handler) -> Handler:
            self.error_handlers[key] = func
            return func

        return decorator

    def add_error_handler(self, key: int | type[BaseException], func: Handler) -> None:
        """Register ``func(request, exc)`` for a status code or exception class."""
        self.error_handlers[key] = func

    def before_request(self, func: Handler, *, methods: Container[str] | None = None) -> Handler:
        """Run ``func([request])`` before each handler; a non-None result is the response.

        Args:
            func: The hook, sync or async, taking the request or nothing.
            methods: Run it only on routes serving these methods (any
                container: ``{"POST"}``, or an object whose ``__contains__``
                decides, as the CSRF battery's "unsafe methods"). Decided at
                startup, so routes of other methods keep the fast path.
        """
        if methods is not None:
            self.before_request_methods[func] = methods
        self.before_request_funcs.append(func)
        return func

    def before_request_factory(self, factory: Handler) -> Handler:
        """Register a maker of ``before_request`` hooks, one per route and method.

        ``factory(route, method, routers)`` is called once per route and
        method at startup (``routers``: the routers the route is in,
        outermost first) and returns the hook for it, or None for none:
        a plugin that reads a mark on the handler or ``route.opt`` (the
        rate limits) prepares its work there, and routes it returns None
        for keep the core's fast path. The hook runs where a hook
        registered with :meth:`before_request` at this point would.
        """
        self.before_request_factories.add(factory)
        self.before_request_funcs.append(factory)
        return factory

    def before_websocket(self, func: Handler) -> Handler:
        """Run ``func([websocket])`` before each WebSocket handler, before the accept.

        Quart's ``before_websocket``. The hook, sync or async, takes the
        :class:`~oakling.websockets.WebSocket` or nothing; its result is
        ignored. To refuse the connection raise ``HTTPException`` (the
        handshake is closed with 1008, which servers answer with HTTP 403)
        or ``WebSocketException(code)``. ``websocket.scope["endpoint"]`` is
        the handler, for hooks that read marks on it. App hooks run first,
        then those of included routers.
        """
        self.before_websocket_funcs.append(func)
        return func

    def after_request(self, func: Handler) -> Handler:
        """Run ``func(response)`` or ``func(request, response)`` after each handler."""
        self.after_request_funcs.append(func)
        return func

    def before_app_request(
        self, func: Handler, *, methods: Container[str] | None = None
    ) -> Handler:
        """Run ``func([request])`` before every handler of the app (Flask's).

        As :meth:`before_request`, but for every route of the app that
        includes this router, not only this router's own: a blueprint that
        loads ``g.user`` or opens a connection for all pages. These hooks run
        after the app's own ``before_request`` hooks and before those of
        the route's routers, in registration order.
        """
        self.app_before_request_funcs.append((func, methods))
        return func

    def after_app_request(self, func: Handler) -> Handler:
        """Run ``func(response)`` or ``func(request, response)`` after every handler.

        Flask's ``Blueprint.after_app_request``: for every route of the app,
        after the hooks of the route's routers and the app's own.
        """
        self.app_after_request_funcs.append(func)
        return func

    def app_errorhandler(self, key: int | type[BaseException]) -> Callable[[Handler], Handler]:
        """Handle a status code or exception class for the whole app (Flask's).

        Unlike :meth:`errorhandler`, it answers errors raised anywhere in the
        app, routing errors (404, 405) included; the app's own handler for
        the same key wins, and a router's own ``errorhandler`` wins for its
        routes.
        """

        def decorator(func: Handler) -> Handler:
            self.app_error_handlers[key] = func
            return func

        return decorator

    # -- flattening ---------------------------------------------------------

    def iter_routers(self) -> Iterable[Router]:
        """Yield this router and every router included in it, depth first."""
        yield self
        for child, _ in self.children:
            yield from child.iter_routers()

    def walk(
        self, prefix: str = "", namespace: str = "", chain: tuple[Router, ...] = ()
    ) -> Iterable[tuple[Route | WebSocketRoute | Mount, str, str, tuple[Router, ...]]]:
        """Yield ``(route, full_path_prefix, name_namespace, routers_outermost_first)``."""
        chain = (*chain, self)
        for route in self.routes:
            yield route, prefix, namespace, chain
        for child, child_prefix in self.children:
            child_namespace = f"{namespace}{child.name}:" if child.name else namespace
            yield from child.walk(prefix + child_prefix, child_namespace, chain)
