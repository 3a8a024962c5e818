"""Serve an oakling app natively on granian's RSGI interface.

RSGI (https://github.com/emmett-framework/granian/blob/master/docs/spec/RSGI.md)
is granian's own protocol: the server hands the app a scope object and a
protocol object whose ``response_bytes``/``response_stream``/``response_file``
write the response, with no per-message dicts crossing from Rust to Python.
An :class:`~oakling.App` speaks it directly, so nothing changes but the
command line::

    granian --interface rsgi myproject:app

The same app, handlers, plugins and middleware serve both interfaces: this
adapter turns each RSGI call into one ASGI call of the app, so a pure ASGI
middleware still sees ASGI ``scope``/``receive``/``send``, and lifespan
startup and shutdown hooks run from granian's ``__rsgi_init__`` and
``__rsgi_del__``. ``http.response.pathsend`` (a :class:`~oakling.FileResponse`)
becomes granian's own file sending.

Differences from ASGI that a handler could see: granian percent-decodes the
path before the app sees it and keeps no raw form, so ``scope["raw_path"]``
is the decoded path re-encoded (``%2F`` reads as ``/``, as on most ASGI
servers' ``path``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from oakling._dispatch import _SEND_WHOLE, RouteHandler
from oakling.concurrency import _run_in_request_thread
from oakling.requests import Request
from oakling.responses import Response, to_response
from oakling.signals import request_signals as _request_signals
from oakling.types import ASGIApp, Message, Scope

__all__ = ["RSGIAdapter", "to_rsgi"]

logger = logging.getLogger("oakling.error")

_ASGI_HTTP = {"version": "3.0", "spec_version": "2.4"}
_ASGI_WEBSOCKET = {"version": "3.0", "spec_version": "2.4"}
_EXTENSIONS: dict[str, Any] = {"http.response.pathsend": {}}
_NO_BODY = {"type": "http.request", "body": b"", "more_body": False}
_DISCONNECT = {"type": "http.disconnect"}


_addresses: dict[str, tuple[str, int] | None] = {}


def _address(value: str) -> tuple[str, int] | None:
    """``'127.0.0.1:8000'`` or ``'[::1]:8000'`` as ASGI's ``(host, port)``."""
    host, sep, port = value.rpartition(":")
    address = (host.strip("[]"), int(port)) if sep and port.isdigit() else None
    if len(_addresses) >= 4096:
        _addresses.clear()
    _addresses[value] = address
    return address


_header_strs: dict[tuple[bytes, bytes], tuple[str, str]] = {}
_header_str = _header_strs.get


def _decode_header(pair: tuple[bytes, bytes]) -> tuple[str, str]:
    decoded = (pair[0].decode("latin-1"), pair[1].decode("latin-1"))
    if len(_header_strs) < 512:
        _header_strs[pair] = decoded
    return decoded


def _str_headers(raw: Any) -> list[tuple[str, str]]:
    """ASGI's ``[(bytes, bytes)]`` response headers as RSGI's ``[(str, str)]``."""
    # PERF: most header fields repeat (content-type, short content-lengths):
    # decoded once, from a bounded cache.
    return [_header_str(pair) or _decode_header(pair) for pair in raw]


_HTTP_SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": _ASGI_HTTP,
    "root_path": "",
    "extensions": _EXTENSIONS,
}


def _asgi_scope(scope: Any, state: dict[str, Any]) -> Scope:
    """Build the ASGI scope of one RSGI HTTP request (RSGI 1.x scope attributes)."""
    # PERF: a copy of a template and the per-request keys, not a literal;
    # a connection's requests, and every request's server address, repeat
    # the same address strings, parsed once into a bounded cache.
    asgi = _HTTP_SCOPE.copy()
    asgi["http_version"] = scope.http_version
    asgi["method"] = scope.method
    asgi["scheme"] = scope.scheme
    asgi["path"] = path = scope.path
    asgi["raw_path"] = path.encode()
    asgi["query_string"] = scope.query_string.encode()
    # NOTE: granian passes only visible-ASCII header values to RSGI apps (it
    # drops the others), so UTF-8 encoding gives ASGI's latin-1 bytes.
    asgi["headers"] = [(name.encode(), value.encode()) for name, value in scope.headers.items()]
    client = scope.client
    asgi["client"] = _addresses.get(client) or _address(client)
    server = scope.server
    asgi["server"] = _addresses.get(server) or _address(server)
    asgi["state"] = state.copy()
    return asgi


def _websocket_scope(scope: Any, state: dict[str, Any]) -> Scope:
    """Build the ASGI scope of one RSGI WebSocket."""
    asgi = _asgi_scope(scope, state)
    asgi["type"] = "websocket"
    asgi["asgi"] = _ASGI_WEBSOCKET
    asgi["scheme"] = "wss" if scope.scheme == "https" else "ws"
    del asgi["method"]
    return asgi


class _HTTPExchange:
    """One request: ASGI ``receive``/``send`` over an RSGI HTTP protocol."""

    __slots__ = ("body_pending", "headers", "protocol", "status", "stream", "chunks", "done")

    def __init__(self, protocol: Any, has_body: bool) -> None:
        self.protocol = protocol
        self.body_pending = has_body
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.stream: Any = None
        self.chunks: Any = None
        self.done = False

    async def receive(self) -> Message:
        if not self.body_pending:
            if not self.done:
                # NOTE: ASGI's receive() after the body waits for the client to go.
                await self.protocol.client_disconnect()
            return _DISCONNECT
        if self.chunks is None:
            self.chunks = self.protocol.__aiter__()
        try:
            chunk = await self.chunks.__anext__()
        except StopAsyncIteration:
            self.body_pending = False
            return _NO_BODY
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            body = message.get("body", b"")
            if self.stream is None:
                if not message.get("more_body", False):
                    self.done = True
                    self.protocol.response_bytes(self.status, self.headers, body)
                    return
                self.stream = self.protocol.response_stream(self.status, self.headers)
            if body:
                await self.stream.send_bytes(body)
            if not message.get("more_body", False):
                self.done = True
        elif kind == "http.response.start":
            self.status = message["status"]
            self.headers = _str_headers(message.get("headers", ()))
        elif kind == "http.response.pathsend":
            self.done = True
            self.protocol.response_file(self.status, self.headers, str(message["path"]))
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on an HTTP connection")


class _WebSocketExchange:
    """One WebSocket: ASGI messages over an RSGI WebSocket protocol."""

    __slots__ = ("connected", "protocol", "transport")

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport: Any = None
        self.connected = False

    async def receive(self) -> Message:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        if self.transport is None:
            return {"type": "websocket.disconnect", "code": 1006}
        message = await self.transport.receive()
        kind = int(message.kind)
        if kind == 0:  # close
            return {"type": "websocket.disconnect", "code": 1000}
        if kind == 1:
            return {"type": "websocket.receive", "bytes": message.data}
        return {"type": "websocket.receive", "text": message.data}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self.transport = await self.protocol.accept()
        elif kind == "websocket.send":
            if self.transport is None:
                raise RuntimeError("websocket.send before websocket.accept")
            if message.get("bytes") is not None:
                await self.transport.send_bytes(message["bytes"])
            else:
                await self.transport.send_str(message.get("text", ""))
        elif kind == "websocket.close":
            # NOTE: RSGI's close(status) is the HTTP status of a refused
            # handshake (403, as ASGI servers answer); once accepted, granian
            # sends a close frame without a code.
            self.protocol.close(403 if self.transport is None else None)
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on a WebSocket")


def _exchange(scope: Any, protocol: Any) -> _HTTPExchange:
    headers = scope.headers
    # PERF: a request with neither Content-Length nor Transfer-Encoding has
    # no body (RFC 9112 section 6.3), so receive() needs no read.
    has_body = "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
    return _HTTPExchange(protocol, has_body)


class RSGIAdapter:
    """Serve an ASGI app on granian's RSGI interface (see the module docstring).

    ``App`` instances already speak RSGI through this adapter; wrap other ASGI
    apps with :func:`to_rsgi`.

    Args:
        app: The ASGI app.
        lifespan: Run the app's lifespan startup in ``__rsgi_init__`` and its
            shutdown in ``__rsgi_del__``.
        startup_timeout: Seconds to wait for startup.
    """

    def __init__(
        self, app: ASGIApp, *, lifespan: bool = True, startup_timeout: float = 30.0
    ) -> None:
        self.app = app
        # NOTE: an oakling App also gets the fast path of _fast.
        from oakling.applications import App

        self.native: App | None = app if isinstance(app, App) else None
        self.lifespan = lifespan
        self.startup_timeout = startup_timeout
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[Message] | None = None
        self._outbox: asyncio.Queue[Message] | None = None
        self._lifespan_task: asyncio.Future[None] | None = None

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the app's lifespan startup on ``loop`` before it serves requests.

        Raises:
            RuntimeError: If startup fails; granian then stops the worker.
        """
        if self.lifespan:
            loop.run_until_complete(asyncio.wait_for(self._startup(), self.startup_timeout))

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the app's lifespan shutdown once the worker stops serving."""
        if self._inbox is None or loop.is_closed():
            return
        try:
            loop.run_until_complete(asyncio.wait_for(self._shutdown(), 15))
        except Exception:  # noqa: BLE001 - the worker is stopping anyway
            logger.exception("Application shutdown failed")

    async def _startup(self) -> None:
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        outbox: asyncio.Queue[Message] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.4"}}
        scope["state"] = self.state
        task = asyncio.ensure_future(self.app(scope, inbox.get, outbox.put))
        await inbox.put({"type": "lifespan.startup"})
        reply = asyncio.ensure_future(outbox.get())
        await asyncio.wait((reply, task), return_when=asyncio.FIRST_COMPLETED)
        if not reply.done():
            reply.cancel()
            raise RuntimeError(f"application startup failed: {task.exception()!r}")
        message = reply.result()
        if message["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"application startup failed: {message.get('message', '')}")
        self._inbox, self._outbox, self._lifespan_task = inbox, outbox, task

    async def _shutdown(self) -> None:
        assert self._inbox is not None and self._outbox is not None
        await self._inbox.put({"type": "lifespan.shutdown"})
        message = await self._outbox.get()
        self._inbox = None
        if message["type"] == "lifespan.shutdown.failed":
            logger.error("Application shutdown failed: %s", message.get("message", ""))

    def __rsgi__(self, scope: Any, protocol: Any) -> Awaitable[None]:
        """Serve one RSGI call (``scope.proto`` is ``"http"`` or ``"ws"``)."""
        if scope.proto != "http":
            return self._websocket(scope, protocol)
        # PERF: chosen here, in a plain call, so a request runs one coroutine.
        if self.native is not None:
            table = self.native._direct
            if table is not None and not _request_signals.on:
                methods = table.static.get(scope.path)
                if methods is not None:
                    handler = methods.get(scope.method)
                    if type(handler) is RouteHandler and handler.fast:
                        return self._fast(handler, scope, protocol)
        return self._serve(_asgi_scope(scope, self.state), _exchange(scope, protocol), scope)

    async def _fast(self, handler: RouteHandler, scope: Any, protocol: Any) -> None:
        """Serve a static route whose handler takes nothing, with no ASGI scope.

        The same steps as the ASGI fast path (``RouteHandler.__call__``): no
        middleware, no hooks, no parameters. The ASGI scope is built only
        when the response is not a body in memory, or the handler raised.
        """
        # PERF: the app has no middleware and the handler reads nothing of
        # the request, so nothing can see that there is no scope dict.
        try:
            func = handler.call
            result = await func() if handler.is_async else await _run_in_request_thread(func)
            if not isinstance(result, Response):
                result = to_response(result, handler.status_code, handler.response_class)
        except Exception as ex:  # noqa: BLE001 - every error becomes a response
            asgi_scope = _asgi_scope(scope, self.state)
            asgi_scope["endpoint"] = handler.func
            exchange = _exchange(scope, protocol)
            failing = handler._fail(
                asgi_scope,
                exchange.receive,
                exchange.send,
                Request(asgi_scope, exchange.receive, handler.limits),
                ex,
            )
            await self._finish(failing, exchange, scope)
            return
        if type(result).__call__ is _SEND_WHOLE:
            protocol.response_bytes(
                result.status_code,
                _str_headers(result.raw_headers),
                b"" if scope.method == "HEAD" else result.body,
            )
            if result.background is not None:
                await result.background()
            return
        asgi_scope = _asgi_scope(scope, self.state)
        asgi_scope["endpoint"] = handler.func
        exchange = _exchange(scope, protocol)
        await self._finish(result(asgi_scope, exchange.receive, exchange.send), exchange, scope)

    async def _serve(self, asgi_scope: Scope, exchange: _HTTPExchange, scope: Any) -> None:
        await self._finish(self.app(asgi_scope, exchange.receive, exchange.send), exchange, scope)

    @staticmethod
    async def _finish(call: Awaitable[None], exchange: _HTTPExchange, scope: Any) -> None:
        """Await one ASGI call and make sure the client gets a whole answer."""
        protocol = exchange.protocol
        try:
            await call
        except Exception:
            if exchange.status or exchange.done:
                raise  # the response has begun: granian logs it and ends the connection
            logger.exception("Exception while handling %s %s", scope.method, scope.path)
            protocol.response_bytes(500, [("content-type", "text/plain")], b"Server error")
            return
        if not exchange.done and exchange.stream is None:
            # NOTE: an app that returns without a whole response breaks ASGI;
            # answer what it started, or a bare 500.
            protocol.response_bytes(exchange.status or 500, exchange.headers, b"")

    async def _websocket(self, scope: Any, protocol: Any) -> None:
        exchange = _WebSocketExchange(protocol)
        await self.app(_websocket_scope(scope, self.state), exchange.receive, exchange.send)
        if exchange.transport is None:
            # NOTE: the app never accepted: RSGI's close rejects the handshake.
            protocol.close(403)


def to_rsgi(app: ASGIApp, *, lifespan: bool = True) -> RSGIAdapter:
    """Return an RSGI app serving the ASGI ``app`` (see :class:`RSGIAdapter`)."""
    return RSGIAdapter(app, lifespan=lifespan)
