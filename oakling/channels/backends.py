"""Channel layer backends: one process in memory, or Redis pub/sub for many.

Redis: every publish is one Lua script run (``EVALSHA``): ``XADD`` to the
channel's replay stream (``MAXLEN`` = the replay size, so the stream id is
the message id), ``PEXPIRE`` of that stream, and ``PUBLISH`` of
``"<id> <json>"``. Each process keeps one pub/sub connection, subscribed to
the channels it has subscribers of (plus a control channel, so an outage is
seen even with none); when it breaks, subscribers get an ``"unavailable"``
status message and the connection is retried every 0.2 s; once back, the
channels are subscribed again, what they missed is read from the replay
streams, and subscribers get ``"available"``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from oakling.exceptions import ServiceUnavailable
from oakling.outages import outages

from .subscriptions import ChannelMessage, format_id, parse_id

if TYPE_CHECKING:
    from .layer import ChannelLayer

__all__ = ["SERVICE", "MemoryBackend", "RedisBackend"]

logger = logging.getLogger("oakling.channels")

#: The name outages are logged and 503s are raised under.
SERVICE = "the channel layer (Redis)"

_RETRY_INTERVAL = 0.2


class _IdClock:
    """Make ids shaped like Redis stream ids: ``<ms>-<seq>``, increasing."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = (0, 0)

    def next(self) -> str:
        now = int(time.time() * 1000)
        ms, seq = self.last
        self.last = (now, 0) if now > ms else (ms, seq + 1)
        return format_id(self.last)


def _split_history(entries: list[ChannelMessage], after: str) -> tuple[list[ChannelMessage], bool]:
    """Return the entries newer than ``after`` and whether a gap is possible.

    No gap only when the buffer still holds ``after`` or an older message
    and ``after`` is not newer than the newest one (an id from the future,
    or from before a Redis restart that lost the buffer, is a reset).
    """
    wanted = parse_id(after)
    if wanted is None or not entries:
        return [], True
    first, last = parse_id(entries[0].id), parse_id(entries[-1].id)
    if first is None or last is None or first > wanted or wanted > last:
        return [], True
    newer = [entry for entry in entries if (parse_id(entry.id) or (0, 0)) > wanted]
    return newer, False


class MemoryBackend:
    """Channels within one process: the embedded default.

    Publishing from another thread (a sync handler) hands delivery to the
    layer's loop with ``call_soon_threadsafe``. Replay buffers live in
    memory: ``replay`` messages per channel, forgotten ``replay_ttl``
    seconds after a channel's last message.
    """

    def __init__(self, replay: int, replay_ttl: float) -> None:
        self.replay = replay
        self.replay_ttl = replay_ttl
        self._layer: ChannelLayer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._clock = _IdClock()
        # NOTE: oldest-touched first, so expired buffers are pruned from the front.
        self._logs: collections.OrderedDict[
            str, tuple[collections.deque[ChannelMessage], float]
        ] = collections.OrderedDict()

    async def start(self, layer: ChannelLayer) -> None:
        """Deliver to ``layer`` on the running loop."""
        self._layer = layer
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        """Stop delivering (buffers are kept for a restart in the same process)."""
        self._layer = None
        self._loop = None

    def _record(self, channel: str, payload: bytes) -> ChannelMessage:
        now = time.monotonic()
        with self._lock:
            message = ChannelMessage(channel, self._clock.next(), payload)
            entry = self._logs.pop(channel, None)
            log = entry[0] if entry else collections.deque(maxlen=self.replay)
            log.append(message)
            self._logs[channel] = (log, now)
            while self._logs:
                oldest = next(iter(self._logs.values()))
                if now - oldest[1] <= self.replay_ttl:
                    break
                self._logs.popitem(last=False)
        return message

    async def publish(self, channel: str, payload: bytes) -> str:
        """Record and deliver inline (the caller is on the layer's loop)."""
        message = self._record(channel, payload)
        if self._layer is not None:
            self._layer._deliver(message)
        return message.id

    def publish_sync(self, channel: str, payload: bytes) -> str:
        """Record, and deliver on the layer's loop from whichever thread."""
        message = self._record(channel, payload)
        loop, layer = self._loop, self._layer
        if loop is not None and layer is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                layer._deliver(message)
            else:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(layer._deliver, message)
        return message.id

    async def listen(self, channel: str) -> None:
        """Nothing to do: every message of the process is local."""

    async def unlisten(self, channel: str) -> None:
        """Nothing to do."""

    async def history(self, channel: str, after: str) -> tuple[list[ChannelMessage], bool]:
        """Return the buffered messages after ``after`` (see ``_split_history``)."""
        with self._lock:
            entry = self._logs.get(channel)
            entries = list(entry[0]) if entry else []
        return _split_history(entries, after)


# NOTE: KEYS[1] the replay stream, KEYS[2] the pub/sub channel;
# ARGV payload, replay size, ttl in ms.
_PUBLISH = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 'd', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], id .. ' ' .. ARGV[1])
return id
"""


def _client_options(timeout: float) -> dict[str, Any]:
    return {"socket_connect_timeout": timeout, "socket_timeout": timeout}


class RedisBackend:
    """Channels over Redis pub/sub, shared by every worker and host.

    Args:
        url: The Redis URL (``redis://host:port/db``).
        prefix: Prefix of keys and pub/sub channel names.
        replay: Messages kept per channel (a capped stream).
        replay_ttl: Seconds a stream outlives its last message.
    """

    def __init__(self, url: str, prefix: str, replay: int, replay_ttl: float) -> None:
        try:
            import redis  # noqa: F401
        except ImportError as ex:  # pragma: no cover - redis is in [dev]
            from oakling.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                "CHANNELS_URL names Redis: pip install 'oakling[channels-redis]'"
            ) from ex
        self.url = url
        self.prefix = prefix
        self.replay = replay
        self.replay_ttl_ms = max(1, int(replay_ttl * 1000))
        self._layer: ChannelLayer | None = None
        self._client: Any = None
        self._listener: Any = None
        self._pubsub: Any = None
        self._sync_client: Any = None
        self._sync_lock = threading.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._listening: set[str] = set()
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._connected = asyncio.Event()
        self._last_seen: dict[str, str] = {}
        self._closing = False

    def _stream_key(self, channel: str) -> str:
        return f"{self.prefix}log:{channel}"

    def _pubsub_name(self, channel: str) -> str:
        return f"{self.prefix}ch:{channel}"

    async def start(self, layer: ChannelLayer) -> None:
        """Open the clients and start the pub/sub reader (it retries by itself)."""
        import redis.asyncio

        self._layer = layer
        self._closing = False
        self._connected = asyncio.Event()
        self._client = redis.asyncio.Redis.from_url(self.url, **_client_options(1.0))
        self._script = self._client.register_script(_PUBLISH)
        # NOTE: no socket_timeout on the pub/sub connection: it waits for
        # messages; get_message() polls with its own timeout.
        self._listener = redis.asyncio.Redis.from_url(self.url, socket_connect_timeout=1.0)
        self._reader = asyncio.ensure_future(self._run())
        # NOTE: a Redis that is down at startup does not stop the app: the
        # reader keeps retrying and subscribers are told it is unavailable.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._connected.wait()), 2.0)

    async def close(self) -> None:
        """Stop the reader and close the clients."""
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        await self._drop_pubsub()
        for client in (self._client, self._listener):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self._client = self._listener = None
        if self._sync_client is not None:
            with contextlib.suppress(Exception):
                self._sync_client.close()
            self._sync_client = None
        for future in self._confirmed.values():
            if not future.done():
                future.cancel()
        self._confirmed.clear()

    # -- publishing ---------------------------------------------------------------

    async def publish(self, channel: str, payload: bytes) -> str:
        """Run the publish script; a Redis error is a 503."""
        from redis.exceptions import RedisError

        if self._client is None:
            raise RuntimeError("the channel layer is not started")
        try:
            raw = await self._script(
                keys=[self._stream_key(channel), self._pubsub_name(channel)],
                args=[payload, self.replay, self.replay_ttl_ms],
            )
        except (RedisError, OSError) as ex:
            outages.failed(SERVICE, ex)
            raise ServiceUnavailable("the channel layer", retry_after=1) from ex
        outages.recovered(SERVICE)
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def publish_sync(self, channel: str, payload: bytes) -> str:
        """The same script through a blocking client (thread-safe pool)."""
        import redis
        from redis.exceptions import RedisError

        with self._sync_lock:
            if self._sync_client is None:
                client = redis.Redis.from_url(self.url, **_client_options(1.0))
                self._sync_script = client.register_script(_PUBLISH)
                self._sync_client = client
        try:
            raw = self._sync_script(
                keys=[self._stream_key(channel), self._pubsub_name(channel)],
                args=[payload, self.replay, self.replay_ttl_ms],
            )
        except (RedisError, OSError) as ex:
            outages.failed(SERVICE, ex)
            raise ServiceUnavailable("the channel layer", retry_after=1) from ex
        outages.recovered(SERVICE)
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    # -- receiving ----------------------------------------------------------------

    async def listen(self, channel: str) -> None:
        """Subscribe ``channel`` on the pub/sub connection; wait for Redis' reply.

        During an outage it returns at once: the reader subscribes it on
        reconnection, and the subscriber has been told ``"unavailable"``.
        """
        if channel in self._listening:
            future = self._confirmed.get(channel)
            if future is not None and self._connected.is_set():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(future), 2.0)
            return
        self._listening.add(channel)
        if not self._connected.is_set() or self._pubsub is None:
            return
        future = asyncio.get_running_loop().create_future()
        self._confirmed[channel] = future
        try:
            await self._pubsub.subscribe(self._pubsub_name(channel))
            await asyncio.wait_for(asyncio.shield(future), 2.0)
        except Exception as ex:  # noqa: BLE001 - the reader sees the outage too
            logger.debug("subscribing %r failed: %s", channel, ex)

    async def unlisten(self, channel: str) -> None:
        """Unsubscribe ``channel`` unless a subscriber came back meanwhile."""
        layer = self._layer
        if layer is None or layer.subscriber_count(channel) or channel not in self._listening:
            return
        self._listening.discard(channel)
        self._confirmed.pop(channel, None)
        self._last_seen.pop(channel, None)
        if self._pubsub is not None and self._connected.is_set():
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(self._pubsub_name(channel))

    async def history(self, channel: str, after: str) -> tuple[list[ChannelMessage], bool]:
        """Read the channel's replay stream (``XRANGE``)."""
        if self._client is None:
            return [], True
        entries = await self._client.xrange(self._stream_key(channel), "-", "+")
        return _split_history(self._entries(channel, entries), after)

    @staticmethod
    def _entries(channel: str, entries: list[Any]) -> list[ChannelMessage]:
        messages = []
        for raw_id, fields in entries:
            message_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            messages.append(ChannelMessage(channel, message_id, fields.get(b"d", b"")))
        return messages

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _run(self) -> None:
        """Read pub/sub messages; on a failure tell subscribers and reconnect."""
        from redis.exceptions import RedisError

        layer = self._layer
        assert layer is not None
        control = self._pubsub_name("\x00control")
        prefix = self._pubsub_name("")
        down = False
        while not self._closing:
            try:
                pubsub = self._listener.pubsub()
                self._pubsub = pubsub
                names = [self._pubsub_name(channel) for channel in self._listening]
                await pubsub.subscribe(control, *names)
                if down:
                    await self._catch_up(layer)
                    down = False
                    outages.recovered(SERVICE)
                    layer._status("available")
                self._connected.set()
                while not self._closing:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    kind = message["type"]
                    name = message["channel"]
                    name = name.decode() if isinstance(name, bytes) else name
                    if not name.startswith(prefix):
                        continue
                    channel = name[len(prefix) :]
                    if kind == "message":
                        self._dispatch(layer, channel, message["data"])
                    elif kind == "subscribe":
                        future = self._confirmed.get(channel)
                        if future is not None and not future.done():
                            future.set_result(None)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, RuntimeError) as ex:
                self._connected.clear()
                await self._drop_pubsub()
                if not down:
                    down = True
                    outages.failed(SERVICE, ex)
                    layer._status("unavailable")
                await asyncio.sleep(_RETRY_INTERVAL)

    def _dispatch(self, layer: ChannelLayer, channel: str, data: bytes) -> None:
        raw_id, _, payload = data.partition(b" ")
        message_id = raw_id.decode()
        self._last_seen[channel] = message_id
        layer._deliver(ChannelMessage(channel, message_id, payload))

    async def _catch_up(self, layer: ChannelLayer) -> None:
        """Deliver what the channels' streams got while the reader was away."""
        for channel in list(self._listening):
            seen = self._last_seen.get(channel)
            if seen is None:
                continue
            kept, gap = await self.history(channel, seen)
            if gap:
                continue  # NOTE: Redis lost the streams (a restart): nothing to replay
            for message in kept:
                self._last_seen[channel] = message.id
                layer._deliver(message)
