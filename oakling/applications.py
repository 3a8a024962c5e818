"""The application: an ASGI 3 callable, lifespan, plugins and error handling."""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable
from urllib.parse import quote

from oakling._dispatch import RouteTable, _hooked_send
from oakling._errors import default_http_error, server_error
from oakling.checks import core_deploy_checks
from oakling.concurrency import set_thread_pool_size
from oakling.config import Settings, load_settings
from oakling.datastructures import State
from oakling.exceptions import ClientDisconnect, HTTPException, ImproperlyConfigured
from oakling.globals import _context as _request_context
from oakling.requests import HTTPConnection, Limits, Request
from oakling.responses import Response, to_response
from oakling.routing import Mount, Router
from oakling.signals import got_request_exception as _got_request_exception
from oakling.signals import request_finished as _request_finished
from oakling.signals import request_signals as _request_signals
from oakling.signals import request_started as _request_started
from oakling.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from oakling.checks import Check
    from oakling.cli import AppGroup
    from oakling.middleware import Middleware
    from oakling.templating import Templates
    from oakling.testing import AppCliRunner

__all__ = ["App", "Plugin"]

logger = logging.getLogger("oakling.error")
disconnect_logger = logging.getLogger("oakling.request")

Lifespan = Callable[["App"], contextlib.AbstractAsyncContextManager[Mapping[str, Any] | None]]


@runtime_checkable
class Plugin(Protocol):
    """What a battery (or any extension) implements to plug into an app.

    ``install(app)`` is called once, by ``App(plugins=[...])`` or
    ``app.install(plugin)``, before the app starts. It may use only the app's
    public API: ``add_middleware``, ``include``/``mount``/``add_route``,
    ``on_startup``/``on_shutdown``, ``add_template_global``,
    ``context_processor``, ``add_error_handler``, ``cli_commands``,
    ``settings`` and ``extensions`` (Flask's ``app.extensions``).
    """

    name: str

    def install(self, app: App) -> None:
        """Wire the plugin into ``app``."""


class App(Router):
    """An oakling application: the ASGI callable and the root router.

    Args:
        debug: Show tracebacks in error pages; None reads ``settings.DEBUG``.
        settings: Typed settings; by default loaded from ``OAKLING_*``
            environment variables and ``.env`` (see :mod:`oakling.config`).
        middleware: ASGI middleware, outermost first (``Middleware(cls, ...)``).
        plugins: Batteries to install.
        lifespan: An async context manager factory ``lifespan(app)`` run
            around the app's life; a dict it yields becomes lifespan state.
        on_startup: Callables (sync or async) run at startup.
        on_shutdown: Callables run at shutdown.
        template_folder: The templates folder (default from settings,
            ``templates``), as Flask's ``template_folder``.
        static_dir: A folder served at ``static_url`` as the ``static`` mount.
        static_url: Where static files are served, ``/static`` by default.
        redirect_slashes: Redirect (308) to the other trailing-slash form
            when only that one matches.
        secret_key: Shortcut for ``settings.SECRET_KEY``.
    """

    def __init__(
        self,
        *,
        debug: bool | None = None,
        settings: Settings | None = None,
        middleware: Sequence[Middleware] = (),
        plugins: Sequence[Plugin] = (),
        lifespan: Lifespan | None = None,
        on_startup: Sequence[Callable[[], Any]] = (),
        on_shutdown: Sequence[Callable[[], Any]] = (),
        template_folder: str | os.PathLike[str] | None = None,
        static_dir: str | os.PathLike[str] | None = None,
        static_url: str | None = None,
        redirect_slashes: bool = True,
        secret_key: str | None = None,
    ) -> None:
        super().__init__()
        if settings is None:
            overrides: dict[str, Any] = {}
            if debug is not None:
                overrides["DEBUG"] = debug
            if secret_key is not None:
                overrides["SECRET_KEY"] = secret_key
            settings = load_settings(**overrides)
        elif debug is not None and settings.DEBUG != debug:
            import msgspec

            settings = msgspec.structs.replace(settings, DEBUG=debug)
        self.settings = settings
        self.debug = bool(settings.DEBUG) if debug is None else debug
        self.state = State()
        self.extensions: dict[str, Any] = {}
        self.dependency_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        self.user_middleware: list[Middleware] = list(middleware)
        self.lifespan_context = lifespan
        self.startup_funcs: list[Callable[[], Any]] = list(on_startup)
        self.shutdown_funcs: list[Callable[[], Any]] = list(on_shutdown)
        self.redirect_slashes = redirect_slashes
        self.template_folder = (
            str(template_folder) if template_folder is not None else settings.TEMPLATES_DIR
        )
        self.static_dir = str(static_dir) if static_dir is not None else settings.STATIC_DIR
        self.static_url = static_url or settings.STATIC_URL
        self.template_globals: dict[str, Any] = {}
        self.template_filters: dict[str, Callable[..., Any]] = {}
        self.context_processors: list[Callable[..., Any]] = []
        self.cli_commands: list[Any] = []
        self.shell_context_processors: list[Callable[[], dict[str, Any]]] = []
        self.plugins: list[Plugin] = []
        self.checks: list[tuple[Check, bool]] = [(core_deploy_checks, True)]
        self.limits: Limits = settings.limits()
        self._table: RouteTable | None = None
        self._entry: ASGIApp | None = None
        self._guarded = False
        self.response_start_hooks: list[Callable[[Scope, list[tuple[bytes, bytes]]], None]] = []
        self._first_start_hooks: list[Callable[[Scope, list[tuple[bytes, bytes]]], None]] = []
        self._last_start_hooks: list[Callable[[Scope, list[tuple[bytes, bytes]]], None]] = []
        self._direct: RouteTable | None = None
        self._inner: RouteTable | None = None
        self._rsgi: Any = None
        # NOTE: set by oakling.globals.install_request_context: the outermost
        # layer then sets the request context (no middleware of its own).
        self._request_context = False
        self._templates: Templates | None = None
        # NOTE: status -> the app's "<status>.html" error template or None (see _errors).
        self._error_templates: dict[int, Any] = {}
        self._static: dict[str, Any] = {}
        self._wide: _AppWide | None = None
        self._cli: AppGroup | None = None
        for plugin in plugins:
            self.install(plugin)

    # -- configuration --------------------------------------------------------

    def install(self, plugin: Plugin) -> None:
        """Install a plugin (a battery); must happen before the app starts.

        Raises:
            RuntimeError: If the app already started serving.
            TypeError: If ``plugin`` has no ``install(app)`` method.
        """
        self._check_not_built("install a plugin")
        if not callable(getattr(plugin, "install", None)):
            raise TypeError(f"{plugin!r} is not a plugin: it has no install(app) method")
        self.plugins.append(plugin)
        plugin.install(self)

    def add_middleware(self, cls: Callable[..., ASGIApp], *args: Any, **kwargs: Any) -> None:
        """Add ASGI middleware, outside those added before (the stack is built at startup).

        A middleware class with a true ``outermost`` attribute (the security
        battery's, which checks the Host before anything runs) stays outside
        every middleware added after it: those go just inside it.

        Raises:
            RuntimeError: If the app has started serving.
        """
        from oakling.middleware import Middleware

        self._check_not_built("add middleware")
        stack = self.user_middleware
        index = 0
        while index < len(stack) and getattr(stack[index].cls, "outermost", False):
            index += 1
        stack.insert(index, Middleware(cls, *args, **kwargs))

    def add_response_start_hook(
        self, hook: Callable[[Scope, list[tuple[bytes, bytes]]], None], *, last: bool = False
    ) -> None:
        """Have ``hook(scope, headers)`` see every HTTP response's headers as it starts.

        For batteries that add a header to every response (the i18n
        battery's ``Content-Language`` and ``Vary``) without a middleware
        layer: the hook runs once per response, error pages and mounted apps
        included, at the app's outermost layer, and may append to
        ``headers`` (a list of ``(name, value)`` byte pairs, names lower
        case); it must not raise. Hooks run in the order added, those added
        with ``last=True`` after all others (the page cache's, which must
        judge the headers the client gets, ``Vary`` included).

        Raises:
            RuntimeError: If the app has started serving.
        """
        self._check_not_built("add a response start hook")
        if last:
            self._last_start_hooks.append(hook)
        else:
            self._first_start_hooks.append(hook)
        self.response_start_hooks[:] = [*self._first_start_hooks, *self._last_start_hooks]

    def add_check(self, check: Check, *, deploy: bool = False) -> None:
        """Add a system check run by ``oakling check`` (Django's ``register``).

        Args:
            check: ``check(app) -> Iterable[CheckMessage]`` (see
                :mod:`oakling.checks`); it reports problems, it does not raise.
            deploy: Run it only for ``oakling check --deploy``.
        """
        self.checks.append((check, deploy))

    def on_startup(self, func: Callable[[], Any]) -> Callable[[], Any]:
        """Run ``func()`` (sync or async) when the server starts the app."""
        self.startup_funcs.append(func)
        return func

    def on_shutdown(self, func: Callable[[], Any]) -> Callable[[], Any]:
        """Run ``func()`` (sync or async) when the server stops the app."""
        self.shutdown_funcs.append(func)
        return func

    def add_template_global(self, name: str, value: Any) -> None:
        """Make ``value`` available as ``name`` in every template."""
        self.template_globals[name] = value
        if self._templates is not None:
            self._templates.env.globals[name] = value

    def template_filter(
        self, name: str | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register the decorated function as a Jinja2 filter."""

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            self.template_filters[name or func.__name__] = func
            if self._templates is not None:
                self._templates.env.filters[name or func.__name__] = func
            return func

        return decorator

    def context_processor(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Add ``func(request) -> dict`` whose result every template context gets.

        Flask's form ``func() -> dict`` works too. Rendering is synchronous,
        so ``func`` must be a plain function.

        Raises:
            TypeError: If ``func`` is an ``async def`` function.
        """
        # NOTE: the second test catches objects whose __call__ is async.
        if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__):
            raise TypeError(
                f"context processor {func!r} is async; template rendering is synchronous, "
                "so context processors must be plain functions (load async data in the "
                "handler and pass it to render())"
            )
        self.context_processors.append(func)
        return func

    def test_cli_runner(self, **kwargs: Any) -> AppCliRunner:
        """Return click's ``CliRunner`` bound to this app (Flask's ``test_cli_runner``).

        ``runner.invoke(args=["routes"])`` runs ``oakling routes`` on this
        app; the app's own commands are found too. ``kwargs`` go to
        ``CliRunner`` (``env=``, ``catch_exceptions=`` is an ``invoke`` one).
        """
        from oakling.testing import AppCliRunner

        return AppCliRunner(self, **kwargs)

    @property
    def cli(self) -> AppGroup:
        """The app's own ``oakling`` commands: ``@app.cli.command()`` (Flask's ``app.cli``).

        They are listed by ``oakling --help`` and run as ``oakling NAME``; a
        command taking a parameter named ``app`` gets this app there.
        """
        if self._cli is None:
            from oakling.cli import AppGroup

            self._cli = AppGroup("app")
        return self._cli

    def shell_context_processor(
        self, func: Callable[[], dict[str, Any]]
    ) -> Callable[[], dict[str, Any]]:
        """Add names to ``oakling shell``: ``func() -> {name: value}`` (Flask's)."""
        self.shell_context_processors.append(func)
        return func

    @property
    def templates(self) -> Templates:
        """The Jinja2 templates of this app and its routers (built on first use)."""
        if self._templates is None:
            from oakling.templating import Templates

            folders: list[str] = []
            for router in self.iter_routers():
                if router.template_folder and router.template_folder not in folders:
                    folders.append(str(router.template_folder))
            self._templates = Templates(folders, app=self)
        return self._templates

    def _check_not_built(self, what: str) -> None:
        if self._entry is not None:
            raise RuntimeError(f"cannot {what} after the app has started serving")

    # -- building -------------------------------------------------------------

    def build(self) -> None:
        """Compile routes and the middleware stack; done once, at startup.

        Called by the lifespan startup, or by the first request when the
        server sends no lifespan events. Registering routes afterwards has
        no effect on the compiled table until ``build()`` is called again.
        """
        if self.static_dir and not any(
            getattr(route, "name", None) == "static" for route in self.routes
        ):
            from oakling.staticfiles import StaticFiles

            if not os.path.isdir(self.static_dir):
                raise ImproperlyConfigured(
                    f"static_dir {self.static_dir!r} is not a folder "
                    f"(from {os.getcwd()!r}); create it or leave static_dir unset"
                )

            self.mount(self.static_url, StaticFiles(directory=self.static_dir), name="static")
        self._wide = None
        table = RouteTable(self)
        for route, prefix, namespace, chain in self.walk():
            table.add(route, prefix, namespace, chain)
        table.finish()
        self._table = table
        set_thread_pool_size(self.settings.THREAD_POOL_SIZE)
        entry: ASGIApp = self._dispatch
        for spec in reversed(self.user_middleware):
            entry = spec.build(entry)
        # NOTE: with middleware, __call__ itself turns an error raised outside
        # routes into a 500 (inlined: no extra frame).
        self._guarded = bool(
            self.user_middleware or self._request_context or self.response_start_hooks
        )
        self._entry = entry
        self._direct = None if self._guarded else table
        self._inner = table if self._guarded and not self.user_middleware else None

    def _app_wide_hooks(self) -> _AppWide:
        """Return the app-wide hooks of every included router (Flask's ``*_app_*``)."""
        if self._wide is None:
            before: list[tuple[Callable[..., Any], Any]] = []
            after: list[Callable[..., Any]] = []
            errors: dict[Any, Callable[..., Any]] = {}
            for router in self.iter_routers():
                before += router.app_before_request_funcs
                after += router.app_after_request_funcs
                for key, func in router.app_error_handlers.items():
                    errors.setdefault(key, func)
            self._wide = _AppWide(before, after, errors)
        return self._wide

    def _app_error_chain(self) -> list[Mapping[Any, Callable[..., Any]]]:
        """Return the handlers for errors outside routes: the app's, then app-wide ones."""
        errors = self._app_wide_hooks().errors
        return [self.error_handlers, errors] if errors else [self.error_handlers]

    @property
    def route_table(self) -> RouteTable:
        """The compiled routes (building them if needed)."""
        if self._table is None:
            self.build()
        assert self._table is not None
        return self._table

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """Return the path of route ``name`` (Starlette's ``url_path_for``).

        Params not in the path become the query string. Names of routes in a
        named router are ``"router_name:route_name"`` (Flask's dotted
        ``"router_name.route_name"`` works too); a mount takes the file as
        ``path=`` or ``filename=`` (``url_path_for("static", filename="a.css")``).
        Before the app starts (at module level) the names are read from the
        routes registered so far, without building the app.

        Raises:
            NoMatchFound: For an unknown name or params that don't fit.
        """
        from oakling._dispatch import build_path, route_names

        if self._table is not None:
            return build_path(self._table.names, name, dict(params))
        names = route_names(self)
        if self.static_dir and "static" not in names:
            # NOTE: build() mounts the static folder; before it, only the name is needed.
            names["static"] = Mount(self.static_url, self, name="static")
        return build_path(names, name, dict(params))

    def url_for(
        self,
        name: str,
        /,
        *,
        _external: bool = False,
        _anchor: str | None = None,
        _scheme: str | None = None,
        **params: Any,
    ) -> str:
        """Return the path of route ``name``, or its full URL (Flask's ``url_for``).

        A path by default, as Flask's ``url_for``; params that are not in
        the route's path become the query string. ``_anchor`` adds a
        ``#fragment``. ``_external=True`` gives ``scheme://SERVER_NAME/path``
        from the settings ``SERVER_NAME`` and ``PREFERRED_URL_SCHEME`` (or
        ``_scheme``), as Flask does outside a request; inside one, use
        ``request.url_for`` (absolute, from the request's host) or the
        templates' ``url_for(..., _external=True)``.

        Raises:
            NoMatchFound: For an unknown name or params that don't fit.
            ValueError: If ``_scheme`` is given without ``_external=True``
                (Flask's rule).
            RuntimeError: If ``_external=True`` and ``SERVER_NAME`` is unset.
        """
        if _scheme is not None and not _external:
            raise ValueError("url_for(..., _scheme=...) needs _external=True (as in Flask)")
        path = self.url_path_for(name, **params) + _fragment(_anchor)
        if not _external:
            return path
        server = self.settings.SERVER_NAME
        if not server:
            raise RuntimeError(
                "app.url_for(..., _external=True) outside a request needs the SERVER_NAME "
                "setting (OAKLING_SERVER_NAME=example.com, as Flask's SERVER_NAME); in a "
                "handler use request.url_for(...), which takes the host from the request"
            )
        return f"{_scheme or self.settings.PREFERRED_URL_SCHEME}://{server}{path}"

    # -- ASGI -----------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        scope["app"] = self
        if _request_signals.on and scope["type"] == "http" and "oakling.signalled" not in scope:
            # PERF: one attribute read per request when nobody listens.
            await self._call_with_signals(scope, receive, send)
            return
        table = self._direct
        if table is not None and scope["type"] == "http":
            # PERF: no middleware: a static path and a known method are two
            # dict lookups, with no extra coroutine frame.
            methods = table.static.get(scope["path"])
            if methods is not None:
                handler = methods.get(scope["method"])
                if handler is not None:
                    await handler(scope, receive, send)
                    return
            await table.dispatch_http(scope, receive, send)
            return
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        entry = self._entry
        if entry is None:
            self.build()
            entry = self._entry
        if not self._guarded:
            await entry(scope, receive, send)  # type: ignore[misc]
            return
        # PERF: the guard of an app with middleware, inlined (one frame for
        # the whole request): a ContextVar set when a battery asked for the
        # request context, and a 500 for an error raised outside routes.
        token = _request_context.set((scope, receive)) if self._request_context else None
        try:
            table = self._inner
            if table is not None and scope["type"] == "http":
                # PERF: no middleware (only the request context or start
                # hooks): routes answer their own errors, so the route table
                # is called directly, and send is wrapped only for hooks.
                hooks = self.response_start_hooks
                if hooks:
                    send = partial(_hooked_send, scope, hooks, send)
                methods = table.static.get(scope["path"])
                handler = None if methods is None else methods.get(scope["method"])
                if handler is not None:
                    await handler(scope, receive, send)
                else:
                    await table.dispatch_http(scope, receive, send)
                return
            if scope["type"] != "http":
                await entry(scope, receive, send)  # type: ignore[misc]
                return
            # PERF: a partial of a plain function: each send is a C call and a
            # Python call returning the server's awaitable, not a coroutine.
            state = [False, scope, self.response_start_hooks]
            outer = partial(_outer_send, state, send)
            try:
                await entry(scope, receive, outer)  # type: ignore[misc]
            except Exception as ex:
                if state[0]:
                    raise
                request = Request(scope, receive, self.limits)
                response, reraise = await self.error_response(request, ex, self._app_error_chain())
                await response(scope, receive, outer)
                if reraise is not None:
                    raise
        finally:
            if token is not None:
                _request_context.reset(token)

    # -- RSGI (granian --interface rsgi): the same app through oakling.rsgi ---

    def __rsgi_init__(self, loop: Any) -> None:
        """Start serving RSGI: run the lifespan startup on granian's loop."""
        from oakling.rsgi import RSGIAdapter

        self._rsgi = RSGIAdapter(self)
        self._rsgi.__rsgi_init__(loop)

    def __rsgi__(self, scope: Any, protocol: Any) -> Any:
        """Serve one RSGI call (see :mod:`oakling.rsgi`)."""
        return self._rsgi.__rsgi__(scope, protocol)

    def __rsgi_del__(self, loop: Any) -> None:
        """Stop serving RSGI: run the lifespan shutdown."""
        self._rsgi.__rsgi_del__(loop)

    async def _call_with_signals(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request between ``request_started`` and ``request_finished``."""
        await _request_started.send_async(self, scope=scope)
        status: int | None = None

        async def send_noting_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        scope["oakling.signalled"] = True
        try:
            await self(scope, receive, send_noting_status)
        finally:
            await _request_finished.send_async(self, scope=scope, status=status)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        table = self._table
        assert table is not None
        if scope["type"] == "http":
            # PERF: a static path and a known method: two dict lookups.
            methods = table.static.get(scope["path"])
            if methods is not None:
                handler = methods.get(scope["method"])
                if handler is not None:
                    await handler(scope, receive, send)
                    return
            await table.dispatch_http(scope, receive, send)
        elif scope["type"] == "websocket":
            await table.dispatch_websocket(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        stack = contextlib.AsyncExitStack()
        try:
            if self._entry is None:
                self.build()
            self.check_settings()
            if self.lifespan_context is not None:
                state = await stack.enter_async_context(self.lifespan_context(self))
                if state:
                    if "state" not in scope:
                        raise RuntimeError(
                            "the server does not support lifespan state; yield None instead"
                        )
                    scope["state"].update(state)
            for func in self.startup_funcs:
                await _maybe_await(func())
        except BaseException as ex:
            logger.exception("Application startup failed")
            await send({"type": "lifespan.startup.failed", "message": f"{type(ex).__name__}: {ex}"})
            raise
        from oakling._shutdown import begin_shutdown, install_signal_hook, wait_for_streams

        # NOTE: uvicorn sends lifespan.shutdown only once connections close;
        # chaining its signal handler lets open streams end at SIGTERM.
        install_signal_hook()
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        begin_shutdown()
        await wait_for_streams()
        try:
            for func in self.shutdown_funcs:
                await _maybe_await(func())
            await stack.aclose()
        except BaseException as ex:
            await send(
                {"type": "lifespan.shutdown.failed", "message": f"{type(ex).__name__}: {ex}"}
            )
            raise
        await send({"type": "lifespan.shutdown.complete"})

    def check_settings(self) -> None:
        """Refuse to start with unsafe settings (no SECRET_KEY outside debug).

        Raises:
            ImproperlyConfigured: With a message saying what to set.
        """
        self.settings.check()

    # -- errors ---------------------------------------------------------------

    def log_exception(self, scope: Scope) -> None:
        """Log the exception being handled, with the request line."""
        logger.exception(
            "Exception while handling %s %s", scope.get("method", "WEBSOCKET"), scope.get("path")
        )

    async def error_response(
        self, conn: HTTPConnection, ex: Exception, chain: Sequence[Mapping[Any, Callable[..., Any]]]
    ) -> tuple[Response, BaseException | None]:
        """Turn ``ex`` into a response using the nearest registered handler.

        Handlers are looked up in ``chain`` (innermost router first, the app
        last): for an :class:`HTTPException` by status code, then by exception
        class along the MRO; an unexpected exception also tries a ``500``
        handler (Flask's behaviour). Unhandled, an HTTPException gets the
        default negotiated page, anything else is logged and answered 500
        (with a traceback page in debug).

        Returns:
            The response, and the exception to re-raise once it is sent (a
            server error, so the ASGI server logs it; None otherwise).
        """
        handler = _find_handler(ex, chain)
        if handler is not None:
            try:
                result = handler(conn, ex)
                if inspect.isawaitable(result):
                    result = await result
                return to_response(
                    result, ex.status_code if isinstance(ex, HTTPException) else 500
                ), None
            except HTTPException as inner:
                if inner is not ex:
                    return default_http_error(conn, inner), None
            except Exception as inner:  # noqa: BLE001 - a broken handler must still answer
                ex = inner
        if isinstance(ex, HTTPException):
            return default_http_error(conn, ex), None
        if isinstance(ex, ClientDisconnect):
            # NOTE: a client leaving mid-body is not a bug of the app: one
            # info line, no traceback; the 400 goes nowhere (uvicorn drops it).
            client = conn.scope.get("client")
            disconnect_logger.info(
                "Client %s disconnected before the end of the body of %s %s",
                f"{client[0]}:{client[1]}" if client else "-",
                conn.scope.get("method"),
                conn.scope.get("path"),
            )
            return Response(None, 400), None
        if _got_request_exception.on:
            await _got_request_exception.send_async(self, exception=ex, request=conn)
        self.log_exception(conn.scope)
        if self.debug:
            from oakling._debug import debug_response

            response = debug_response(conn, ex)
        else:
            response = server_error(conn)
        reraise = ex if conn.scope.get("oakling.raise_server_exceptions") else None
        return response, reraise

    async def send_error(
        self, scope: Scope, receive: Receive, send: Send, ex: HTTPException
    ) -> None:
        """Answer a routing error (404, 405, 400) with the app's handlers."""
        request = Request(scope, receive, self.limits)
        response, _ = await self.error_response(request, ex, self._app_error_chain())
        await response(scope, receive, send)

    # -- running --------------------------------------------------------------

    def run(self, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
        """Serve the app with uvicorn (for scripts; use ``oakling run`` in projects)."""
        import uvicorn

        uvicorn.run(self, host=host, port=port, **options)


def _find_handler(
    ex: Exception, chain: Sequence[Mapping[Any, Callable[..., Any]]]
) -> Callable[..., Any] | None:
    if not chain:
        return None
    if isinstance(ex, HTTPException):
        for handlers in chain:
            found = handlers.get(ex.status_code)
            if found is not None:
                return found
    for cls in type(ex).__mro__:
        for handlers in chain:
            found = handlers.get(cls)
            if found is not None:
                return found
    if not isinstance(ex, HTTPException):
        for handlers in chain:
            found = handlers.get(500)
            if found is not None:
                return found
    return None


class _AppWide(NamedTuple):
    """Hooks that routers registered for the whole app, collected at build."""

    before: list[tuple[Callable[..., Any], Any]]
    after: list[Callable[..., Any]]
    errors: dict[Any, Callable[..., Any]]


def _fragment(anchor: str | None) -> str:
    """Return ``#anchor`` quoted as Flask's ``url_for(_anchor=...)``, or ``""``."""
    if not anchor:
        return ""
    return "#" + quote(anchor, safe="/:@!$&'()*+,;=-._~?")


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _outer_send(state: list[Any], send: Send, message: Any) -> Awaitable[None]:
    """Pass ``message`` on through :func:`_hooked_send`, noting that the response started.

    ``state`` is ``[started, scope, hooks]``.
    """
    if message["type"] == "http.response.start":
        state[0] = True
        if state[2]:
            return _hooked_send(state[1], state[2], send, message)
    return send(message)
