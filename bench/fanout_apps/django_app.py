"""The fan-out benchmark's Django Channels app: one SSE stream of the ``fanout`` group.

Django Channels' idiom for server-sent events: an ``AsyncHttpConsumer`` that
sends the headers, joins a group of the channel layer (channels-redis's
``RedisChannelLayer``, or its ``RedisPubSubChannelLayer`` when
``FANOUT_DJANGO_LAYER=pubsub``) and writes each group message as an event.
Served by ``uvicorn bench.fanout_apps.django_app:application`` with
``FANOUT_REDIS_URL``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import django
from django.conf import settings

LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="fanout-benchmark-not-secret-0123456789abcdef",
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": LAYERS[os.environ.get("FANOUT_DJANGO_LAYER", "core")],
                "CONFIG": {
                    "hosts": [os.environ.get("FANOUT_REDIS_URL", "redis://127.0.0.1:6379/0")],
                    "prefix": "fanout-bench",
                },
            }
        },
    )
    django.setup()

from channels.generic.http import AsyncHttpConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

GROUP = "fanout"


class FeedConsumer(AsyncHttpConsumer):  # type: ignore[misc]
    """``GET /events``: a ``text/event-stream`` of the group's messages.

    ``AsyncHttpConsumer.http_request`` ends the consumer once ``handle``
    returns; a stream must outlive it, so (as Django Channels' users do for
    SSE) ``http_request`` only calls ``handle`` and the consumer keeps
    dispatching group messages until ``http.disconnect``.
    """

    async def http_request(self, message: dict[str, Any]) -> None:
        if "body" in message:
            self.body.append(message["body"])
        if not message.get("more_body"):
            await self.handle(b"".join(self.body))

    async def handle(self, body: bytes) -> None:
        await self.send_headers(
            headers=[(b"Content-Type", b"text/event-stream"), (b"Cache-Control", b"no-cache")]
        )
        await self.channel_layer.group_add(GROUP, self.channel_name)
        # NOTE: the first bytes tell the client it is subscribed.
        await self.send_body(b": open\n\n", more_body=True)

    async def feed_message(self, event: dict[str, Any]) -> None:
        """A ``{"type": "feed.message", "message": {...}}`` sent to the group."""
        data = json.dumps(event["message"], separators=(",", ":"))
        await self.send_body(f"data: {data}\n\n".encode(), more_body=True)

    async def disconnect(self) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)


application = ProtocolTypeRouter({"http": URLRouter([path("events", FeedConsumer.as_asgi())])})
