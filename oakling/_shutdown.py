"""Process-wide "the server is stopping" signal that open streams race against.

uvicorn (and gunicorn's uvicorn workers) send ``lifespan.shutdown`` only
after every connection has closed, so an endless stream (server-sent
events) would hold shutdown until the graceful timeout. The app therefore
also learns of SIGTERM/SIGINT by chaining the server's own signal handler
(installed before the lifespan startup), and falls back to the
``lifespan.shutdown`` message for servers that send it first.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import weakref
from typing import Any

_future: asyncio.Future[None] | None = None
_loop: asyncio.AbstractEventLoop | None = None

# NOTE: the tasks that close streams when shutdown begins (oakling.websockets
# adds its 1001 closes). The server's own signal handler runs after them, or
# after _HANDOFF_WAIT seconds: uvicorn's, once it sees its exit flag, closes
# every WebSocket with 1012 in the same loop iteration, and won that race
# against the 1001 about once in a few hundred runs.
closing: set[asyncio.Task[Any]] = set()
_HANDOFF_WAIT = 1.0  # seconds
# NOTE: the tasks serving open WebSockets; the shutdown hooks wait for them
# (up to _HANDOFF_WAIT), so a handler's own cleanup runs before the app's
# (granian sends lifespan.shutdown without waiting for them).
_streams: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


def track_stream() -> None:
    """Have the shutdown hooks wait for the current task (an open stream)."""
    task = asyncio.current_task()
    if task is not None:
        _streams.add(task)


async def wait_for_streams(timeout: float = _HANDOFF_WAIT) -> None:
    """Wait up to ``timeout`` seconds for the tracked streams of this loop to end."""
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    running = {
        task
        for task in list(_streams)
        if task is not current and not task.done() and task.get_loop() is loop
    }
    if running:
        await asyncio.wait(running, timeout=timeout)


def shutdown_future() -> asyncio.Future[None]:
    """Return the loop's future that completes when shutdown begins."""
    global _future, _loop
    loop = asyncio.get_running_loop()
    if _future is None or _loop is not loop:
        _future = loop.create_future()
        _loop = loop
    return _future


def begin_shutdown() -> None:
    """Complete the shutdown future (idempotent; call on the loop)."""
    future = shutdown_future()
    if not future.done():
        future.set_result(None)


def install_signal_hook() -> bool:
    """Chain SIGTERM/SIGINT so the running loop sees shutdown at once.

    Returns:
        True when the hook was installed (main thread only).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    loop = asyncio.get_running_loop()
    shutdown_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def _handler(signum: int, frame: Any, previous: Any = previous) -> None:
            began_here = _begin_from_signal(loop)
            if callable(previous):
                if began_here:
                    loop.create_task(_hand_over(previous, signum, frame))
                else:
                    previous(signum, frame)
            elif previous == signal.SIG_DFL and signum == signal.SIGINT:
                raise KeyboardInterrupt

        try:
            signal.signal(sig, _handler)
        except (ValueError, OSError):  # pragma: no cover - not the main thread
            return False
    return True


async def _hand_over(previous: Any, signum: int, frame: Any) -> None:
    """Run the server's signal handler once the streams' closes are sent."""
    await asyncio.sleep(0)  # the shutdown future's callbacks start the closes
    if closing:
        await asyncio.wait(set(closing), timeout=_HANDOFF_WAIT)
    previous(signum, frame)


def _begin_from_signal(loop: asyncio.AbstractEventLoop) -> bool:
    """Begin shutdown from a signal handler, at once when it interrupts ``loop``.

    Python runs signal handlers in the main thread, which is the loop's, so
    while the loop runs the future can be completed right here, a loop
    iteration before the server's own handler (granian's, registered with
    ``loop.add_signal_handler``) reacts and drops open WebSockets without a
    close frame. Otherwise the loop is woken as usual.

    Returns:
        True when shutdown began here, on the running loop.
    """
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop and not loop.is_closed():
        begin_shutdown()
        return True
    loop.call_soon_threadsafe(begin_shutdown)
    return False
