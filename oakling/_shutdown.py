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
from typing import Any

_future: asyncio.Future[None] | None = None
_loop: asyncio.AbstractEventLoop | None = None


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
            _begin_from_signal(loop)
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL and signum == signal.SIGINT:
                raise KeyboardInterrupt

        try:
            signal.signal(sig, _handler)
        except (ValueError, OSError):  # pragma: no cover - not the main thread
            return False
    return True


def _begin_from_signal(loop: asyncio.AbstractEventLoop) -> None:
    """Begin shutdown from a signal handler, at once when it interrupts ``loop``.

    Python runs signal handlers in the main thread, which is the loop's, so
    while the loop runs the future can be completed right here, a loop
    iteration before the server's own handler (granian's, registered with
    ``loop.add_signal_handler``) reacts and drops open WebSockets without a
    close frame. Otherwise the loop is woken as usual.
    """
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop and not loop.is_closed():
        begin_shutdown()
    else:
        loop.call_soon_threadsafe(begin_shutdown)
