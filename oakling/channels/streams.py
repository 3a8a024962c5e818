"""Fan a channel out to SSE and WebSocket clients, with backpressure.

Server-sent events (:func:`sse_response`): each published message is one
event whose ``id:`` is the message id and whose ``data:`` is its JSON; the
frame is built once per worker and shared by every client of the channel.
A browser that reconnects sends ``Last-Event-ID`` and is first replayed
what it missed (from the channel's replay buffer). Status events:

- ``channel-unavailable``: the backend (Redis) is down; the stream stays
  open and resumes by itself when it is back;
- ``channel-available``: it is back (what the replay buffers received
  while this worker's pub/sub connection was broken is sent just before);
- ``channel-reset``: the replay buffer did not reach back to
  ``Last-Event-ID``; reload the state the page shows.

A client that falls ``max_queue`` messages behind is dropped: its response
ends, and the browser reconnects after the ``retry:`` delay with its last
id, to be replayed the gap.

WebSocket (:func:`websocket_feed`): each message is one text frame holding
its JSON. A slow client is closed with 1008 (policy violation, reason "too
slow"), an outage with 1013 (Try Again Later, RFC 6455 section 7.4.1's
registry), the server's shutdown with 1001.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

from oakling.exceptions import HTTPException
from oakling.responses import StreamingResponse

from .layer import ChannelLayer, get_channel_layer, validate_channel
from .subscriptions import Subscription

if TYPE_CHECKING:
    from oakling.requests import HTTPConnection
    from oakling.websockets import WebSocket

__all__ = [
    "CLOSE_SLOW",
    "CLOSE_UNAVAILABLE",
    "ChannelEventSource",
    "sse_response",
    "websocket_feed",
]

#: Close code for a WebSocket client that fell too far behind.
CLOSE_SLOW = 1008
#: Close code while the channel layer is unavailable (clients retry).
CLOSE_UNAVAILABLE = 1013

_STATUS_FRAMES = {
    "unavailable": b'event: channel-unavailable\ndata: {"retry_after":1}\n\n',
    "available": b"event: channel-available\ndata: {}\n\n",
    "reset": b"event: channel-reset\ndata: {}\n\n",
}


class ChannelEventSource(StreamingResponse):
    """A ``text/event-stream`` response fed by one channel subscription.

    Made by :func:`sse_response`; the subscription is opened when the body
    starts and closed when the client leaves, the server stops or the
    client is dropped for being slow.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        layer: ChannelLayer,
        channel: str,
        *,
        event: str | None,
        last_event_id: str | None,
        ping: float | None,
        retry: int | None,
        max_queue: int | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        base = {"cache-control": "no-cache", "x-accel-buffering": "no"}
        base.update(headers or {})
        self.subscription: Subscription | None = None
        self._args = (layer, channel, event, last_event_id, ping, retry, max_queue)
        super().__init__(self._frames(), headers=base)

    async def _frames(self) -> AsyncIterator[bytes]:
        layer, channel, event, last_event_id, ping, retry, max_queue = self._args
        sub = layer.subscribe(channel, last_event_id=last_event_id, max_queue=max_queue)
        self.subscription = sub
        try:
            # NOTE: listening first (a Redis SUBSCRIBE round trip), so that
            # once the client sees the stream open it hears what follows; the
            # first bytes tell proxies and the browser (and its retry delay).
            await sub.ready()
            yield f"retry: {retry}\n\n".encode() if retry is not None else b": open\n\n"
            while True:
                try:
                    message = await sub.get(ping)
                except StopAsyncIteration:
                    return
                if message is None:
                    yield b": ping\n\n"
                elif message.kind == "message":
                    yield message.sse_frame(event)
                else:
                    yield _STATUS_FRAMES[message.kind]
        finally:
            await sub.aclose()


def sse_response(
    request: HTTPConnection,
    channel: str,
    *,
    event: str | None = None,
    ping: float | None = 15.0,
    retry: int | None = 1000,
    max_queue: int | None = None,
    layer: ChannelLayer | None = None,
    headers: Mapping[str, str] | None = None,
) -> ChannelEventSource:
    """Return a server-sent events stream of ``channel`` for this request.

    Like Flask-SSE's stream or a Django Channels ``AsyncHttpConsumer`` that
    joins a group, in one call; the request's ``Last-Event-ID`` header is
    honoured (WHATWG HTML, section 9.2.4).

    Args:
        request: The request (its ``Last-Event-ID`` header is read).
        channel: The channel's name.
        event: The SSE event type of messages (None: ``message``).
        ping: Seconds between keep-alive comments; None sends none.
        retry: The reconnection delay sent to the browser, in milliseconds.
        max_queue: Messages this client may fall behind before it is dropped.
        layer: The channel layer (default the process's).
        headers: Extra response headers.

    Raises:
        oakling.exceptions.HTTPException: 400 for a bad channel name.
        RuntimeError: When the layer is not started (no ``Channels`` plugin).
    """
    try:
        validate_channel(channel)
    except ValueError as ex:
        raise HTTPException(400, str(ex)) from None
    layer = layer or get_channel_layer()
    if not layer.started:
        # NOTE: before the headers go out, so the mistake is a logged 500,
        # not an empty 200 stream.
        raise RuntimeError(
            "the channel layer is not started: install oakling.channels.Channels() on the app"
        )
    return ChannelEventSource(
        layer,
        channel,
        event=event,
        last_event_id=request.headers.get("last-event-id"),
        ping=ping,
        retry=retry,
        max_queue=max_queue,
        headers=headers,
    )


async def websocket_feed(
    websocket: WebSocket,
    channel: str,
    *,
    accept: bool = True,
    max_queue: int | None = None,
    layer: ChannelLayer | None = None,
) -> None:
    """Send every message of ``channel`` to ``websocket`` until either side ends.

    Messages the client sends are read and ignored (so its close is seen).
    Returns when the client leaves; closes the socket with
    :data:`CLOSE_SLOW` for a client that fell ``max_queue`` messages behind,
    with :data:`CLOSE_UNAVAILABLE` when the channel layer is (or becomes)
    unavailable, and with 1001 when the layer closes at shutdown.

    Args:
        websocket: The connection (accepted here unless ``accept=False``).
        channel: The channel's name; a bad one closes with 1008.
        accept: Accept the handshake first.
        max_queue: Messages the client may fall behind before it is dropped.
        layer: The channel layer (default the process's).
    """
    from oakling.websockets import WebSocketDisconnect

    if accept:
        await websocket.accept()
    try:
        validate_channel(channel)
    except ValueError as ex:
        await websocket.close(1008, str(ex)[:120])
        return
    layer = layer or get_channel_layer()
    sub = layer.subscribe(channel, max_queue=max_queue)

    async def drain() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive()

    async def relay() -> tuple[int, str]:
        async for message in sub:
            if message.kind == "message":
                await websocket.send({"type": "websocket.send", "text": message.payload.decode()})
            elif message.kind == "unavailable":
                return CLOSE_UNAVAILABLE, "channel layer unavailable"
        return (CLOSE_SLOW, "too slow") if sub.dropped else (1001, "going away")

    reader = asyncio.ensure_future(drain())
    writer = asyncio.ensure_future(relay())
    try:
        done, _ = await asyncio.wait((reader, writer), return_when=asyncio.FIRST_COMPLETED)
        if writer in done and not writer.cancelled() and writer.exception() is None:
            code, reason = writer.result()
            with contextlib.suppress(RuntimeError, OSError):
                await websocket.close(code, reason)
    finally:
        for task in (reader, writer):
            task.cancel()
        await asyncio.gather(reader, writer, return_exceptions=True)
        await sub.aclose()
