"""The compiled route table and the per-route handlers: the hot path.

Everything here is built once, when the app starts (``App.build``); a request
only looks things up and calls them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from oakling._errors import STYLESHEET_PATH, send_stylesheet
from oakling._threaded import body_source, is_async_callable, portal_to, serve, serve_sync_fast
from oakling.concurrency import _run_in_request_thread
from oakling.exceptions import (
    HTTPException,
    ImproperlyConfigured,
    RequestValidationError,
    WebSocketDisconnect,
    WebSocketException,
)
from oakling.params import Depends, Extractor, compile_extractor, new_context
from oakling.requests import Request
from oakling.responses import RedirectResponse, Response, to_response
from oakling.routing import (
    CompiledPath,
    Mount,
    NoMatchFound,
    Route,
    Router,
    WebSocketRoute,
    compile_path,
)
from oakling.types import ASGIApp, Receive, Scope, Send
from oakling.websockets import WebSocket

if TYPE_CHECKING:
    from oakling.applications import App

__all__ = ["RouteTable", "build_path", "route_names"]

# RFC 9110 section 9.1: a method is a token.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

ErrorChain = list[dict[Any, Callable[..., Any]]]

# PERF: responses whose class keeps this method are sent inline.
_SEND_WHOLE = Response.__call__


def _arity(func: Callable[..., Any]) -> int:
    params = inspect.signature(func).parameters.values()
    return sum(
        1 for param in params if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)
    )


async def _call(func: Callable[..., Any], *args: Any) -> Any:
    result = func(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def _hooked_send(
    scope: Scope,
    hooks: list[Callable[[Scope, list[tuple[bytes, bytes]]], None]],
    send: Send,
    message: Any,
) -> Awaitable[None]:
    """Pass ``message`` to the server, the start hooks run on its headers first."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers", ()))
        for hook in hooks:
            hook(scope, headers)
        message = {**message, "headers": headers}
    return send(message)


class RouteHandler:
    """One route and method, prepared: extractor, hooks and error handlers."""

    __slots__ = (
        "after",
        "app",
        "before",
        "call",
        "error_chain",
        "fast",
        "path_only",
        "extractor",
        "func",
        "guards",
        "hooked",
        "is_async",
        "lead",
        "limits",
        "prefetch",
        "preread",
        "response_class",
        "status_code",
        "threaded",
        "trivial",
        "view_class",
    )

    def __init__(
        self,
        app: App,
        route: Route,
        method: str,
        chain: tuple[Router, ...],
        path_params: frozenset[str],
    ) -> None:
        self.app = app
        route_types = {name: conv.python_type for name, conv in route.compiled.converters.items()}
        self.view_class = route.view_class
        self.func = route.handler_for(method)
        # NOTE: what is called; ``func`` stays the endpoint hooks see. A
        # return annotation naming a model wraps it (see _returns); other
        # handlers are called as they are.
        from oakling._returns import response_model, with_response_model

        # NOTE: the order of checks: a guard (``@login_required``: a decorator
        # whose wrapper has ``__oakling_guard__ = check(request)``, anywhere
        # in the ``__wrapped__`` chain) runs before the parameters are read,
        # so an anonymous request never learns the body's shape. The
        # wrapper checks again when called; the checks are cheap and pure.
        guards: list[Callable[[Request], Any]] = []
        wrapped: Any = self.func
        while wrapped is not None:
            check = getattr(wrapped, "__oakling_guard__", None)
            if check is not None and check not in guards:
                guards.append(check)
            wrapped = getattr(wrapped, "__wrapped__", None)
        self.guards = tuple(guards)
        model = response_model(self.func) if route.response_model is ... else route.response_model
        self.call = self.func if model is None else with_response_model(self.func, model)
        self.extractor: Extractor = route.extractors[method]
        if set(path_params) != set(route.compiled.converters):
            # NOTE: the router prefix adds path parameters of its own.
            self.extractor = compile_extractor(
                self.func, path_params, skip_first=self.view_class is not None
            )
        self.is_async = self.extractor.is_async
        # PERF: handlers taking nothing skip the extractor and its context.
        self.trivial = self.extractor.only_path and not self.extractor.path
        self.status_code = route.status_code
        self.response_class = route.response_class
        self.limits = app.limits
        # NOTE: the app's response start hooks (see App.add_response_start_hook).
        self.hooked = bool(app.response_start_hooks)

        def hooks_of(router: Any) -> list[tuple[Callable[..., Any], int]]:
            found: list[tuple[Callable[..., Any], int]] = []
            for func in router.before_request_funcs:
                if func in router.before_request_factories:
                    # PERF: a per-route hook is chosen here, once.
                    hook = func(route, method, chain)
                    if hook is not None:
                        found.append((hook, _arity(hook)))
                elif method in router.before_request_methods.get(func, (method,)):
                    found.append((func, _arity(func)))
            return found

        wide = app._app_wide_hooks()
        # NOTE: the app's own hooks, then routers' app-wide ones (Flask's
        # before_app_request), then those of the route's routers.
        self.before = hooks_of(chain[0])
        self.before += [
            (func, _arity(func)) for func, only in wide.before if only is None or method in only
        ]
        for router in chain[1:]:
            self.before += hooks_of(router)
        self.after = [
            (func, _arity(func))
            for router in reversed(chain)
            for func in router.after_request_funcs
        ]
        self.after += [(func, _arity(func)) for func in wide.after]
        simple = not self.before and not self.after and self.view_class is None and not self.guards
        self.fast = self.trivial and simple
        # PERF: a handler taking exactly the path's parameters, already of the
        # converters' types, is called with the matched dict itself.
        self.path_only = (
            simple
            and not self.trivial
            and self.extractor.only_path
            and {field.name for field in self.extractor.path} == set(path_params)
            and all(
                not field.convert or field.annotation is route_types.get(field.name)
                for field in self.extractor.path
            )
        )
        # NOTE: one thread per sync request (see _threaded): the leading
        # async hooks and the body on the loop, the rest in one thread.
        self.threaded = not self.is_async and not (self.fast or self.path_only)
        self.lead = 0
        while self.lead < len(self.before) and is_async_callable(self.before[self.lead][0]):
            self.lead += 1
        self.preread = body_source(self.extractor) if self.threaded else None
        # PERF: the leading async dependencies of a sync handler without sync
        # hooks or guards before them (the auth battery's ``CurrentUser``)
        # are resolved on the loop before the hop, as they would be first in
        # the thread, saving a round trip each.
        prefetch: list[Depends] = []
        if self.threaded and self.lead == len(self.before) and not self.guards:
            for _, dependency in self.extractor.dependencies:
                sub = self.extractor.sub_extractors.get(dependency.func)
                if (
                    sub is None
                    or not sub.is_async
                    or not dependency.use_cache
                    or sub.dependencies
                    or sub.body
                    or sub.form
                ):
                    break
                prefetch.append(dependency)
        self.prefetch = tuple(prefetch)
        self.error_chain: ErrorChain = [
            router.error_handlers for router in reversed(chain) if router.error_handlers
        ]
        if wide.errors:
            self.error_chain.append(wide.errors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request on this route."""
        if self.fast or self.path_only:
            # PERF: no parameters but the path's, no hooks or view: no Request
            # object unless it fails.
            try:
                scope["endpoint"] = self.func
                func = self.call
                if self.fast:
                    result = (
                        await func()
                        if self.is_async
                        else await _run_in_request_thread(serve_sync_fast, scope, func, {})
                    )
                else:
                    params = scope["path_params"]
                    result = (
                        await func(**params)
                        if self.is_async
                        else await _run_in_request_thread(serve_sync_fast, scope, func, params)
                    )
                if not isinstance(result, Response):
                    result = to_response(result, self.status_code, self.response_class)
            except Exception as ex:  # noqa: BLE001 - every error becomes a response
                await self._fail(scope, receive, send, Request(scope, receive, self.limits), ex)
                return
            if type(result).__call__ is _SEND_WHOLE:
                # PERF: a body in memory is sent here, saving a coroutine.
                if self.hooked and type(send) is partial and send.func is _hooked_send:
                    # PERF: the app's start hooks run here, and both messages
                    # go to the server's send without the wrapper's calls.
                    headers = list(result.raw_headers)
                    for hook in send.args[1]:
                        hook(scope, headers)
                    send = send.args[2]
                else:
                    headers = result.raw_headers
                await send(
                    {
                        "type": "http.response.start",
                        "status": result.status_code,
                        "headers": headers,
                    }
                )
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"" if scope["method"] == "HEAD" else result.body,
                    }
                )
                if result.background is not None:
                    await result.background()
                return
            await result(scope, receive, send)
            return
        request = Request(scope, receive, self.limits)
        reraise: BaseException | None = None
        if self.threaded:
            response, reraise = await self._respond_threaded(request)
            await response(scope, receive, send)
            if request._form is not None:
                await request.close()
            if reraise is not None:
                raise reraise
            return
        try:
            response = await self._respond(request)
        except Exception as ex:  # noqa: BLE001 - every error becomes a response
            response, reraise = await self.app.error_response(request, ex, self.error_chain)
            if self.after:
                # NOTE: Flask runs after_request on error handlers' responses too.
                try:
                    response = await self._after(request, response)
                except Exception:  # noqa: BLE001 - keep the error response already made
                    self.app.log_exception(scope)
        await response(scope, receive, send)
        if request._form is not None:
            await request.close()
        if reraise is not None:
            raise reraise

    async def _fail(
        self, scope: Scope, receive: Receive, send: Send, request: Request, ex: Exception
    ) -> None:
        response, reraise = await self.app.error_response(request, ex, self.error_chain)
        await response(scope, receive, send)
        if reraise is not None:
            raise reraise

    async def _respond(self, request: Request) -> Response:
        # NOTE: before_request hooks and dependencies may ask which handler
        # they serve (Starlette's key): a CSRF exemption is a mark on it.
        request.scope["endpoint"] = self.func
        if self.before:
            for func, arity in self.before:
                early = await _call(func, request) if arity else await _call(func)
                if early is not None:
                    return await self._after(request, to_response(early))
        for check in self.guards:
            check(request)
        # NOTE: an async handler here; a sync one is served by _respond_threaded.
        func = self.call
        if self.trivial:
            if self.view_class is not None:
                result = await func(self.view_class())
            else:
                result = await func()
            response = (
                result
                if isinstance(result, Response)
                else to_response(result, self.status_code, self.response_class)
            )
        else:
            ctx = new_context(self.app.dependency_overrides or None)
            try:
                kwargs = await self.extractor(request, ctx)
                if self.view_class is not None:
                    result = await func(self.view_class(), **kwargs)
                else:
                    result = await func(**kwargs)
                response = (
                    result
                    if isinstance(result, Response)
                    else to_response(result, self.status_code, self.response_class)
                )
            except BaseException as ex:
                if ctx.stack is not None:
                    await ctx.stack.__aexit__(type(ex), ex, ex.__traceback__)
                raise
            if ctx.stack is not None:
                # NOTE: a yield dependency's cleanup may read request.response
                # (a transaction rolls back on a 5xx it did not raise).
                request.response = response
                await ctx.stack.__aexit__(None, None, None)
            if ctx.background is not None and response.background is None:
                response.background = ctx.background
        if self.after:
            response = await self._after(request, response)
        return response

    async def _respond_threaded(self, request: Request) -> tuple[Response, BaseException | None]:
        request.scope["endpoint"] = self.func
        ctx = new_context(self.app.dependency_overrides or None)
        early: Any = None
        failure: Exception | None = None
        try:
            for index in range(self.lead):
                func, arity = self.before[index]
                early = await func(request) if arity else await func()
                if early is not None:
                    break
        except Exception as ex:  # noqa: BLE001 - answered in the thread, after hooks included
            failure = ex
        if early is None and failure is None and self.prefetch:
            try:
                for dependency in self.prefetch:
                    if ctx.overrides and dependency.func in ctx.overrides:
                        break  # NOTE: the override may be sync: resolved in the thread
                    await self.extractor._resolve(dependency, request, ctx)
            except RequestValidationError:
                pass  # NOTE: resolved again in the thread, its errors listed with the rest
            except Exception as ex:  # noqa: BLE001 - answered in the thread, after hooks included
                failure = ex
        if early is None and failure is None and self.preread is not None:
            # PERF: the body is read on the loop, not by a waiting thread; an
            # error is raised where the parameters would have read it.
            try:
                await (request.form() if self.preread == "form" else request.body())
            except Exception as ex:  # noqa: BLE001 - raised in order, in the thread
                ctx.read_error = ex
        from asyncio import get_running_loop

        return await _run_in_request_thread(
            serve,
            self,
            request,
            ctx,
            portal_to(get_running_loop()),
            self.lead,
            early,
            failure,
        )

    async def _after(self, request: Request, response: Response) -> Response:
        for func, arity in self.after:
            result = (
                await _call(func, request, response) if arity >= 2 else await _call(func, response)
            )
            if result is not None:
                response = result
        return response


class WebSocketHandler:
    """One WebSocket route, prepared."""

    __slots__ = ("app", "before", "extractor", "func")

    def __init__(
        self,
        app: App,
        route: WebSocketRoute,
        chain: tuple[Router, ...],
        path_params: frozenset[str],
    ) -> None:
        self.app = app
        self.func = route.endpoint
        # NOTE: the full path's parameters: a router prefix adds its own.
        self.extractor = compile_extractor(self.func, path_params)
        self.before = [
            (func, _arity(func)) for router in chain for func in router.before_websocket_funcs
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection on this route."""
        websocket = WebSocket(scope, receive, send)
        scope["endpoint"] = self.func
        ctx = new_context(self.app.dependency_overrides or None)
        try:
            for func, arity in self.before:
                await (_call(func, websocket) if arity else _call(func))
            kwargs = await self.extractor(websocket, ctx)  # type: ignore[arg-type]
            await self.func(**kwargs)
            if ctx.stack is not None:
                await ctx.stack.__aexit__(None, None, None)
        except WebSocketDisconnect:
            pass  # NOTE: the client left; a normal end, not an error to log.
        except WebSocketException as ex:
            await websocket.close(ex.code, ex.reason)
        except HTTPException as ex:
            # NOTE: before accept, an HTTP error maps to a policy-violation close.
            await _close_quietly(websocket, 1008, str(ex.detail)[:120])
        except Exception:
            await _close_quietly(websocket, 1011, "")
            self.app.log_exception(scope)
            if scope.get("oakling.raise_server_exceptions"):
                raise


async def _close_quietly(websocket: WebSocket, code: int, reason: str) -> None:
    from oakling.websockets import WebSocketState

    if websocket.application_state is not WebSocketState.DISCONNECTED:
        try:
            await websocket.close(code, reason)
        except Exception:  # noqa: BLE001, S110 - the peer may be gone already
            pass


class _AutoOptions:
    """Answers OPTIONS for a path with its ``Allow`` list (RFC 9110 section 9.3.7)."""

    __slots__ = ("allow",)

    def __init__(self, allow: str) -> None:
        self.allow = allow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the OPTIONS request."""
        await Response(None, 204, {"allow": self.allow})(scope, receive, send)


Methods = dict[str, ASGIApp]
# PERF: a parameterised path prepared for matching: the bound regex match,
# ``(name, convert)`` pairs in path order, and the path's methods.
_Matcher = tuple[
    Callable[[str], "re.Match[str] | None"], tuple[tuple[str, Callable[[str], Any]], ...], Methods
]


def _match_group(group: list[_Matcher], path: str) -> tuple[Methods, dict[str, Any]] | None:
    for match_path, converters, methods in group:
        match = match_path(path)
        if match is None:
            continue
        # PERF: a plain loop, not a comprehension (no extra frame).
        params: dict[str, Any] = {}
        try:
            for name, convert in converters:
                params[name] = convert(match[name])
        except ValueError:
            continue
        return methods, params
    return None


class RouteTable:
    """Routes compiled for matching: static dict, parameterised groups, mounts."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.static: dict[str, Methods] = {}
        self.dynamic: dict[str, list[_Matcher]] = {}
        self.dynamic_any: list[_Matcher] = []
        self.ws_static: dict[str, ASGIApp] = {}
        self.ws_dynamic: list[tuple[CompiledPath, ASGIApp]] = []
        self.mounts: list[Mount] = []
        self.names: dict[str, CompiledPath | Mount] = {}
        self._paths: dict[str, tuple[CompiledPath, Methods]] = {}
        self.rows: list[tuple[str, str, str, str]] = []

    def add(
        self,
        route: Route | WebSocketRoute | Mount,
        prefix: str,
        namespace: str,
        chain: tuple[Router, ...],
    ) -> None:
        """Compile one route found by ``Router.walk`` into the table."""
        if isinstance(route, Mount):
            mount = Mount(prefix + route.path, route.app, name=route.name)
            self.mounts.append(mount)
            self.mounts.sort(key=lambda item: len(item.path), reverse=True)
            if route.name:
                self.names[namespace + route.name] = mount
            self.rows.append(
                (
                    "*",
                    mount.path + "/{path}",
                    namespace + (route.name or ""),
                    type(route.app).__name__,
                )
            )
            return
        full_path = prefix + route.path
        compiled = compile_path(full_path, route.hints) if prefix else route.compiled
        name = namespace + route.name
        existing = self.names.get(name)
        if existing is not None and (
            not isinstance(existing, CompiledPath) or existing.path != compiled.path
        ):
            raise ImproperlyConfigured(f"two routes are named {name!r}; give one of them name=...")
        self.names[name] = compiled
        if isinstance(route, WebSocketRoute):
            ws_handler = WebSocketHandler(self.app, route, chain, frozenset(compiled.converters))
            if compiled.regex is None:
                self.ws_static[compiled.path] = ws_handler
            else:
                self.ws_dynamic.append((compiled, ws_handler))
            self.rows.append(("WS", compiled.path, name, _qualname(route.endpoint)))
            return
        slot = self._paths.get(compiled.path)
        if slot is None:
            methods: Methods = {}
            slot = self._paths[compiled.path] = (compiled, methods)
            if compiled.regex is None:
                self.static[compiled.path] = methods
            else:
                first = compiled.first_segment
                group = self.dynamic_any if not first else self.dynamic.setdefault(first, [])
                converters = tuple(
                    (param, conv.convert) for param, conv in compiled.converters.items()
                )
                group.append((compiled.regex.match, converters, methods))
        methods = slot[1]
        for method in route.methods:
            handler: ASGIApp = RouteHandler(
                self.app, route, method, chain, frozenset(compiled.converters)
            )
            # NOTE: a route's own middleware (its handler's, then the route
            # option's) is closest to the handler; then its routers', the
            # innermost router's first.
            func = route.handler_for(method)
            for spec in reversed([*route.middleware, *getattr(func, "__oakling_middleware__", ())]):
                handler = spec.build(handler)
            for router in reversed(chain):
                for spec in reversed(router.middleware):
                    handler = spec.build(handler)
            methods[method] = handler
        self.rows.append(
            (
                ",".join(route.methods),
                compiled.path,
                name,
                _qualname(route.handler_for(route.methods[0]) if route.methods else route.endpoint),
            )
        )

    def finish(self) -> None:
        """Add HEAD (served by GET) and automatic OPTIONS to every path."""
        for _, methods in self._paths.values():
            if "GET" in methods and "HEAD" not in methods:
                methods["HEAD"] = methods["GET"]
            if "OPTIONS" not in methods:
                allow = ", ".join(sorted({*methods, "OPTIONS"}))
                methods["OPTIONS"] = _AutoOptions(allow)

    # -- matching -----------------------------------------------------------

    def match_path(self, path: str) -> tuple[Methods, dict[str, Any]] | None:
        """Return the methods and converted params for ``path``, or None."""
        methods = self.static.get(path)
        if methods is not None:
            return methods, {}
        group = self.dynamic.get(path[1:].partition("/")[0])
        if group is not None:
            found = _match_group(group, path)
            if found is not None:
                return found
        if self.dynamic_any:
            return _match_group(self.dynamic_any, path)
        return None

    async def dispatch_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route an HTTP request that missed the static fast path."""
        path: str = scope["path"]
        method: str = scope["method"]
        found = self.match_path(path)
        if found is not None:
            methods, params = found
            scope["path_params"] = params
            handler = methods.get(method)
            if handler is not None:
                await handler(scope, receive, send)
                return
            if _TOKEN_RE.fullmatch(method) is None:
                await self.app.send_error(
                    scope, receive, send, HTTPException(400, "Invalid HTTP method")
                )
                return
            allow = ", ".join(sorted(methods))
            await self.app.send_error(
                scope, receive, send, HTTPException(405, headers={"Allow": allow})
            )
            return
        for mount in self.mounts:
            prefix = mount.path
            if path == prefix or path.startswith(prefix + "/") or not prefix:
                child = dict(scope)
                child["root_path"] = scope.get("root_path", "") + prefix
                child["path"] = path[len(prefix) :] or "/"
                try:
                    await mount.app(child, receive, send)
                except HTTPException as ex:
                    await self.app.send_error(scope, receive, send, ex)
                return
        if self.app.redirect_slashes and path != "/":
            other = path[:-1] if path.endswith("/") else path + "/"
            # SECURITY: "//evil.example" would be a protocol-relative redirect.
            if not other.startswith("//") and self.match_path(other) is not None:
                location = scope.get("root_path", "") + quote(other, safe="/:@!$&'()*+,;=-._~%")
                query = scope.get("query_string", b"")
                if query:
                    location += "?" + query.decode("latin-1")
                await RedirectResponse(location, 308)(scope, receive, send)
                return
        if path == STYLESHEET_PATH and method in ("GET", "HEAD"):
            # NOTE: the default error pages' CSS, so they pass a CSP of
            # 'self'; only reached by paths that matched nothing else.
            await send_stylesheet(scope, receive, send)
            return
        await self.app.send_error(scope, receive, send, HTTPException(404))

    async def dispatch_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route a WebSocket connection; unknown paths are closed (1008)."""
        path: str = scope["path"]
        handler = self.ws_static.get(path)
        if handler is not None:
            scope["path_params"] = {}
            await handler(scope, receive, send)
            return
        for compiled, handler in self.ws_dynamic:
            match = compiled.regex.match(path)  # type: ignore[union-attr]
            if match is None:
                continue
            try:
                scope["path_params"] = {
                    name: conv.convert(match.group(name))
                    for name, conv in compiled.converters.items()
                }
            except ValueError:
                continue
            await handler(scope, receive, send)
            return
        for mount in self.mounts:
            if path == mount.path or path.startswith(mount.path + "/"):
                child = dict(scope)
                child["root_path"] = scope.get("root_path", "") + mount.path
                child["path"] = path[len(mount.path) :] or "/"
                await mount.app(child, receive, send)
                return
        await receive()
        await send(
            {"type": "websocket.close", "code": 1008, "reason": "No WebSocket route matches"}
        )

    def url_path_for(self, name: str, params: dict[str, Any]) -> str:
        """Return the path of route ``name`` with ``params`` (extras become the query).

        Raises:
            NoMatchFound: For an unknown name or parameters that don't fit.
        """
        return build_path(self.names, name, params)


def route_names(app: App) -> dict[str, CompiledPath | Mount]:
    """Return ``{name: compiled path or mount}`` for ``app`` without building it.

    ``url_for`` at module level, before the app starts, reads names from
    here, so it neither builds the app early nor misses routes added later.
    """
    names: dict[str, CompiledPath | Mount] = {}
    for route, prefix, namespace, _ in app.walk():
        if isinstance(route, Mount):
            if route.name:
                names[namespace + route.name] = Mount(
                    prefix + route.path, route.app, name=route.name
                )
        else:
            names[namespace + route.name] = (
                compile_path(prefix + route.path, route.hints) if prefix else route.compiled
            )
    return names


def build_path(names: dict[str, CompiledPath | Mount], name: str, params: dict[str, Any]) -> str:
    """Return the path of ``name`` among ``names``; ``params`` is consumed.

    Flask's dotted names (``auth.login``) are accepted for ``auth:login``
    when no route bears the dotted name itself. A mount takes the file's
    path as ``path=`` (Starlette) or ``filename=`` (Flask's ``static``);
    other parameters go into the query string, as for routes and as in
    Flask; None values are left out.

    Raises:
        NoMatchFound: For an unknown name, a missing or unconvertible path
            parameter, or a mount given both ``path`` and ``filename``.
    """
    target = names.get(name)
    if target is None and "." in name:
        target = names.get(name.replace(".", ":"))
    if target is None:
        raise NoMatchFound(f"no route named {name!r}")
    if isinstance(target, CompiledPath):
        return target.build(params)
    if "path" in params and "filename" in params:
        raise NoMatchFound(
            f"mount {name!r} takes the file as path= or filename=, not both "
            f"(got path={params['path']!r}, filename={params['filename']!r})"
        )
    sub = params.pop("filename") if "filename" in params else params.pop("path", "")
    url = target.path + "/" + quote(str(sub or "").lstrip("/"), safe="/:@!$&'()*+,;=-._~")
    query = {key: value for key, value in params.items() if value is not None}
    if query:
        url += "?" + urlencode(query, doseq=True)
    return url


def _qualname(func: Any) -> str:
    module = getattr(func, "__module__", "") or ""
    return f"{module}.{getattr(func, '__qualname__', repr(func))}".lstrip(".")
