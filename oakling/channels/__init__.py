"""oakling.channels: publish/subscribe across workers, fanned out over SSE and WebSockets.

In memory for one process by default, on Redis pub/sub for many workers and
hosts with ``CHANNELS_URL=redis://...`` (``pip install
'oakling[channels-redis]'``); no code changes between the two::

    from oakling import App, Request
    from oakling.channels import Channels, publish, sse_response

    app = App(plugins=[Channels()])


    @app.post("/rooms/{room}/say")
    async def say(room: str, text: str) -> None:
        await publish(f"room.{room}", {"text": text})


    @app.get("/rooms/{room}/events")
    async def events(request: Request, room: str):
        return sse_response(request, f"room.{room}")

See ``docs/channels.md`` for the semantics (ids, replay, slow clients,
outages) and the table against Django Channels.
"""

from __future__ import annotations

from .layer import (
    DEFAULT_MAX_QUEUE,
    DEFAULT_REPLAY,
    DEFAULT_REPLAY_TTL,
    ChannelLayer,
    get_channel_layer,
    publish,
    publish_sync,
    set_channel_layer,
    subscribe,
    validate_channel,
)
from .plugin import Channels
from .streams import (
    CLOSE_SLOW,
    CLOSE_UNAVAILABLE,
    ChannelEventSource,
    sse_response,
    websocket_feed,
)
from .subscriptions import ChannelMessage, Subscription

__all__ = [
    "CLOSE_SLOW",
    "CLOSE_UNAVAILABLE",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_REPLAY",
    "DEFAULT_REPLAY_TTL",
    "ChannelEventSource",
    "ChannelLayer",
    "ChannelMessage",
    "Channels",
    "Subscription",
    "get_channel_layer",
    "publish",
    "publish_sync",
    "set_channel_layer",
    "sse_response",
    "subscribe",
    "validate_channel",
    "websocket_feed",
]
