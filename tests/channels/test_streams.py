"""SSE and WebSocket fan-out through an app: frames, Last-Event-ID, slow clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from oakling import App, Request, WebSocket
from oakling.channels import (
    CLOSE_SLOW,
    ChannelLayer,
    Channels,
    get_channel_layer,
    publish,
    sse_response,
    websocket_feed,
)
from oakling.config import Settings
from oakling.testing import AsyncClient, TestClient
from oakling.websockets import WebSocketState
from tests.channels.sse_support import SSEStream

SECRET = "channels-tests-secret-key-0123456789abcdefghijkl"


def make_app(**options: Any) -> App:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Channels(**options)])

    @app.get("/rooms/{room}/events")
    async def events(request: Request, room: str) -> Any:
        return sse_response(request, f"room.{room}", event="said", ping=None)

    @app.post("/rooms/{room}/say")
    async def say(room: str, text: str) -> dict[str, str]:
        return {"id": await publish(f"room.{room}", {"text": text})}

    @app.websocket("/rooms/{room}/ws")
    async def room_socket(websocket: WebSocket, room: str) -> None:
        await websocket_feed(websocket, f"room.{room}")

    return app


async def wait_for_subscribers(layer: ChannelLayer, count: int) -> None:
    for _ in range(200):
        if layer.subscribers == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{layer.subscribers} subscribers, expected {count}")


@pytest.mark.anyio
async def test_sse_sends_each_message_with_its_id_and_event_type() -> None:
    app = make_app()
    async with AsyncClient(app) as client:
        stream = SSEStream(app, "/rooms/blue/events")
        start = await stream.start()
        assert start["status"] == 200
        headers = dict(start["headers"])
        assert headers[b"content-type"] == b"text/event-stream; charset=utf-8"
        assert headers[b"cache-control"] == b"no-cache"
        await wait_for_subscribers(get_channel_layer(), 1)
        sent = (await client.post("/rooms/blue/say", params={"text": "hello"})).json()["id"]
        event = await stream.next_event()
        assert event == {"event": "said", "id": sent, "data": '{"text":"hello"}'}
        # Another room's messages are not sent.
        await client.post("/rooms/red/say", params={"text": "elsewhere"})
        with pytest.raises(asyncio.TimeoutError):
            await stream.next_event(timeout=0.2)
        await stream.close()
        assert get_channel_layer().subscribers == 0


@pytest.mark.anyio
async def test_a_browser_reconnecting_with_last_event_id_gets_what_it_missed() -> None:
    app = make_app()
    async with AsyncClient(app) as client:
        ids = [
            (await client.post("/rooms/x/say", params={"text": str(n)})).json()["id"]
            for n in range(4)
        ]
        stream = SSEStream(app, "/rooms/x/events", {"last-event-id": ids[1]})
        await stream.start()
        replayed = [await stream.next_event() for _ in range(2)]
        assert [(e["id"], json.loads(e["data"])["text"]) for e in replayed] == [
            (ids[2], "2"),
            (ids[3], "3"),
        ]
        await stream.close()


@pytest.mark.anyio
async def test_a_last_event_id_older_than_the_buffer_sends_a_reset_event() -> None:
    app = make_app(replay=2)
    async with AsyncClient(app) as client:
        first = (await client.post("/rooms/x/say", params={"text": "0"})).json()["id"]
        for n in range(1, 5):
            await client.post("/rooms/x/say", params={"text": str(n)})
        stream = SSEStream(app, "/rooms/x/events", {"last-event-id": first})
        await stream.start()
        assert (await stream.next_event())["event"] == "channel-reset"
        await stream.close()


@pytest.mark.anyio
async def test_a_slow_sse_client_is_dropped_without_growing_memory() -> None:
    app = make_app(max_queue=3)
    async with AsyncClient(app) as client:
        stuck = asyncio.Event()
        stalled = SSEStream(app, "/rooms/x/events", blocked=stuck)
        await stalled.start()
        reader = SSEStream(app, "/rooms/x/events")
        await reader.start()
        layer = get_channel_layer()
        await wait_for_subscribers(layer, 2)
        for n in range(20):
            await client.post("/rooms/x/say", params={"text": str(n)})
            assert json.loads((await reader.next_event())["data"]) == {"text": str(n)}
        # The stalled client was dropped: the reader alone is subscribed.
        assert layer.subscribers == 1
        stuck.set()  # its socket drains: the stream ends, the browser would reconnect
        await asyncio.wait_for(stalled.task, 5)
        await reader.close()


def test_a_bad_channel_name_from_the_url_is_a_400() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/rooms/a%20b/events")
        assert response.status_code == 400
        assert "channel name" in response.json()["detail"]


def test_websocket_clients_get_each_message_as_a_text_frame() -> None:
    with TestClient(make_app()) as client:
        with (
            client.websocket_connect("/rooms/x/ws") as first,
            client.websocket_connect("/rooms/x/ws") as second,
        ):
            layer = get_channel_layer()
            _wait_sync(layer, 2)
            client.post("/rooms/x/say", params={"text": "hi"})
            assert json.loads(first.receive_text()) == {"text": "hi"}
            assert json.loads(second.receive_text()) == {"text": "hi"}
        _wait_sync(layer, 0)


def _wait_sync(layer: ChannelLayer, count: int) -> None:
    import time

    for _ in range(200):
        if layer.subscribers == count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{layer.subscribers} subscribers, expected {count}")


@pytest.mark.anyio
async def test_a_slow_websocket_client_is_closed_with_1008() -> None:
    layer = ChannelLayer(max_queue=2)
    await layer.start()
    sent: list[dict[str, Any]] = []
    stuck = asyncio.Event()
    closed = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await closed.wait()
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            await stuck.wait()
        sent.append(message)

    scope = {"type": "websocket", "path": "/", "headers": [], "query_string": b""}
    websocket = WebSocket(scope, receive, send)
    websocket.client_state = websocket.application_state = WebSocketState.CONNECTED
    feed = asyncio.ensure_future(websocket_feed(websocket, "slow", accept=False, layer=layer))
    await wait_for_subscribers(layer, 1)
    for n in range(10):
        await layer.publish("slow", n)
    await asyncio.sleep(0.05)
    stuck.set()
    await asyncio.wait_for(feed, 5)
    assert sent[-1] == {"type": "websocket.close", "code": CLOSE_SLOW, "reason": "too slow"}
    assert layer.subscribers == 0
    await layer.close()


def test_a_stream_without_the_plugin_is_a_logged_error_not_an_empty_200() -> None:
    from oakling.channels import set_channel_layer

    set_channel_layer(ChannelLayer())  # a layer nobody started
    app = App(settings=Settings(SECRET_KEY=SECRET))

    @app.get("/events")
    async def events(request: Request) -> Any:
        return sse_response(request, "x")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/events").status_code == 500
    with TestClient(app) as client, pytest.raises(RuntimeError, match="Channels"):
        client.get("/events")


def test_an_app_without_the_plugin_never_imports_channels() -> None:
    import subprocess
    import sys

    code = (
        "import sys, oakling; from oakling import App; App(); "
        "assert not [m for m in sys.modules if m.startswith('oakling.channels')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_websocket_disconnect_is_the_normal_end() -> None:
    with TestClient(make_app()) as client:
        with client.websocket_connect("/rooms/y/ws") as socket:
            _wait_sync(get_channel_layer(), 1)
            socket.close()
        _wait_sync(get_channel_layer(), 0)
