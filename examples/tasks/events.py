"""The live feed: a broadcaster handing each change to every open page.

Each subscriber (one ``GET /events`` stream, so one open browser tab) gets its
own ``asyncio.Queue``. Handlers publish from wherever they run: sync handlers
run in worker threads, where asyncio objects must not be touched, so
:meth:`Broadcaster.publish` hands the message to the event loop with
``loop.call_soon_threadsafe``. One process, one feed: with several worker
processes a shared channel (Redis pub/sub) would replace this class.

Messages go to a topic: the demo's topic is the id of the user whose task
changed, and each page subscribes to its own user's topic only, so no user
is ever sent another user's changes (a subscriber never even queues them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Hashable
from typing import Generic, TypeVar

__all__ = ["Broadcaster"]

T = TypeVar("T")


class Broadcaster(Generic[T]):
    """Fan messages out to the subscribers of their topic, from any thread.

    Wire it to the app's life: ``app.on_startup(feed.start)`` captures the
    event loop, ``app.on_shutdown(feed.close)`` ends every subscription.

    Args:
        max_pending: Messages kept per subscriber that is not reading; past
            that, it misses messages rather than growing without bound
            (a stalled client must not exhaust the server's memory).
    """

    def __init__(self, max_pending: int = 100) -> None:
        self.max_pending = max_pending
        # NOTE: touched on the event loop only; other threads go through publish().
        self._topics: dict[Hashable, set[asyncio.Queue[T | None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open, on every topic."""
        return sum(len(queues) for queues in self._topics.values())

    async def start(self) -> None:
        """Capture the running event loop; call it at startup."""
        self._loop = asyncio.get_running_loop()
        self._closed = False

    async def close(self) -> None:
        """End every subscription (and refuse new ones); call it at shutdown."""
        self._closed = True
        for queues in self._topics.values():
            for queue in queues:
                queue.put_nowait(None)  # the end-of-stream marker

    def publish(self, message: T, topic: Hashable = None) -> None:
        """Send ``message`` (not None) to the subscribers of ``topic``; safe from any thread.

        A no-op before :meth:`start` or after :meth:`close`: nobody can be
        listening then.
        """
        loop = self._loop
        if loop is None or self._closed or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._deliver, message, topic)

    def _deliver(self, message: T, topic: Hashable) -> None:
        for queue in self._topics.get(topic, ()):
            if queue.qsize() < self.max_pending:
                queue.put_nowait(message)

    async def subscribe(self, topic: Hashable = None) -> AsyncGenerator[T, None]:
        """Yield every message published to ``topic`` from now on, until :meth:`close`.

        Closing the generator (the client went away and its stream was
        cancelled) unsubscribes.

        Raises:
            RuntimeError: If :meth:`start` was never called.
        """
        if self._loop is None:
            raise RuntimeError("Broadcaster.start() was not called: use app.on_startup(feed.start)")
        if self._closed:
            return
        queue: asyncio.Queue[T | None] = asyncio.Queue()
        queues = self._topics.setdefault(topic, set())
        queues.add(queue)
        try:
            while (message := await queue.get()) is not None:
                yield message
        finally:
            queues.discard(queue)
            if not queues and self._topics.get(topic) is queues:
                del self._topics[topic]
