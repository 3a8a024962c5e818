"""A Redis outage: subscribers are told, publishing is a 503, and all resumes within 1 s.

Runs a private redis-server (never the shared one) that the test kills and restarts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from oakling import App, Request, WebSocket
from oakling.channels import (
    CLOSE_UNAVAILABLE,
    ChannelLayer,
    Channels,
    get_channel_layer,
    publish,
    sse_response,
    websocket_feed,
)
from oakling.config import Settings
from oakling.exceptions import ServiceUnavailable
from oakling.testing import AsyncClient, TestClient
from tests.channels.sse_support import SSEStream
from tests.conftest import PrivateRedis

PORT = 16501
URL = f"redis://127.0.0.1:{PORT}/0"
SECRET = "channels-outage-tests-secret-key-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[PrivateRedis]:
    running = PrivateRedis(PORT)
    running.start()
    yield running
    running.stop()


def make_app() -> App:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Channels(URL)])

    @app.get("/events")
    async def events(request: Request) -> Any:
        return sse_response(request, "news", ping=None)

    @app.post("/say")
    async def say(text: str) -> dict[str, str]:
        return {"id": await publish("news", {"text": text})}

    @app.websocket("/ws")
    async def feed(websocket: WebSocket) -> None:
        await websocket_feed(websocket, "news")

    return app


@pytest.mark.anyio
async def test_subscribers_are_told_of_an_outage_and_resume_within_a_second(
    server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    layer = ChannelLayer(URL)
    await layer.start()
    try:
        async with layer.subscribe("news") as sub:
            await layer.publish("news", "before")
            assert (await asyncio.wait_for(sub.get(), 5)).data == "before"
            with caplog.at_level(logging.INFO, "oakling.outage"):
                server.stop()
                told = await asyncio.wait_for(sub.get(), 2)
                assert told is not None and told.kind == "unavailable"
                with pytest.raises(ServiceUnavailable) as raised:
                    await layer.publish("news", "lost")
                assert raised.value.status_code == 503
                assert raised.value.headers["Retry-After"] == "1"
                # A subscriber arriving during the outage is told at once.
                async with layer.subscribe("news") as late:
                    assert (await asyncio.wait_for(late.get(), 1)).kind == "unavailable"
                back = server.start()
                resumed = await asyncio.wait_for(sub.get(), 2)
                assert resumed is not None and resumed.kind == "available"
                assert time.monotonic() - back < 1.0
                await layer.publish("news", "after")
                assert (await asyncio.wait_for(sub.get(), 5)).data == "after"
            lines = [record.getMessage() for record in caplog.records]
            assert any("channel layer (Redis) is unavailable" in line for line in lines)
            assert any("available again" in line for line in lines)
    finally:
        await layer.close()


@pytest.mark.anyio
async def test_sse_streams_stay_open_across_an_outage(server: PrivateRedis) -> None:
    app = make_app()
    async with AsyncClient(app, raise_server_exceptions=False) as client:
        stream = SSEStream(app, "/events")
        assert (await stream.start())["status"] == 200
        layer = get_channel_layer()
        for _ in range(200):
            if layer.subscribers:
                break
            await asyncio.sleep(0.01)
        await client.post("/say", params={"text": "one"})
        assert json.loads((await stream.next_event())["data"]) == {"text": "one"}
        server.stop()
        assert (await stream.next_event(timeout=2))["event"] == "channel-unavailable"
        # Publishing in a request is a 503 with Retry-After, not a 500.
        refused = await client.post("/say", params={"text": "lost"})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        server.start()
        assert (await stream.next_event(timeout=2))["event"] == "channel-available"
        sent = (await client.post("/say", params={"text": "two"})).json()["id"]
        event = await stream.next_event()
        assert (event["id"], json.loads(event["data"])) == (sent, {"text": "two"})
        await stream.close()


def test_websockets_are_closed_with_1013_during_an_outage(server: PrivateRedis) -> None:
    with TestClient(make_app()) as client:
        with client.websocket_connect("/ws") as socket:
            layer = get_channel_layer()
            for _ in range(200):
                if layer.subscribers:
                    break
                time.sleep(0.01)
            server.stop()
            closed = socket.receive(timeout=3)
            assert closed == {
                "type": "websocket.close",
                "code": CLOSE_UNAVAILABLE,
                "reason": "channel layer unavailable",
            }
        server.start()
        deadline = time.monotonic() + 2
        while not layer.available and time.monotonic() < deadline:
            time.sleep(0.02)
        assert layer.available
        # Reconnecting once Redis is back works again.
        with client.websocket_connect("/ws") as socket:
            for _ in range(200):
                if layer.subscribers:
                    break
                time.sleep(0.01)
            client.post("/say", params={"text": "back"})
            assert json.loads(socket.receive_text()) == {"text": "back"}
