from __future__ import annotations

import pytest

from oakling import App, WebSocket, WebSocketDisconnect, WebSocketException
from oakling.testing import TestClient

SECRET = "s" * 50


def make_app() -> App:
    app = App(secret_key=SECRET)

    @app.websocket("/echo")
    async def echo(ws: WebSocket):
        await ws.accept()
        text = await ws.receive_text()
        await ws.send_text(f"text:{text}")
        data = await ws.receive_bytes()
        await ws.send_bytes(data[::-1])
        payload = await ws.receive_json()
        await ws.send_json({"got": payload})
        await ws.close(4001, "bye")

    @app.websocket("/rooms/{room_id:int}")
    async def room(ws: WebSocket, room_id: int, token: str = "none"):
        await ws.accept()
        await ws.send_json({"room": room_id, "type": type(room_id).__name__, "token": token})
        await ws.close()

    @app.websocket("/private")
    async def private(ws: WebSocket):
        raise WebSocketException(1008, "not allowed")

    @app.websocket("/crash")
    async def crash(ws: WebSocket):
        await ws.accept()
        raise RuntimeError("ws bug")

    return app


def test_text_bytes_json_and_close_code():
    with TestClient(make_app()) as client, client.websocket_connect("/echo") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "text:hi"
        ws.send_bytes(b"abc")
        assert ws.receive_bytes() == b"cba"
        ws.send_json({"a": 1})
        assert ws.receive_json() == {"got": {"a": 1}}
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 4001


def test_typed_path_and_query_params():
    with TestClient(make_app()) as client:
        with client.websocket_connect("/rooms/12?token=t") as ws:
            assert ws.receive_json() == {"room": 12, "type": "int", "token": "t"}
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/rooms/abc"):
            pass


def test_policy_close_and_unknown_route():
    with TestClient(make_app()) as client:
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/private"):
            pass
        assert info.value.code == 1008
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/nowhere"):
            pass


def test_handler_error_closes_with_1011():
    with (
        TestClient(make_app(), raise_server_exceptions=False) as client,
        client.websocket_connect("/crash") as ws,
    ):
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 1011


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "Invalid JSON"),
        ('{"name": "\\ud800x"}', "lone surrogate \\ud800"),
    ],
)
def test_malformed_json_closes_with_1007_saying_why_without_logging(caplog, text, reason):
    app = App(secret_key=SECRET)

    @app.websocket("/json")
    async def json_echo(ws: WebSocket):
        await ws.accept()
        await ws.send_json(await ws.receive_json())

    with TestClient(app) as client, client.websocket_connect("/json") as ws:
        ws.send_text(text)
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
    assert info.value.code == 1007
    assert reason in info.value.reason
    assert "Traceback" not in caplog.text


def test_sync_websocket_handlers_are_refused_at_registration():
    from oakling.exceptions import ImproperlyConfigured

    app = App(secret_key=SECRET)
    with pytest.raises(ImproperlyConfigured, match="async def"):

        @app.websocket("/sync")
        def sync_handler(ws: WebSocket):
            pass


def test_before_websocket_hooks_run_in_order_and_can_refuse():
    from oakling import HTTPException, Router

    app = App(secret_key=SECRET)
    calls = []
    chat = Router()

    @app.before_websocket
    def app_hook(websocket):
        calls.append(("app", websocket.scope["endpoint"].__name__))

    @chat.before_websocket
    async def router_hook():
        calls.append(("router",))

    @chat.before_websocket
    def guard(websocket):
        if websocket.query_params.get("key") != "open":
            raise HTTPException(403, "no key")

    @chat.websocket("/room")
    async def room(ws: WebSocket):
        calls.append(("handler",))
        await ws.accept()
        await ws.send_text("hi")
        await ws.close()

    app.include(chat, prefix="/chat")

    @app.websocket("/plain")
    async def plain(ws: WebSocket):
        await ws.accept()
        await ws.close()

    with TestClient(app) as client:
        with client.websocket_connect("/chat/room?key=open") as ws:
            assert ws.receive_text() == "hi"
        assert calls == [("app", "room"), ("router",), ("handler",)]
        calls.clear()
        # A close before the accept: servers answer the handshake with 403.
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/chat/room"):
                pass  # pragma: no cover - refused
        assert (refused.value.code, refused.value.reason) == (1008, "no key")
        assert calls == [("app", "room"), ("router",)]
        calls.clear()
        # Router hooks stay on their router's sockets.
        with client.websocket_connect("/plain"):
            pass
        assert calls == [("app", "plain")]


def test_a_router_prefix_parameter_reaches_the_websocket_handler():
    from oakling import Router

    app = App(secret_key=SECRET)
    rooms = Router()

    @rooms.websocket("/chat")
    async def chat(ws: WebSocket, room_id: int, nick: str = "anon"):
        await ws.accept()
        await ws.send_json({"room": room_id, "nick": nick})
        await ws.close()

    app.include(rooms, prefix="/rooms/{room_id:int}")
    with TestClient(app) as client:
        with client.websocket_connect("/rooms/7/chat?nick=ann") as ws:
            assert ws.receive_json() == {"room": 7, "nick": "ann"}
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/rooms/seven/chat"):
                pass  # pragma: no cover - no route matches
        assert refused.value.code == 1008


def test_the_servers_signal_handler_runs_after_the_1001_close_is_sent():
    """SIGTERM: every open WebSocket gets 1001 before the server's handler runs.

    uvicorn's handler only sets a flag, and its next loop iteration closes the
    remaining WebSockets with 1012; run at once, it sometimes won that race.
    """
    import asyncio
    import os
    import signal

    from oakling._shutdown import install_signal_hook
    from oakling.websockets import WebSocket

    events: list[str] = []
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def server_handler(signum: int, frame: object) -> None:
        events.append("server handler")

    async def receive() -> dict[str, object]:
        if not events:
            return {"type": "websocket.connect"}
        await asyncio.Event().wait()  # the peer stays silent
        raise AssertionError("unreachable")

    async def send(message: dict[str, object]) -> None:
        await asyncio.sleep(0.01)  # a write that takes a moment to drain
        events.append(f"{message['type']} {message.get('code', '')}".strip())

    async def main() -> None:
        install_signal_hook()
        scope = {"type": "websocket", "path": "/", "headers": [], "query_string": b""}
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(WebSocketDisconnect) as raised:
            await websocket.receive()
        assert raised.value.code == 1001
        for _ in range(100):
            if "server handler" in events:
                break
            await asyncio.sleep(0.01)

    signal.signal(signal.SIGTERM, server_handler)
    try:
        asyncio.run(main())
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert events == ["websocket.accept", "websocket.close 1001", "server handler"]
