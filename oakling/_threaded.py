"""One thread per sync request: a sync handler's pieces run in one worker thread.

A route whose handler is a plain ``def`` is served like this (Flask's and
Django's model, where a request is one thread):

1. on the event loop: the leading ``async def`` before_request hooks, then
   the body (or form) the handler's parameters read, so that no thread
   waits for the network;
2. one hop to a worker thread, which runs the rest in order: the remaining
   before_request hooks, the route's guards (``@login_required``), the
   dependencies, the handler, the ``yield`` dependencies' cleanup and the
   after_request hooks, and the error handlers' path if any piece raises.

Sync pieces are called directly in that thread, so they share one
thread-local state (a ``sqlite3`` connection opened in a hook works in the
handler) and one :mod:`contextvars` context (a variable set in a hook is
seen by the handler). An ``async def`` piece met in the thread (an async
dependency, hook or error handler) is sent back to the loop and awaited
there (a "portal", as anyio's ``from_thread.run``), so async code never runs
outside the loop. The request's thread waits meanwhile, as Django's
``async_to_sync`` does.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from oakling.exceptions import RequestValidationError
from oakling.params import Depends, Extractor, _Context
from oakling.requests import Request
from oakling.responses import Response, to_response

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop

    from oakling._dispatch import RouteHandler
    from oakling.types import Scope

__all__ = [
    "Portal",
    "body_source",
    "extract",
    "is_async_callable",
    "portal_to",
    "serve",
    "serve_sync_fast",
]

Portal = Callable[[Awaitable[Any]], Any]


def is_async_callable(func: Any) -> bool:
    """Return whether calling ``func`` gives a coroutine (an ``async def`` or its object)."""
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - an object whose __call__ is async
    )


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def portal_to(loop: AbstractEventLoop) -> Portal:
    """Return a function that runs an awaitable on ``loop`` and waits for its result.

    Called from the request's worker thread only; the awaitable runs in a
    task on the loop with a copy of the thread's context, and its
    exception, if any, is raised in the thread.
    """
    from asyncio import run_coroutine_threadsafe

    def portal(awaitable: Awaitable[Any]) -> Any:
        coro: Coroutine[Any, Any, Any] = (
            awaitable if inspect.iscoroutine(awaitable) else _awaited(awaitable)
        )
        return run_coroutine_threadsafe(coro, loop).result()

    return portal


def _call(portal: Portal, func: Callable[..., Any], *args: Any) -> Any:
    result = func(*args)
    if inspect.isawaitable(result):
        result = portal(result)
    return result


def serve_sync_fast(scope: Scope, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Call a fast-path sync handler in its thread (this frame holds the scope).

    NOTE: ``oakling.globals.request_on_stack`` finds the request here, so
    ``flash()`` without a request works in a sync handler taking nothing.
    """
    return func(**kwargs)


def serve(
    handler: RouteHandler,
    request: Request,
    ctx: _Context,
    portal: Portal,
    start: int,
    early: Any,
    failure: Exception | None,
) -> tuple[Response, BaseException | None]:
    """Serve the rest of a sync request in this (worker) thread.

    Args:
        handler: The route's prepared handler.
        request: The request, its body already read when the parameters need it.
        ctx: The resolution context (dependency cache, cleanups).
        portal: Runs an awaitable on the loop and returns its result.
        start: How many before_request hooks already ran on the loop.
        early: A response a hook on the loop returned, or None.
        failure: An exception a hook on the loop raised, or None.

    Returns:
        The response, and an exception to re-raise once it is sent (as
        ``App.error_response`` gives).
    """
    try:
        if failure is not None:
            raise failure
        if early is not None:
            return _after(handler, request, to_response(early), portal), None
        return _respond(handler, request, ctx, portal, start), None
    except Exception as ex:  # noqa: BLE001 - every error becomes a response
        response: Response
        response, reraise = portal(handler.app.error_response(request, ex, handler.error_chain))
        if handler.after:
            # NOTE: Flask runs after_request on error handlers' responses too.
            try:
                response = _after(handler, request, response, portal)
            except Exception:  # noqa: BLE001 - keep the error response already made
                handler.app.log_exception(request.scope)
        return response, reraise


def _respond(
    handler: RouteHandler, request: Request, ctx: _Context, portal: Portal, start: int
) -> Response:
    before = handler.before
    for index in range(start, len(before)):
        func, arity = before[index]
        early = _call(portal, func, request) if arity else _call(portal, func)
        if early is not None:
            return _after(handler, request, to_response(early), portal)
    for check in handler.guards:
        check(request)
    func = handler.call
    view = (handler.view_class(),) if handler.view_class is not None else ()
    if handler.trivial:
        result = func(*view)
        response = (
            result
            if isinstance(result, Response)
            else to_response(result, handler.status_code, handler.response_class)
        )
    else:
        try:
            kwargs = extract(handler.extractor, request, ctx, portal)
            result = func(*view, **kwargs)
            response = (
                result
                if isinstance(result, Response)
                else to_response(result, handler.status_code, handler.response_class)
            )
        except BaseException as ex:
            if ctx.exits is not None:
                ctx.exits.__exit__(type(ex), ex, ex.__traceback__)
            raise
        if ctx.exits is not None:
            # NOTE: a yield dependency's cleanup may read request.response
            # (a transaction rolls back on a 5xx it did not raise).
            request.response = response
            ctx.exits.__exit__(None, None, None)
        if ctx.background is not None and response.background is None:
            response.background = ctx.background
    if handler.after:
        response = _after(handler, request, response, portal)
    return response


def _after(handler: RouteHandler, request: Request, response: Response, portal: Portal) -> Response:
    for func, arity in handler.after:
        result = (
            _call(portal, func, request, response) if arity >= 2 else _call(portal, func, response)
        )
        if result is not None:
            response = result
    return response


def extract(extractor: Extractor, conn: Request, ctx: _Context, portal: Portal) -> dict[str, Any]:
    """Return ``extractor``'s keyword arguments, resolved in this thread.

    The thread's twin of ``Extractor.__call__``: the same values, errors and
    order (parameters, dependencies, then body or form); sync dependencies
    are called here, async ones through ``portal``.

    Raises:
        RequestValidationError: Listing every invalid or missing value.
    """
    errors: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    if extractor.reads_params:
        extractor._read_params(conn, ctx, values, errors)
    for name, dependency in extractor.dependencies:
        try:
            values[name] = _resolve(extractor, dependency, conn, ctx, portal)
        except RequestValidationError as ex:
            errors.extend(error for error in ex.errors if error not in errors)
    if extractor.body:
        extractor.check_json_type(conn)
        if ctx.read_error is not None:
            raise ctx.read_error
        body = conn._body if conn._body is not None else portal(conn.body())
        extractor.decode_body(body, values, errors)
    if extractor.form:
        if ctx.read_error is not None:
            raise ctx.read_error
        form = conn._form if conn._form is not None else portal(conn.form())
        extractor.form_values(form, values, errors)
    if errors:
        raise RequestValidationError(errors)
    return values


def _resolve(
    extractor: Extractor, dependency: Depends, conn: Request, ctx: _Context, portal: Portal
) -> Any:
    func = dependency.func
    if ctx.overrides:
        func = ctx.overrides.get(func, func)
    if dependency.use_cache and func in ctx.cache:
        return ctx.cache[func]
    sub = extractor.sub_extractors.get(func)
    if sub is None:
        # NOTE: an override compiled on first use, then kept.
        sub = extractor.sub_extractors[func] = Extractor(
            func, frozenset(conn.scope.get("path_params", ()))
        )
    kwargs = extract(sub, conn, ctx, portal)
    if sub.is_gen or sub.is_async_gen:
        if ctx.exits is None:
            ctx.exits = contextlib.ExitStack()
        if sub.is_gen:
            value = ctx.exits.enter_context(contextlib.contextmanager(func)(**kwargs))
        else:
            manager = contextlib.asynccontextmanager(func)(**kwargs)
            value = portal(manager.__aenter__())
            ctx.exits.push(lambda *exc_info: portal(manager.__aexit__(*exc_info)))
    elif sub.is_async:
        value = portal(func(**kwargs))
    else:
        value = func(**kwargs)
    if dependency.use_cache:
        ctx.cache[func] = value
    return value


def body_source(extractor: Extractor) -> str | None:
    """Return ``"form"`` or ``"body"`` if the handler's parameters read one, else None."""
    source = None
    for item in extractor._walk(set()):
        if item.form:
            return "form"
        if item.body:
            source = "body"
    return source
