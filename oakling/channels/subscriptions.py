"""One message on a channel, and one subscriber's bounded queue of them."""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING, Any, Literal

import msgspec

if TYPE_CHECKING:
    from .layer import ChannelLayer

__all__ = ["ChannelMessage", "Subscription", "format_id", "parse_id"]

Kind = Literal["message", "unavailable", "available", "reset"]

_decoder = msgspec.json.Decoder()


def parse_id(value: str | None) -> tuple[int, int] | None:
    """Return an event id ``"<ms>-<seq>"`` as a pair, or None when malformed.

    Ids are Redis stream ids (milliseconds since the epoch, then a sequence
    number within that millisecond); the memory backend makes the same shape,
    so ids compare the same way on both backends.
    """
    if not value or len(value) > 41:
        return None
    ms, sep, seq = value.partition("-")
    if not sep or not ms.isdigit() or not seq.isdigit():
        return None
    return int(ms), int(seq)


def format_id(pair: tuple[int, int]) -> str:
    """Return the wire form of an id made by :func:`parse_id`."""
    return f"{pair[0]}-{pair[1]}"


class ChannelMessage:
    """A message published on a channel, as every subscriber receives it.

    The payload is JSON, encoded once by :func:`~oakling.channels.publish`;
    subscribers decode it on first access of :attr:`data` (so 1,000 SSE
    subscribers of one worker share one encoding and one wire frame).

    Attributes:
        channel: The channel's name.
        id: The event id, ``"<ms>-<seq>"`` (a Redis stream id); ``""`` for
            status messages.
        payload: The message as JSON bytes.
        kind: ``"message"`` for a published message; status messages tell a
            subscriber that the backend became ``"unavailable"`` or
            ``"available"`` again, or (``"reset"``) that a replay from
            ``Last-Event-ID`` could not cover every missed message.
    """

    __slots__ = ("_data", "_frames", "channel", "id", "kind", "payload")

    def __init__(self, channel: str, id: str, payload: bytes, kind: Kind = "message") -> None:
        self.channel = channel
        self.id = id
        self.payload = payload
        self.kind = kind
        self._data: Any = _MISSING
        self._frames: dict[str | None, bytes] | None = None

    @property
    def data(self) -> Any:
        """The message, decoded from JSON (cached)."""
        if self._data is _MISSING:
            self._data = _decoder.decode(self.payload) if self.payload else None
        return self._data

    def sse_frame(self, event: str | None = None) -> bytes:
        """Return the message as one server-sent event, built once per event name.

        ``id:`` carries :attr:`id` (the browser sends it back as
        ``Last-Event-ID``), ``data:`` the JSON payload, which holds no newline.
        """
        frames = self._frames
        if frames is None:
            frames = self._frames = {}
        frame = frames.get(event)
        if frame is None:
            parts = []
            if event is not None:
                # SECURITY: a newline in the name would let it inject events.
                parts.append(b"event: " + event.replace("\n", " ").replace("\r", " ").encode())
            if self.id:
                parts.append(b"id: " + self.id.encode())
            parts.append(b"data: " + self.payload)
            frame = frames[event] = b"\n".join(parts) + b"\n\n"
        return frame

    def __repr__(self) -> str:
        return f"<ChannelMessage {self.kind} {self.channel!r} id={self.id!r}>"


_MISSING: Any = object()


class Subscription:
    """One subscriber of one channel: an async iterator of :class:`ChannelMessage`.

    Made by :func:`~oakling.channels.subscribe`. Messages wait in a queue of
    at most ``max_queue``; a subscriber whose queue is full when a message
    arrives is *dropped*: it is unsubscribed, keeps what was queued, then
    its iteration ends with :attr:`dropped` True. Memory per subscriber is
    therefore bounded, however slow its client.

    Use it as an async context manager (or close it) so it unsubscribes when
    the consumer stops early; a ``finally`` in the consumer does the same.

    Attributes:
        channel: The channel's name.
        dropped: True once the subscriber was dropped for falling behind.
        last_id: The id of the last message yielded (for a later replay).
    """

    __slots__ = (
        "_closed",
        "_layer",
        "_queue",
        "_replay_after",
        "_started",
        "_waiter",
        "channel",
        "dropped",
        "last_id",
        "max_queue",
    )

    def __init__(
        self,
        layer: ChannelLayer,
        channel: str,
        max_queue: int,
        last_event_id: str | None = None,
    ) -> None:
        self._layer = layer
        self.channel = channel
        self.max_queue = max_queue
        self._queue: collections.deque[ChannelMessage] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self.dropped = False
        self.last_id = last_event_id or ""
        # NOTE: listening and the replay wait for the first __anext__/__aenter__.
        self._replay_after: str | None = last_event_id
        self._started = False

    # -- called by the layer, on the event loop --------------------------------

    def _put(self, message: ChannelMessage) -> None:
        if self._closed:
            return
        if len(self._queue) >= self.max_queue:
            # NOTE: dropping the subscriber (not the message) keeps the
            # stream honest: a client never silently misses messages; an SSE
            # client reconnects with Last-Event-ID and is replayed the gap.
            self.dropped = True
            self._close()
            return
        self._queue.append(message)
        self._wake()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._layer._unsubscribe(self)
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the consumer's side ----------------------------------------------------

    @property
    def pending(self) -> int:
        """How many messages wait in the queue."""
        return len(self._queue)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> ChannelMessage:
        """Return the next message, waiting for one.

        Raises:
            StopAsyncIteration: Once closed (by :meth:`aclose`, the layer's
                shutdown, or a drop) and the queue is empty.
        """
        message = await self.get()
        assert message is not None
        return message

    async def get(self, timeout: float | None = None) -> ChannelMessage | None:
        """Return the next message, or None after ``timeout`` seconds without one.

        Raises:
            StopAsyncIteration: Once closed and the queue is empty.
        """
        if not self._started:
            await self.ready()
        timer: asyncio.TimerHandle | None = None
        expired: list[bool] = []
        try:
            while True:
                if self._queue:
                    message = self._queue.popleft()
                    if message.kind == "message":
                        if message.id and self.last_id and _older(message.id, self.last_id):
                            continue  # NOTE: already yielded by the replay
                        self.last_id = message.id
                    return message
                if self._closed:
                    raise StopAsyncIteration
                if expired:
                    return None
                loop = asyncio.get_running_loop()
                self._waiter = loop.create_future()
                if timeout is not None and timer is None:
                    # PERF: a timer, not wait_for: no task per waiting subscriber.
                    timer = loop.call_later(timeout, self._time_out, expired)
                try:
                    await self._waiter
                finally:
                    self._waiter = None
        finally:
            if timer is not None:
                timer.cancel()

    def _time_out(self, expired: list[bool]) -> None:
        expired.append(True)
        self._wake()

    async def ready(self) -> None:
        """Wait until the backend listens (Redis: ``SUBSCRIBE`` confirmed) and replay.

        Called by the first iteration and by ``async with``; call it directly
        before publishing something the subscriber must hear.
        """
        if not self._started:
            self._started = True
            await self._layer._replay(self, self._replay_after)

    async def aclose(self) -> None:
        """Unsubscribe; queued messages are discarded."""
        self._queue.clear()
        self._close()

    async def __aenter__(self) -> Subscription:
        await self.ready()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "dropped" if self.dropped else "closed" if self._closed else "open"
        return f"<Subscription {self.channel!r} {state} pending={len(self._queue)}>"


def _older(candidate: str, than: str) -> bool:
    """True when ``candidate`` is ``than`` or older (both valid ids)."""
    first, second = parse_id(candidate), parse_id(than)
    return first is not None and second is not None and first <= second
