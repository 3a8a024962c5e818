"""The channel layer: ``publish`` and ``subscribe`` over one backend per process."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from oakling.exceptions import ImproperlyConfigured

from .subscriptions import ChannelMessage, Kind, Subscription, parse_id

if TYPE_CHECKING:
    from collections.abc import Coroutine

__all__ = [
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_PREFIX",
    "DEFAULT_REPLAY",
    "DEFAULT_REPLAY_TTL",
    "Backend",
    "ChannelLayer",
    "get_channel_layer",
    "publish",
    "publish_sync",
    "set_channel_layer",
    "subscribe",
    "validate_channel",
]

DEFAULT_MAX_QUEUE = 100
DEFAULT_REPLAY = 100
DEFAULT_REPLAY_TTL = 3600.0
DEFAULT_PREFIX = "oakling:channels:"
MAX_CHANNEL_LENGTH = 200

_encoder = msgspec.json.Encoder()


def validate_channel(channel: str) -> str:
    """Return ``channel`` when it is a valid name.

    A name is 1 to 200 printable characters without spaces (a Redis pub/sub
    channel and key suffix).

    Raises:
        ValueError: For an empty, long or non-printable name.
    """
    if (
        not isinstance(channel, str)
        or not 0 < len(channel) <= MAX_CHANNEL_LENGTH
        or not channel.isprintable()
        or " " in channel
    ):
        raise ValueError(
            f"a channel name is 1 to {MAX_CHANNEL_LENGTH} printable characters "
            f"without spaces, not {channel!r}"
        )
    return channel


class Backend(Protocol):
    """What a channel layer's backend does (memory and Redis implement it)."""

    async def start(self, layer: ChannelLayer) -> None:
        """Connect; from now on deliver through ``layer._deliver``."""

    async def close(self) -> None:
        """Disconnect and stop delivering."""

    async def publish(self, channel: str, payload: bytes) -> str:
        """Publish ``payload`` (JSON) on ``channel``; return its id."""

    def publish_sync(self, channel: str, payload: bytes) -> str:
        """Publish from any thread; return the id."""

    async def listen(self, channel: str) -> None:
        """Make sure messages of ``channel`` reach this process."""

    async def unlisten(self, channel: str) -> None:
        """Stop receiving ``channel`` (its last local subscriber left)."""

    async def history(self, channel: str, after: str) -> tuple[list[ChannelMessage], bool]:
        """Return kept messages newer than ``after``, and whether some are missing."""


class ChannelLayer:
    """Publish messages to named channels and fan them out to subscribers.

    One layer per process (the :class:`~oakling.channels.Channels` plugin
    makes it from settings and binds it to the app's event loop). Each
    message is encoded to JSON once (msgspec), given an id, kept in the
    channel's replay buffer, and handed to every local subscriber's bounded
    queue. With Redis, every worker that has subscribers of a channel gets
    its messages through one pub/sub connection.

    Args:
        url: ``None`` or ``"memory://"`` for one process; ``redis://...``
            (``rediss://``, ``unix://``) for Redis pub/sub across workers.
        max_queue: Messages a subscriber may fall behind before it is dropped.
        replay: Messages kept per channel for ``Last-Event-ID`` replays (>= 1).
        replay_ttl: Seconds a channel's replay buffer outlives its last message.
        prefix: Prefix of the Redis keys and pub/sub channels.

    Raises:
        ImproperlyConfigured: For an unknown URL scheme or a bad limit.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        replay: int = DEFAULT_REPLAY,
        replay_ttl: float = DEFAULT_REPLAY_TTL,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        if max_queue < 1 or replay < 1 or replay_ttl <= 0:
            raise ImproperlyConfigured(
                "CHANNELS_MAX_QUEUE and CHANNELS_REPLAY must be at least 1, "
                "CHANNELS_REPLAY_TTL positive"
            )
        self.url = url or "memory://"
        self.max_queue = max_queue
        self.replay = replay
        self.replay_ttl = replay_ttl
        self.backend: Backend
        scheme = self.url.partition("://")[0].lower()
        if scheme == "memory":
            from .backends import MemoryBackend

            self.backend = MemoryBackend(replay, replay_ttl)
        elif scheme in ("redis", "rediss", "unix"):
            from .backends import RedisBackend

            self.backend = RedisBackend(self.url, prefix, replay, replay_ttl)
        else:
            raise ImproperlyConfigured(
                f"CHANNELS_URL {self.url!r}: use memory:// or redis://host:port/db"
            )
        self.available = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # NOTE: touched on the layer's loop only.
        self._subscribers: dict[str, set[Subscription]] = {}

    @property
    def started(self) -> bool:
        """True between :meth:`start` and :meth:`close`."""
        return self._loop is not None and not self._closed

    @property
    def subscribers(self) -> int:
        """How many subscriptions of this process are open, on every channel."""
        return sum(len(subs) for subs in self._subscribers.values())

    def subscriber_count(self, channel: str) -> int:
        """How many subscriptions of this process listen to ``channel``."""
        return len(self._subscribers.get(channel, ()))

    async def start(self) -> None:
        """Bind to the running event loop and connect the backend (app startup)."""
        self._loop = asyncio.get_running_loop()
        self._closed = False
        await self.backend.start(self)

    async def close(self) -> None:
        """End every subscription and disconnect (app shutdown)."""
        self._closed = True
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                sub._close()
        self._subscribers.clear()
        await self.backend.close()

    # -- publishing ---------------------------------------------------------------

    async def publish(self, channel: str, message: Any) -> str:
        """Send ``message`` to every subscriber of ``channel``, in every worker.

        Args:
            channel: The channel's name (:func:`validate_channel`).
            message: Anything msgspec encodes as JSON (dicts, lists, Structs,
                dataclasses...); subscribers receive it decoded from JSON.

        Returns:
            The message's id (``"<ms>-<seq>"``), the SSE ``id:`` field.

        Raises:
            ValueError: For a bad channel name.
            TypeError: If ``message`` cannot be encoded as JSON.
            oakling.exceptions.ServiceUnavailable: If Redis is unreachable
                (503 + ``Retry-After`` when raised in a request).
        """
        payload = _encoder.encode(message)
        validate_channel(channel)
        loop = self._loop
        if loop is not None and not self._closed and loop is not asyncio.get_running_loop():
            # NOTE: the backend's connections belong to the layer's loop.
            future = asyncio.run_coroutine_threadsafe(self.backend.publish(channel, payload), loop)
            return await asyncio.wrap_future(future)
        return await self.backend.publish(channel, payload)

    def publish_sync(self, channel: str, message: Any) -> str:
        """Publish from synchronous code (a sync handler, a script, a Celery task).

        Safe from any thread; it blocks until Redis has the message (memory:
        until it is queued for delivery). Same arguments, return value and
        errors as :meth:`publish`; never call it on the event loop's thread
        with Redis (it would block the loop): ``await publish(...)`` there.
        """
        payload = _encoder.encode(message)
        validate_channel(channel)
        return self.backend.publish_sync(channel, payload)

    # -- subscribing -------------------------------------------------------------

    def subscribe(
        self, channel: str, *, last_event_id: str | None = None, max_queue: int | None = None
    ) -> Subscription:
        """Return a subscription to ``channel``, registered at once.

        Call on the event loop, after :meth:`start`. Messages published from
        now on are queued for it; ``async with`` (or the first iteration)
        also waits until the backend listens (a Redis ``SUBSCRIBE`` round
        trip), so a message published after that is heard by this worker.

        Args:
            channel: The channel's name.
            last_event_id: An id received earlier (SSE ``Last-Event-ID``):
                the kept messages after it are yielded first. When the replay
                buffer no longer reaches back to it (or it is unknown) a
                ``"reset"`` status message comes first instead.
            max_queue: This subscriber's queue bound (default the layer's).

        Raises:
            ValueError: For a bad channel name.
            RuntimeError: Before :meth:`start`.
        """
        validate_channel(channel)
        if self._loop is None:
            raise RuntimeError(
                "the channel layer is not started: install oakling.channels.Channels() "
                "on the app (or await layer.start())"
            )
        if not last_event_id:
            last_event_id = None  # NOTE: an empty id is "none" (WHATWG's reset id)
        elif parse_id(last_event_id) is None:
            last_event_id = "0-0"  # NOTE: a malformed id replays as unknown: a reset
        sub = Subscription(self, channel, max_queue or self.max_queue, last_event_id)
        if self._closed:
            sub._closed = True
            return sub
        subs = self._subscribers.get(channel)
        if subs is None:
            subs = self._subscribers[channel] = set()
        subs.add(sub)
        if not self.available:
            sub._put(ChannelMessage(channel, "", b"", "unavailable"))
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.channel)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._subscribers[sub.channel]
            if not self._closed and self._loop is not None:
                self._spawn(self.backend.unlisten(sub.channel))

    async def _replay(self, sub: Subscription, after: str | None) -> None:
        """Run before a subscription's first message: listen, then replay."""
        await self.backend.listen(sub.channel)
        if after is None or sub._closed:
            return
        try:
            kept, gap = await self.backend.history(sub.channel, after)
        except Exception:  # noqa: BLE001 - an outage is reported as a status message
            kept, gap = [], True
        front: list[ChannelMessage] = []
        if gap:
            sub.last_id = ""
            front.append(ChannelMessage(sub.channel, "", b"", "reset"))
        front.extend(kept)
        sub._queue.extendleft(reversed(front))

    # -- called by the backend, on the layer's loop ----------------------------

    def _deliver(self, message: ChannelMessage) -> None:
        subs = self._subscribers.get(message.channel)
        if subs:
            for sub in tuple(subs):
                sub._put(message)

    def _status(self, kind: Kind) -> None:
        """Tell every subscriber the backend went ``unavailable`` or came back."""
        self.available = kind != "unavailable"
        for channel, subs in list(self._subscribers.items()):
            status = ChannelMessage(channel, "", b"", kind)
            for sub in tuple(subs):
                sub._put(status)

    def _channels(self) -> list[str]:
        return list(self._subscribers)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        _background.add(task)
        task.add_done_callback(_background.discard)

    def __repr__(self) -> str:
        return f"<ChannelLayer {self.url} subscribers={self.subscribers}>"


_background: set[asyncio.Future[Any]] = set()

_lock = threading.Lock()
_default: ChannelLayer | None = None


def get_channel_layer() -> ChannelLayer:
    """Return the process's channel layer (Django Channels' name).

    The :class:`~oakling.channels.Channels` plugin sets it; without one it is
    a memory layer made on first use.
    """
    global _default
    layer = _default
    if layer is None:
        with _lock:
            if _default is None:
                _default = ChannelLayer()
            layer = _default
    return layer


def set_channel_layer(layer: ChannelLayer) -> None:
    """Make ``layer`` the one :func:`publish` and :func:`subscribe` use."""
    global _default
    _default = layer


async def publish(channel: str, message: Any) -> str:
    """Publish on the process's layer: :meth:`ChannelLayer.publish`."""
    return await get_channel_layer().publish(channel, message)


def publish_sync(channel: str, message: Any) -> str:
    """Publish from sync code on the process's layer: :meth:`ChannelLayer.publish_sync`."""
    return get_channel_layer().publish_sync(channel, message)


def subscribe(
    channel: str, *, last_event_id: str | None = None, max_queue: int | None = None
) -> Subscription:
    """Subscribe on the process's layer: :meth:`ChannelLayer.subscribe`."""
    return get_channel_layer().subscribe(channel, last_event_id=last_event_id, max_queue=max_queue)
