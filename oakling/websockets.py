"""WebSocket connections (ASGI websocket scope; RFC 6455 close codes)."""

from __future__ import annotations

import contextlib
import enum
import functools
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from oakling.exceptions import WebSocketDisconnect, WebSocketException
from oakling.requests import JSON_ERRORS, HTTPConnection, json_error_message
from oakling.types import Message, Receive, Scope, Send

if TYPE_CHECKING:
    import asyncio

# NOTE: asyncio and oakling._shutdown (which needs it) are imported where
# used: `import oakling` stays free of asyncio (tests/test_public_api.py).

__all__ = ["WebSocket", "WebSocketDisconnect", "WebSocketState"]


class WebSocketState(enum.Enum):
    """Where a side of the connection stands."""

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2


class WebSocket(HTTPConnection):
    """A WebSocket connection, passed to handlers that annotate it.

    Receiving after the peer closed raises :class:`WebSocketDisconnect` with
    its close code. Messages are text (``str``) or binary (``bytes``); JSON
    helpers encode with msgspec.

    When the server begins to shut down (SIGTERM, or ``lifespan.shutdown``),
    every accepted connection is closed at once with 1001 "Going Away"
    (RFC 6455 section 7.4.1); a pending or later :meth:`receive`, and a later
    :meth:`send`, raise :class:`WebSocketDisconnect` with code 1001, so an
    open socket does not hold the server's graceful shutdown.
    """

    __slots__ = (
        "__weakref__",
        "_closing",
        "_receive",
        "_send",
        "_stop_cancelled",
        "_waiting",
        "application_state",
        "client_state",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        super().__init__(scope)
        self._receive = receive
        self._send = send
        self.client_state = WebSocketState.CONNECTING
        self.application_state = WebSocketState.CONNECTING
        self._closing: asyncio.Task[None] | None = None
        self._waiting: asyncio.Task[Any] | None = None
        self._stop_cancelled = False

    async def receive(self) -> Message:
        """Return the next raw ASGI message.

        Raises:
            WebSocketDisconnect: If the peer has closed.
            RuntimeError: If called after the disconnect was already reported.
        """
        if self.client_state is WebSocketState.DISCONNECTED:
            raise RuntimeError("the WebSocket is closed; receive() called after a disconnect")
        import asyncio

        from oakling._shutdown import shutdown_future

        if shutdown_future().done():
            await self._going_away()
        # PERF: no race per message (a task and asyncio.wait cost ~18 us);
        # at shutdown the 1001 close is sent first, then this task's pending
        # receive is cancelled (_close_then_wake) and turned into a disconnect.
        self._waiting = asyncio.current_task()
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if not self._stop_cancelled:
                raise
            self._stop_cancelled = False
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            self.client_state = WebSocketState.DISCONNECTED
            raise WebSocketDisconnect(1001, "server shutting down") from None
        finally:
            self._waiting = None
        kind = message["type"]
        if kind == "websocket.connect":
            return message
        if kind == "websocket.disconnect":
            self.client_state = WebSocketState.DISCONNECTED
            _open.discard(self)
            if self._closing is not None:
                # NOTE: the peer answered our shutdown close first; the servers
                # report that end with varying codes (uvicorn: 1005).
                raise WebSocketDisconnect(1001, "server shutting down")
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        self.client_state = WebSocketState.CONNECTED
        return message

    async def send(self, message: Message) -> None:
        """Send a raw ASGI message."""
        from oakling._shutdown import shutdown_future

        if message["type"] == "websocket.send" and shutdown_future().done():
            await self._going_away()
        if self.application_state is WebSocketState.DISCONNECTED:
            raise RuntimeError("cannot send on a closed WebSocket")
        if message["type"] == "websocket.close":
            self.application_state = WebSocketState.DISCONNECTED
            _open.discard(self)
        await self._send(message)

    def _start_going_away(self) -> Awaitable[Any] | None:
        """Start the 1001 close once (the server is stopping).

        Returns:
            The server's pending send to await, or None when already closed.
        """
        _open.discard(self)
        if self.application_state is WebSocketState.DISCONNECTED:
            return None
        self.application_state = WebSocketState.DISCONNECTED
        import asyncio

        from oakling._shutdown import closing

        # NOTE: called, not awaited, at once: granian starts its send on the
        # call, before its own shutdown drops the socket without a 1001. The
        # server's signal handler waits for the sends in `closing`.
        sending = asyncio.ensure_future(
            self._send({"type": "websocket.close", "code": 1001, "reason": "server shutting down"})
        )
        closing.add(sending)
        sending.add_done_callback(closing.discard)
        return sending

    async def _close_going_away(self) -> None:
        """Send the 1001 close once; best effort (the peer may be gone)."""
        with contextlib.suppress(OSError, RuntimeError):
            pending = self._start_going_away()
            if pending is not None:
                await pending

    async def _going_away(self) -> None:
        """Close with 1001 (the server is stopping) and raise WebSocketDisconnect.

        Raises:
            WebSocketDisconnect: Always, with code 1001.
        """
        import asyncio

        closing = self._closing
        if closing is not None:
            await asyncio.wait((closing,), timeout=_CLOSE_WAIT)
        else:
            await self._close_going_away()
        self.client_state = WebSocketState.DISCONNECTED
        raise WebSocketDisconnect(1001, "server shutting down")

    async def accept(
        self, subprotocol: str | None = None, headers: Iterable[tuple[bytes, bytes]] | None = None
    ) -> None:
        """Accept the connection, optionally choosing one of the offered subprotocols."""
        if self.client_state is WebSocketState.CONNECTING:
            await self.receive()  # the websocket.connect message
        message: Message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            message["headers"] = list(headers)
        await self.send(message)
        self.application_state = WebSocketState.CONNECTED
        _watch(self)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close with an RFC 6455 code (1000 normal, 1008 policy, 1011 error)."""
        await self.send({"type": "websocket.close", "code": code, "reason": reason or ""})

    async def receive_text(self) -> str:
        """Return the next text message.

        Raises:
            WebSocketDisconnect: If the peer closed.
            TypeError: If a binary message arrived instead.
        """
        message = await self.receive()
        text = message.get("text")
        if text is None:
            raise TypeError("expected a text message, got a binary one")
        return str(text)

    async def receive_bytes(self) -> bytes:
        """Return the next binary message (raises TypeError on a text one)."""
        message = await self.receive()
        data = message.get("bytes")
        if data is None:
            raise TypeError("expected a binary message, got a text one")
        return bytes(data)

    async def receive_json(self, mode: str = "text") -> Any:
        """Return the next message decoded as JSON.

        Raises:
            WebSocketException: 1007 (invalid payload data, RFC 6455 section
                7.4.1) on malformed JSON; uncaught, it closes the connection
                with that code and logs nothing.
        """
        message = await self.receive()
        data = message.get("text") if mode == "text" else message.get("bytes")
        if data is None:
            data = message.get("bytes") or message.get("text") or ""
        try:
            return msgspec.json.decode(data)
        except JSON_ERRORS as ex:
            raise WebSocketException(
                1007, f"Invalid JSON: {json_error_message(ex, data)}"[:120]
            ) from None

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        await self.send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self.send({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` as JSON in a text (default) or binary message."""
        encoded = msgspec.json.encode(data)
        if mode == "text":
            await self.send({"type": "websocket.send", "text": encoded.decode()})
        else:
            await self.send({"type": "websocket.send", "bytes": encoded})

    async def iter_text(self) -> AsyncIterator[str]:
        """Yield text messages until the peer closes normally."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            return

    async def iter_json(self) -> AsyncIterator[Any]:
        """Yield JSON messages until the peer closes normally."""
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            return


# NOTE: the accepted, still open WebSockets of this process. A handler that
# awaits something else than receive() or send() (a sleep, a queue) would
# not see the shutdown until the server closes the socket itself (uvicorn:
# 1012, granian: no close frame), so the shutdown closes each one with 1001
# at once. Weak references: a WebSocket is forgotten when dropped.
_open: weakref.WeakSet[WebSocket] = weakref.WeakSet()
_watched: asyncio.Future[None] | None = None
_CLOSE_WAIT = 1.0  # seconds a handler waits for its 1001 close to be sent


def _watch(websocket: WebSocket) -> None:
    """Have ``websocket`` closed with 1001 when shutdown begins."""
    from oakling._shutdown import shutdown_future, track_stream

    global _open, _watched
    stopping = shutdown_future()
    if stopping is not _watched:
        # NOTE: a new event loop (a test client's) gets its own set, so one
        # loop's shutdown never touches another loop's sockets.
        _open = weakref.WeakSet()
        stopping.add_done_callback(functools.partial(_close_open_websockets, _open))
        _watched = stopping
    _open.add(websocket)
    track_stream()


def _close_open_websockets(
    websockets: weakref.WeakSet[WebSocket], stopping: asyncio.Future[None]
) -> None:
    import asyncio

    from oakling._shutdown import closing

    for websocket in list(websockets):
        try:
            pending = websocket._start_going_away()
        except (OSError, RuntimeError):
            continue
        if pending is not None:
            task = asyncio.ensure_future(_close_then_wake(websocket, pending))
            websocket._closing = task
            closing.add(task)
            task.add_done_callback(closing.discard)


async def _close_then_wake(websocket: WebSocket, pending: Awaitable[Any]) -> None:
    """Await the 1001 close, then interrupt a handler waiting in receive().

    NOTE: in this order because granian answers a cancelled receive with a
    bare close frame of its own.
    """
    with contextlib.suppress(OSError, RuntimeError):
        await pending
    waiting = websocket._waiting
    if waiting is not None and not waiting.done():
        websocket._stop_cancelled = True
        waiting.cancel()
