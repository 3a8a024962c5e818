"""The fan-out benchmark's oakling app: one SSE stream of the ``fanout`` channel.

Served by ``uvicorn bench.fanout_apps.oakling_app:app`` with
``OAKLING_CHANNELS_URL=redis://...``; the benchmark publishes from outside.
"""

from __future__ import annotations

from oakling import App, Request
from oakling.channels import ChannelEventSource, Channels, sse_response

app = App(plugins=[Channels()])


@app.get("/events")
async def events(request: Request) -> ChannelEventSource:
    """Stream the ``fanout`` channel (no keep-alive pings: the run is short)."""
    return sse_response(request, "fanout", ping=None)
