"""Test clients for any ASGI 3 app: HTTP, WebSockets and lifespan, in memory.

:class:`TestClient` is an :class:`httpx.Client` for plain (sync) test
functions. The app runs on an asyncio event loop in a background thread::

    from oakling.testing import TestClient

    def test_chat():
        with TestClient(app) as client:  # runs the lifespan startup
            assert client.get("/").status_code == 200
            with client.websocket_connect("/chat") as ws:
                ws.send_text("hi")
                assert ws.receive_text() == "hi"
        # the lifespan shutdown has run here

:class:`AsyncClient` is an :class:`httpx.AsyncClient` running the app on the
test's own event loop, for ``async def`` tests::

    async with AsyncClient(app) as client:
        response = await client.get("/")

Both talk to the app directly (no sockets), pass lifespan state to every
request, and re-raise the app's exceptions in the test unless built with
``raise_server_exceptions=False``. They work with any ASGI 3 app; oakling's
:class:`~oakling.App` reads the scope key ``"oakling.raise_server_exceptions"``
to let its server errors through to the test.
"""

from __future__ import annotations

import base64
import concurrent.futures
import os
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Self

import click
import httpx
from click.testing import CliRunner, Result

from oakling._testclient import (
    CSRFTokenFiller,
    WebSocketDenied,
    WebSocketTestSession,
    _AsyncTransport,
    _Connection,
    _Cookies,
    _default_headers,
    _Headers,
    _hold_lifespan,
    _Lifespan,
    _scope,
    _SyncTransport,
)
from oakling.types import ASGIApp

__all__ = [
    "AppCliRunner",
    "AsyncClient",
    "TestClient",
    "WebSocketDenied",
    "WebSocketTestSession",
]


class TestClient(httpx.Client):
    """An httpx client sending requests to an ASGI app in memory.

    Entered with ``with``, it runs the app's lifespan startup (and shutdown
    on exit); without ``with``, requests work but no lifespan runs. The app
    runs on an asyncio loop in a background thread, started on first use and
    stopped by :meth:`close` or on exit.

    Each request gets an ASGI ``http`` scope: ``path`` percent-decoded and
    ``raw_path`` as sent, ``root_path`` as given here (``path`` is the URL's
    path, not prefixed with it, as in WSGI), the ``server`` taken from
    ``base_url``, a shallow copy of the lifespan state in ``state``, and
    ``"oakling.raise_server_exceptions"``. The body reaches the app in the
    chunks httpx produced; after it, ``receive()`` blocks until the response
    is complete, then returns ``http.disconnect``. httpx's timeouts don't
    apply: a request waits for the app to finish.

    Args:
        app: Any ASGI 3 app.
        base_url: Scheme, host and port the requests go to.
        raise_server_exceptions: Re-raise the app's exceptions in the test
            (the default). If false, an app failing before it started a
            response gives a 500 with an empty body.
        root_path: The ``root_path`` of every scope (WSGI's ``SCRIPT_NAME``).
        cookies: Cookies to start with; cookies the app sets persist.
        headers: Headers sent with every request (``user-agent`` defaults to
            ``testclient``).
        client: The ``(host, port)`` the app sees as the peer, or None.
        follow_redirects: Follow redirects (unlike httpx's default, and
            unlike Flask's and Django's clients: see docs/testing.md).
        enforce_csrf_checks: Let the csrf battery check this client's
            requests. False by default, as in Django's test client: the
            scope carries ``"oakling.enforce_csrf_checks": False``, which
            the battery reads (no server sets it, so real requests are
            always checked).
        fill_csrf_token: With ``enforce_csrf_checks``, send the CSRF token
            of the last HTML page received (its form's hidden field or
            ``csrf-token`` meta tag) in ``X-CSRF-Token`` with each unsafe
            request that has no token header, as a browser submitting
            that page's form would. False sends exactly what the test says.
    """

    __test__ = False  # NOTE: not a test class, whatever pytest thinks of the name.

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        cookies: _Cookies | None = None,
        headers: _Headers | None = None,
        client: tuple[str, int] | None = ("testclient", 50000),
        follow_redirects: bool = True,
        enforce_csrf_checks: bool = False,
        fill_csrf_token: bool = True,
    ) -> None:
        self.app = app
        self._connection = _Connection(
            app, root_path, client, raise_server_exceptions, {}, enforce_csrf_checks
        )
        self._csrf = CSRFTokenFiller() if enforce_csrf_checks and fill_csrf_token else None
        self._app_transport = _SyncTransport(self._connection)
        self._lifespan: tuple[Future[None], Future[None]] | None = None  # (stop, done)
        super().__init__(
            base_url=base_url,
            headers=_default_headers(headers),
            cookies=cookies,
            transport=self._app_transport,
            follow_redirects=follow_redirects,
        )
        # NOTE: a client never closed still stops its thread once collected.
        weakref.finalize(self, self._app_transport.loop_thread.stop)

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        """Send ``request`` (filling the CSRF token when asked, see the class)."""
        if self._csrf is None:
            return super().send(request, **kwargs)
        self._csrf.before(request)
        response = super().send(request, **kwargs)
        if not kwargs.get("stream"):
            self._csrf.after(response)
        return response

    def __enter__(self) -> Self:
        super().__enter__()
        try:
            self._start_lifespan()
        except BaseException:
            super().__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            self._stop_lifespan()
        finally:
            super().__exit__(exc_type, exc_value, traceback)

    def close(self) -> None:
        """Run the lifespan shutdown if it started, then stop the loop thread."""
        try:
            self._stop_lifespan()
        finally:
            super().close()

    def _start_lifespan(self) -> None:
        started: Future[None] = Future()
        stop: Future[None] = Future()
        done = self._app_transport.loop_thread.submit(
            _hold_lifespan(self._connection, started, stop)
        )
        concurrent.futures.wait((started, done), return_when=concurrent.futures.FIRST_COMPLETED)
        if not started.done():
            done.result()  # raises the startup error
            raise RuntimeError("the lifespan ended before startup completed")
        self._lifespan = (stop, done)

    def _stop_lifespan(self) -> None:
        if self._lifespan is None:
            return
        (stop, done), self._lifespan = self._lifespan, None
        stop.set_result(None)
        done.result()  # raises the shutdown error

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] | None = None,
        headers: _Headers | None = None,
        *,
        timeout: float = 10.0,
    ) -> WebSocketTestSession:
        """Return a WebSocket session to use with ``with``.

        Entering it sends ``websocket.connect`` and waits for the app to
        accept; see :class:`WebSocketTestSession` for what it raises.

        Args:
            url: Path (and query) relative to ``base_url``, or a full URL.
            subprotocols: Subprotocols offered, in order of preference.
            headers: Extra handshake headers; the client's cookies and
                default headers are sent too.
            timeout: Seconds any receive waits for the app before raising
                TimeoutError.

        Raises:
            RuntimeError: If the client is closed.
        """
        if self.is_closed:
            raise RuntimeError("the test client is closed")
        handshake = httpx.Headers(headers)
        handshake.update(
            {
                "connection": "upgrade",
                "upgrade": "websocket",
                "sec-websocket-version": "13",
                "sec-websocket-key": base64.b64encode(os.urandom(16)).decode(),
            }
        )
        if subprotocols:
            handshake["sec-websocket-protocol"] = ", ".join(subprotocols)
        request = self.build_request("GET", url, headers=handshake)
        scope = _scope(request, self._connection, "websocket")
        scope["subprotocols"] = list(subprotocols or ())
        scope["extensions"] = {"websocket.http.response": {}}
        return WebSocketTestSession(
            self.app,
            scope,
            request,
            self._app_transport.loop_thread,
            raise_server_exceptions=self._connection.raise_server_exceptions,
            timeout=timeout,
        )


class AsyncClient(httpx.AsyncClient):
    """An httpx async client sending requests to an ASGI app in memory.

    The app runs on the caller's event loop (asyncio, or anything anyio
    supports). ``async with`` runs its lifespan startup and shutdown, and
    both must happen in the same task; pytest's ``async_client`` fixture
    does that. Scopes are built exactly as :class:`TestClient` builds them.

    It takes the same arguments as :class:`TestClient`.
    """

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        cookies: _Cookies | None = None,
        headers: _Headers | None = None,
        client: tuple[str, int] | None = ("testclient", 50000),
        follow_redirects: bool = True,
        enforce_csrf_checks: bool = False,
        fill_csrf_token: bool = True,
    ) -> None:
        self.app = app
        self._connection = _Connection(
            app, root_path, client, raise_server_exceptions, {}, enforce_csrf_checks
        )
        self._csrf = CSRFTokenFiller() if enforce_csrf_checks and fill_csrf_token else None
        self._lifespan: _Lifespan | None = None
        super().__init__(
            base_url=base_url,
            headers=_default_headers(headers),
            cookies=cookies,
            transport=_AsyncTransport(self._connection),
            follow_redirects=follow_redirects,
        )

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        """Send ``request`` (filling the CSRF token when asked, see TestClient)."""
        if self._csrf is None:
            return await super().send(request, **kwargs)
        self._csrf.before(request)
        response = await super().send(request, **kwargs)
        if not kwargs.get("stream"):
            self._csrf.after(response)
        return response

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        lifespan = _Lifespan(self.app, self._connection.state)
        try:
            await lifespan.__aenter__()
        except BaseException:
            await super().__aexit__(None, None, None)
            raise
        self._lifespan = lifespan
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        lifespan, self._lifespan = self._lifespan, None
        try:
            if lifespan is not None:
                await lifespan.__aexit__(exc_type, exc_value, traceback)
        finally:
            await super().__aexit__(exc_type, exc_value, traceback)


class AppCliRunner(CliRunner):
    """Click's ``CliRunner`` bound to one app: ``app.test_cli_runner()`` (Flask's).

    :meth:`invoke` runs the ``oakling`` command (or ``cli``) with this app as
    the one ``oakling`` would load, so ``runner.invoke(args=["routes"])``
    and the app's own commands (``app.cli_commands``) work without
    ``OAKLING_APP`` or an ``app.py``.
    """

    def __init__(self, app: Any, **kwargs: Any) -> None:
        self.app = app
        super().__init__(**kwargs)

    def invoke(  # type: ignore[override]  # NOTE: Flask's signature: cli may be omitted
        self, cli: click.Command | None = None, args: Any = None, **kwargs: Any
    ) -> Result:
        """Run ``cli`` (default the ``oakling`` command) with ``args``; return the result."""
        from oakling import cli as oakling_cli

        command = cli if cli is not None else oakling_cli.main
        token = oakling_cli.bound_app.set(self.app)
        try:
            return super().invoke(command, args, **kwargs)
        finally:
            oakling_cli.bound_app.reset(token)
