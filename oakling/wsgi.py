"""Serve an oakling app from a WSGI server (gunicorn, mod_wsgi, uWSGI, waitress).

The ASGI app runs on an event loop in a background thread, driven by the
well-kept a2wsgi adapter; this module adds what a2wsgi leaves out: the app's
lifespan (startup hooks run before the first request, shutdown at exit)::

    # wsgi.py
    from oakling.wsgi import to_wsgi
    from myproject import app

    application = to_wsgi(app)      # gunicorn wsgi:application
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Callable, Iterable
from typing import Any, cast

from oakling.types import ASGIApp, Message

__all__ = ["WSGIAdapter", "to_wsgi"]

StartResponse = Callable[..., Any]


class WSGIAdapter:
    """A WSGI callable wrapping an ASGI app (PEP 3333).

    The loop thread and the lifespan startup begin with the first request
    (or an explicit :meth:`start`), in the process that serves it: a thread
    started at import would not survive the fork of ``gunicorn --preload``.

    Args:
        app: The ASGI app.
        lifespan: Run the app's lifespan startup on start, shutdown at exit.
        startup_timeout: Seconds to wait for startup.
    """

    def __init__(
        self, app: ASGIApp, *, lifespan: bool = True, startup_timeout: float = 30.0
    ) -> None:
        self.app = app
        self.lifespan = lifespan
        self.startup_timeout = startup_timeout
        self._lock = threading.Lock()
        self._wsgi: Any = None
        self._shutdown: asyncio.Queue[Message] | None = None
        self._lifespan_done: Any = None

    def start(self) -> None:
        """Start the loop thread and run the lifespan startup (idempotent).

        Raises:
            RuntimeError: If the app's startup fails (the message says why).
        """
        with self._lock:
            if self._wsgi is not None:
                return
            from a2wsgi import ASGIMiddleware

            self.loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self.loop.run_forever, name="oakling-wsgi-loop", daemon=True
            )
            self._thread.start()
            if self.lifespan:
                self._start_lifespan(self.startup_timeout)
                atexit.register(self.close)
            # NOTE: a2wsgi types ASGI apps more narrowly than the ASGI spec does.
            self._wsgi = ASGIMiddleware(cast(Any, self.app), loop=self.loop)

    def _start_lifespan(self, timeout: float) -> None:
        async def start() -> asyncio.Future[Message]:
            inbox: asyncio.Queue[Message] = asyncio.Queue()
            outbox: asyncio.Queue[Message] = asyncio.Queue()
            self._shutdown = inbox
            scope = {
                "type": "lifespan",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "state": {},
            }
            self._lifespan_done = asyncio.ensure_future(self.app(scope, inbox.get, outbox.put))
            await inbox.put({"type": "lifespan.startup"})
            reply = asyncio.ensure_future(outbox.get())
            await asyncio.wait((reply, self._lifespan_done), return_when=asyncio.FIRST_COMPLETED)
            if not reply.done():
                reply.cancel()
                error = self._lifespan_done.exception()
                raise RuntimeError(f"application startup failed: {error!r}")
            message = reply.result()
            if message["type"] == "lifespan.startup.failed":
                raise RuntimeError(f"application startup failed: {message.get('message', '')}")
            self._outbox = outbox
            return reply

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(timeout)

    def close(self) -> None:
        """Run the lifespan shutdown and stop the loop thread (idempotent)."""
        if self._wsgi is None or not self.loop.is_running():
            return
        if self._shutdown is not None:
            inbox = self._shutdown
            self._shutdown = None

            async def stop() -> None:
                await inbox.put({"type": "lifespan.shutdown"})
                await asyncio.wait_for(self._outbox.get(), 10)

            try:
                asyncio.run_coroutine_threadsafe(stop(), self.loop).result(15)
            except Exception:  # noqa: BLE001 - shutting down anyway
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request."""
        if self._wsgi is None:
            self.start()
        return self._wsgi(environ, start_response)  # type: ignore[no-any-return]


def to_wsgi(app: ASGIApp, *, lifespan: bool = True) -> WSGIAdapter:
    """Return a WSGI callable serving ``app`` (see :class:`WSGIAdapter`)."""
    return WSGIAdapter(app, lifespan=lifespan)
