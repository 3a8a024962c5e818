"""Running blocking code without blocking the event loop."""

from __future__ import annotations

import contextvars
import functools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["iterate_in_threadpool", "run_in_threadpool", "set_thread_pool_size"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

# NOTE: one pool for the process, sized like anyio's default limiter (40), so
# sync handlers behave as they do under Starlette/FastAPI.
_executor: ThreadPoolExecutor | None = None
# NOTE: the threads that serve sync handlers (with their hooks, dependencies
# and cleanup, in one thread) are a pool of their own: such a thread may wait
# for a piece on the loop that needs ``run_in_threadpool``, which must then
# find a free thread (one pool would deadlock when every thread waits).
_request_executor: ThreadPoolExecutor | None = None
_pool_size = 40


def set_thread_pool_size(size: int) -> None:
    """Set how many threads run sync handlers (call before the first request).

    The size applies to each of the two pools: the one of
    :func:`run_in_threadpool` and the one serving sync requests
    (``oakling._threaded``).
    """
    global _executor, _request_executor, _pool_size
    if size == _pool_size:
        return
    _pool_size = size
    for executor in (_executor, _request_executor):
        if executor is not None:
            executor.shutdown(wait=False)
    _executor = _request_executor = None


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        from concurrent.futures import ThreadPoolExecutor

        _executor = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="oakling")
    return _executor


def _get_request_executor() -> ThreadPoolExecutor:
    global _request_executor
    if _request_executor is None:
        from concurrent.futures import ThreadPoolExecutor

        _request_executor = ThreadPoolExecutor(
            max_workers=_pool_size, thread_name_prefix="oakling-request"
        )
    return _request_executor


def _get_running_loop() -> AbstractEventLoop:
    # PERF: asyncio is imported on the first sync handler's call, not with
    # oakling (a server has imported it by then anyway); the name is then
    # rebound to asyncio's own function.
    global _get_running_loop
    import asyncio

    _get_running_loop = asyncio.get_running_loop
    return asyncio.get_running_loop()


async def run_in_threadpool(func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run ``func`` in the thread pool and await its result.

    Context variables are copied into the thread, so a sync handler sees what
    middleware set.
    """
    loop = _get_running_loop()
    context = contextvars.copy_context()
    call = functools.partial(context.run, func, *args, **kwargs)
    return await loop.run_in_executor(_get_executor(), call)


async def _run_in_request_thread(func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run ``func`` in a thread of the sync-request pool and await its result.

    As :func:`run_in_threadpool` (the context is copied), but on the pool
    whose threads serve a whole sync request and may wait for the loop
    (see ``oakling._threaded``).
    """
    loop = _get_running_loop()
    context = contextvars.copy_context()
    call = functools.partial(context.run, func, *args, **kwargs)
    return await loop.run_in_executor(_get_request_executor(), call)


_STOP = object()


def _next_or_stop(iterator: Iterator[_T]) -> Any:
    try:
        return next(iterator)
    except StopIteration:
        return _STOP


async def iterate_in_threadpool(iterable: Iterable[_T]) -> AsyncIterator[_T]:
    """Iterate a blocking iterable, each ``next()`` in the thread pool."""
    iterator = iter(iterable)
    while True:
        item = await run_in_threadpool(_next_or_stop, iterator)
        if item is _STOP:
            break
        yield item
