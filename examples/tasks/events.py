"""The live feed: each change, on the channel of the user whose task changed.

The feed is a thin layer over :mod:`oakling.channels`: one channel per user
(``tasks.user.<id>``), so no user is ever sent another user's changes (a
page subscribes to its own user's channel only). With the embedded default
the channel layer is in memory (one process); with
``OAKLING_CHANNELS_URL=redis://...`` it is Redis pub/sub, so a page served by
one worker (or host) hears the changes made on every other one.

Handlers publish from wherever they run: on the event loop a publish is a
task, in a sync handler's worker thread it is a blocking call into the layer
(which hands the message to the loop, or to Redis).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Hashable
from typing import Any, Generic, TypeVar

import msgspec

from oakling.channels import ChannelLayer
from oakling.exceptions import ServiceUnavailable

__all__ = ["Broadcaster", "channel_for"]

T = TypeVar("T")

logger = logging.getLogger("examples.tasks")


def channel_for(topic: Hashable) -> str:
    """Return the channel name of a topic (the demo's topic: a user id)."""
    return "tasks.all" if topic is None else f"tasks.user.{topic}"


class Broadcaster(Generic[T]):
    """Publish messages of type ``T`` to topics, and subscribe to a topic.

    Args:
        type: The message type: what subscribers decode each message into
            (messages travel as JSON, through Redis too).
        max_pending: Messages a subscriber may fall behind before it is
            dropped (a stalled client must not exhaust the server's memory).
        layer: The app's channel layer (the ``Channels`` plugin's); without
            one the broadcaster makes a memory layer of its own, started by
            :meth:`start` and closed by :meth:`close`.
    """

    def __init__(
        self, type: type[T], max_pending: int = 100, layer: ChannelLayer | None = None
    ) -> None:
        self.type = type
        self.max_pending = max_pending
        self._owned = layer is None
        self.layer = layer if layer is not None else ChannelLayer(max_queue=max_pending)
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open in this process, on every topic."""
        return self.layer.subscribers

    async def start(self) -> None:
        """Start an owned layer (a layer given to the constructor starts itself)."""
        if self._owned:
            await self.layer.start()

    async def close(self) -> None:
        """Close an owned layer, which ends every subscription."""
        if self._owned:
            await self.layer.close()

    def publish(self, message: T, topic: Hashable = None) -> None:
        """Send ``message`` to the subscribers of ``topic``; safe from any thread.

        A no-op before the layer starts or after it closes: nobody can be
        listening then. An unavailable Redis drops the announcement (the
        change itself is committed; the outage is logged once per interval).
        """
        if not self.layer.started:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # NOTE: a worker thread: blocking is fine here.
            self._publish_now(message, topic)
            return
        task = asyncio.ensure_future(self.apublish(message, topic))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _publish_now(self, message: T, topic: Hashable) -> None:
        try:
            self.layer.publish_sync(channel_for(topic), message)
        except ServiceUnavailable:
            logger.debug("a change was not announced: the channel layer is down")

    async def apublish(self, message: T, topic: Hashable = None) -> None:
        """Send ``message`` to the subscribers of ``topic`` from the event loop."""
        if not self.layer.started:
            return
        try:
            await self.layer.publish(channel_for(topic), message)
        except ServiceUnavailable:
            logger.debug("a change was not announced: the channel layer is down")

    async def subscribe(self, topic: Hashable = None) -> AsyncGenerator[T, None]:
        """Yield every message published to ``topic`` from now on, until the layer closes.

        Closing the generator (the client went away and its stream was
        cancelled) unsubscribes; a subscriber that falls behind is dropped
        (its iteration ends).

        Raises:
            RuntimeError: If the layer was never started.
        """
        subscription = self.layer.subscribe(channel_for(topic), max_queue=self.max_pending)
        async with subscription:
            async for message in subscription:
                if message.kind == "message":
                    yield msgspec.convert(message.data, self.type)
