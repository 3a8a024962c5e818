"""The test clients and pytest fixtures, against raw ASGI apps (not oakling's App)."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest

from oakling.exceptions import WebSocketDisconnect
from oakling.testing import AsyncClient, TestClient, WebSocketDenied
from oakling.types import ASGIApp, Message, Receive, Scope, Send

pytest_plugins = ["pytester"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_leftover_loop_thread() -> Iterator[None]:
    """Every test must leave no test-client thread running."""
    yield
    leftover = [thread for thread in threading.enumerate() if thread.name == "oakling-testclient"]
    assert leftover == []


# -- helpers ------------------------------------------------------------------


async def respond(
    send: Send,
    body: bytes = b"",
    status: int = 200,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


async def respond_json(send: Send, data: Any) -> None:
    await respond(send, json.dumps(data).encode(), headers=[(b"content-type", b"application/json")])


async def serve_lifespan(
    receive: Receive,
    send: Send,
    on_startup: Callable[[], None] = lambda: None,
    on_shutdown: Callable[[], None] = lambda: None,
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            on_startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def recording_app(scopes: list[Scope]) -> ASGIApp:
    """An HTTP app recording each scope; it doesn't speak lifespan."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        scopes.append(scope)
        await respond(send, b"ok")

    return app


@dataclass
class Call:
    method: str
    url: str
    headers: list[tuple[str, str]] | None = None
    params: dict[str, Any] | None = None
    chunks: list[bytes] | None = None  # the body, streamed as these chunks


Exchange = Callable[..., list[httpx.Response]]


@pytest.fixture(params=["TestClient", "AsyncClient"])
def exchange(request: pytest.FixtureRequest) -> Exchange:
    """Return ``exchange(app, *calls, **client_options)`` for one client kind.

    It enters the client (so the lifespan runs), makes the calls in order and
    returns the responses.
    """

    def with_test_client(app: ASGIApp, *calls: Call, **options: Any) -> list[httpx.Response]:
        with TestClient(app, **options) as client:
            return [
                client.request(
                    call.method,
                    call.url,
                    headers=call.headers,
                    params=call.params,
                    content=None if call.chunks is None else iter(call.chunks),
                )
                for call in calls
            ]

    def with_async_client(app: ASGIApp, *calls: Call, **options: Any) -> list[httpx.Response]:
        async def stream(chunks: list[bytes]) -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        async def main() -> list[httpx.Response]:
            async with AsyncClient(app, **options) as client:
                return [
                    await client.request(
                        call.method,
                        call.url,
                        headers=call.headers,
                        params=call.params,
                        content=None if call.chunks is None else stream(call.chunks),
                    )
                    for call in calls
                ]

        return anyio.run(main)

    return with_test_client if request.param == "TestClient" else with_async_client


# -- lifespan -----------------------------------------------------------------


def test_lifespan_runs_around_requests_and_its_state_reaches_them(exchange: Exchange) -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":

            def startup() -> None:
                scope["state"]["pool"] = ["connection"]
                events.append("startup")

            await serve_lifespan(receive, send, startup, lambda: events.append("shutdown"))
            return
        state = scope["state"]
        keys = sorted(state)
        state["per_request"] = True  # a copy: the next request must not see it
        state["pool"].append("used")  # a shallow copy: shared objects are shared
        await respond_json(send, {"keys": keys, "pool": state["pool"], "events": events})

    first, second = exchange(app, Call("GET", "/"), Call("GET", "/"))
    assert first.json() == {"keys": ["pool"], "pool": ["connection", "used"], "events": ["startup"]}
    assert second.json()["keys"] == ["pool"]
    assert second.json()["pool"] == ["connection", "used", "used"]
    assert events == ["startup", "shutdown"]


async def fail_politely(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "database is down"})
    raise ConnectionError("database is down")


async def crash_in_startup(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    raise ConnectionError("database is down")


@pytest.mark.parametrize("app", [fail_politely, crash_in_startup])
def test_startup_failure_raises(exchange: Exchange, app: ASGIApp) -> None:
    error = RuntimeError if app is fail_politely else ConnectionError
    with pytest.raises(error, match="database is down"):
        exchange(app, Call("GET", "/"))


def test_shutdown_failure_raises_on_exit(exchange: Exchange) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.failed", "message": "pool would not close"})
            return
        await respond(send, b"ok")

    with pytest.raises(RuntimeError, match="pool would not close"):
        exchange(app, Call("GET", "/"))


async def refuses_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        raise ValueError(f"only HTTP, not {scope['type']}")
    await respond(send, b"ok")


async def ignores_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await respond(send, b"ok")


async def treats_everything_as_http(scope: Scope, receive: Receive, send: Send) -> None:
    await respond(send, b"ok")


@pytest.mark.parametrize("app", [refuses_lifespan, ignores_lifespan, treats_everything_as_http])
def test_app_without_lifespan_support_still_serves(exchange: Exchange, app: ASGIApp) -> None:
    (response,) = exchange(app, Call("GET", "/"))
    assert response.text == "ok"


def test_without_with_requests_work_and_no_lifespan_runs() -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send, lambda: events.append("startup"))
            return
        await respond(send, b"ok")

    client = TestClient(app)
    assert client.get("/").text == "ok"
    client.close()
    assert events == []

    forgotten = TestClient(app)
    assert forgotten.get("/").text == "ok"
    del forgotten
    gc.collect()  # its thread stops once the client is collected (checked by the fixture)


# -- the HTTP scope -----------------------------------------------------------


def test_http_scope(exchange: Exchange) -> None:
    scopes: list[Scope] = []
    options = {"base_url": "https://example.org:8443", "root_path": "/api"}
    exchange(
        recording_app(scopes),
        Call("POST", "/items?x=1", headers=[("X-Token", "t")], chunks=[b"a"]),
        client=("10.0.0.1", 1234),
        **options,
    )
    (scope,) = scopes
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "POST"
    assert scope["scheme"] == "https"
    assert tuple(scope["server"]) == ("example.org", 8443)
    assert tuple(scope["client"]) == ("10.0.0.1", 1234)
    assert scope["root_path"] == "/api"
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == (
        "/items",
        b"/items",
        b"x=1",
    )
    assert (b"host", b"example.org:8443") in scope["headers"]
    assert (b"x-token", b"t") in scope["headers"]
    assert (b"user-agent", b"testclient") in scope["headers"]
    assert all(name == name.lower() for name, _ in scope["headers"])
    assert scope["state"] == {}
    assert scope["oakling.raise_server_exceptions"] is True


def test_default_server_port_and_client() -> None:
    scopes: list[Scope] = []
    with TestClient(recording_app(scopes)) as client:
        client.get("/")
    assert tuple(scopes[0]["server"]) == ("testserver", 80)
    assert tuple(scopes[0]["client"]) == ("testclient", 50000)
    assert scopes[0]["scheme"] == "http"


@pytest.mark.parametrize(
    ("url", "path", "raw_path", "query_string"),
    [
        ("/plain", "/plain", b"/plain", b""),
        ("/caf%C3%A9/a%2Fb?x=1%202&y=%26", "/café/a/b", b"/caf%C3%A9/a%2Fb", b"x=1%202&y=%26"),
        ("/café?q=é", "/café", b"/caf%C3%A9", b"q=%C3%A9"),
        ("/a%20b/?empty=&flag", "/a b/", b"/a%20b/", b"empty=&flag"),
    ],
)
def test_path_is_decoded_and_raw_path_and_query_are_raw(
    exchange: Exchange, url: str, path: str, raw_path: bytes, query_string: bytes
) -> None:
    scopes: list[Scope] = []
    exchange(recording_app(scopes), Call("GET", url))
    assert (scopes[0]["path"], scopes[0]["raw_path"], scopes[0]["query_string"]) == (
        path,
        raw_path,
        query_string,
    )


def test_params_become_the_query_string(exchange: Exchange) -> None:
    scopes: list[Scope] = []
    exchange(recording_app(scopes), Call("GET", "/search", params={"q": "a b", "tag": ["x", "y"]}))
    assert scopes[0]["query_string"] == b"q=a+b&tag=x&tag=y"


def test_headers_keep_every_value_both_ways(exchange: Exchange) -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scopes.append(scope)
            await respond(send, headers=[(b"x-tag", b"1"), (b"x-tag", b"2")])

    (response,) = exchange(app, Call("GET", "/", headers=[("X-Tag", "a"), ("X-Tag", "b")]))
    assert [value for name, value in scopes[0]["headers"] if name == b"x-tag"] == [b"a", b"b"]
    assert response.headers.get_list("x-tag") == ["1", "2"]


# -- bodies -------------------------------------------------------------------


def test_body_is_streamed_in_chunks_then_disconnect_after_the_response(
    exchange: Exchange,
) -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            received.append(message)
            if not message.get("more_body"):
                break
        body = b"".join(message["body"] for message in received)
        await respond(send, body[::-1])
        received.append(await receive())

    (response,) = exchange(app, Call("POST", "/", chunks=[b"abc", b"", b"def", b"gh"]))
    assert response.content == b"hgfedcba"
    assert [message.get("body") for message in received[:-1]] == [b"abc", b"def", b"gh"]
    assert [message["more_body"] for message in received[:-1]] == [True, True, False]
    assert received[-1] == {"type": "http.disconnect"}


def test_request_without_body_gets_one_empty_message(exchange: Exchange) -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            received.append(await receive())
            await respond(send)

    exchange(app, Call("GET", "/"))
    assert received == [{"type": "http.request", "body": b"", "more_body": False}]


def test_response_body_sent_in_parts_is_joined(exchange: Exchange) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 201, "headers": []})
            for part in (b"one ", b"two ", b"three"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    (response,) = exchange(app, Call("GET", "/"))
    assert (response.status_code, response.text) == (201, "one two three")


# -- cookies and redirects ----------------------------------------------------


def test_cookies_persist_across_requests(exchange: Exchange) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/login":
            await respond(send, headers=[(b"set-cookie", b"session=abc; Path=/; HttpOnly")])
        elif scope["path"] == "/logout":
            await respond(send, headers=[(b"set-cookie", b"session=; Path=/; Max-Age=0")])
        else:
            cookie = dict(scope["headers"]).get(b"cookie", b"")
            await respond(send, cookie)

    before, _, during, _, after = exchange(
        app,
        Call("GET", "/whoami"),
        Call("POST", "/login"),
        Call("GET", "/whoami"),
        Call("POST", "/logout"),
        Call("GET", "/whoami"),
    )
    assert (before.text, during.text, after.text) == ("", "session=abc", "")


def test_redirects_are_followed_unless_told_not_to(exchange: Exchange) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/old":
            await respond(send, status=307, headers=[(b"location", b"/new")])
        else:
            await respond(send, scope["path"].encode())

    (followed,) = exchange(app, Call("GET", "/old"))
    assert (followed.status_code, followed.text) == (200, "/new")
    (kept,) = exchange(app, Call("GET", "/old"), follow_redirects=False)
    assert kept.status_code == 307


# -- server errors ------------------------------------------------------------


async def fails_before_responding(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        raise ValueError(f"bug, raise_server_exceptions={scope['oakling.raise_server_exceptions']}")


async def fails_mid_response(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ValueError("bug, raise_server_exceptions=True")


@pytest.mark.parametrize("app", [fails_before_responding, fails_mid_response])
def test_server_exception_is_reraised_in_the_test(exchange: Exchange, app: ASGIApp) -> None:
    with pytest.raises(ValueError, match="bug, raise_server_exceptions=True"):
        exchange(app, Call("GET", "/"))


def test_server_exception_becomes_an_empty_500_when_asked(exchange: Exchange) -> None:
    async def no_response(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    options = {"raise_server_exceptions": False}
    (failed,) = exchange(fails_before_responding, Call("GET", "/"), **options)
    assert (failed.status_code, failed.content) == (500, b"")
    (silent,) = exchange(no_response, Call("GET", "/"), **options)
    assert (silent.status_code, silent.content) == (500, b"")
    (partial,) = exchange(fails_mid_response, Call("GET", "/"), **options)
    assert (partial.status_code, partial.content) == (200, b"partial")


def test_app_returning_without_a_response_is_an_error(exchange: Exchange) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    with pytest.raises(RuntimeError, match="without sending http.response.start"):
        exchange(app, Call("GET", "/"))


START = {"type": "http.response.start", "status": 200, "headers": []}
BODY = {"type": "http.response.body", "body": b"x"}


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([START, START], "http.response.start sent twice"),
        ([BODY], "sent before http.response.start"),
        ([START, BODY, BODY], "sent after the response was complete"),
    ],
)
def test_asgi_protocol_mistakes_are_reported(
    exchange: Exchange, messages: list[Message], error: str
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for message in messages:
                await send(message)

    with pytest.raises(RuntimeError, match=error):
        exchange(app, Call("GET", "/"))


# -- AsyncClient on the current loop ------------------------------------------


@pytest.mark.anyio
async def test_async_client_runs_the_app_on_the_current_loop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        loops.append(asyncio.get_running_loop())
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send, lambda: scope["state"].update(ready=True))
            return
        await respond_json(send, scope["state"])

    async with AsyncClient(app) as client:
        response = await client.get("/")
    assert response.json() == {"ready": True}
    assert loops == [asyncio.get_running_loop()] * 2


# -- WebSockets ---------------------------------------------------------------


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then send every message back until the client disconnects."""
    if scope["type"] != "websocket":
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({**message, "type": "websocket.send"})


def test_websocket_echoes_text_bytes_and_json() -> None:
    with TestClient(echo) as client, client.websocket_connect("/echo") as ws:
        ws.send_text("héllo")
        assert ws.receive_text() == "héllo"
        ws.send_bytes(b"\x00\xff")
        assert ws.receive_bytes() == b"\x00\xff"
        ws.send_json({"a": [1, "é"]})
        assert ws.receive_json() == {"a": [1, "é"]}
        ws.send_json({"b": None}, mode="binary")
        assert ws.receive_json(mode="binary") == {"b": None}
        ws.send_bytes(b"x")
        with pytest.raises(TypeError, match="binary"):
            ws.receive_text()


def test_websocket_close_is_seen_with_its_code_and_reason() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": "bye"})
            await send({"type": "websocket.close", "code": 4001, "reason": "done"})

    with TestClient(app) as client, client.websocket_connect("/") as ws:
        assert ws.receive_text() == "bye"
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert (info.value.code, info.value.reason) == (4001, "done")
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()  # the close is final
        assert ws.receive() == {"type": "websocket.close", "code": 4001, "reason": "done"}


def test_websocket_returning_without_close_counts_as_1000() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})

    with TestClient(app) as client, client.websocket_connect("/") as ws:
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 1000


def test_websocket_closed_before_accept_raises_on_connect() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008, "reason": "no entry"})

    with TestClient(app) as client:
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/"):
            pytest.fail("the handshake should have failed")
    assert (info.value.code, info.value.reason) == (1008, "no entry")
    assert not isinstance(info.value, WebSocketDenied)


def test_websocket_denial_response_raises_websocket_denied() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            assert "websocket.http.response" in scope["extensions"]
            await receive()
            headers = [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")]
            start = {"type": "websocket.http.response.start", "status": 401, "headers": headers}
            await send(start)
            await send({"type": "websocket.http.response.body", "body": b"log ", "more_body": True})
            await send({"type": "websocket.http.response.body", "body": b"in"})

    with TestClient(app) as client:
        with pytest.raises(WebSocketDenied) as info, client.websocket_connect("/"):
            pytest.fail("the handshake should have failed")
    response = info.value.response
    assert (response.status_code, response.text) == (401, "log in")
    assert response.headers["www-authenticate"] == "Bearer"
    assert isinstance(info.value, WebSocketDisconnect) and info.value.code == 1006


def test_websocket_app_returning_before_accept_is_a_403() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    with TestClient(app) as client:
        with pytest.raises(WebSocketDenied) as info, client.websocket_connect("/"):
            pytest.fail("the handshake should have failed")
    assert info.value.response.status_code == 403


def test_websocket_scope_subprotocols_and_accept_headers() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send, lambda: scope["state"].update(room="lobby"))
            return
        scopes.append(scope)
        await receive()
        await send(
            {"type": "websocket.accept", "subprotocol": "v2", "headers": [(b"x-extra", b"1")]}
        )
        await receive()

    client = TestClient(app, base_url="https://example.org", cookies={"session": "abc"})
    with (
        client,
        client.websocket_connect(
            "/ws/caf%C3%A9?room=1", subprotocols=["v1", "v2"], headers={"X-Token": "t"}
        ) as ws,
    ):
        assert ws.accepted_subprotocol == "v2"
        assert ws.extra_headers == [(b"x-extra", b"1")]
    (scope,) = scopes
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["scheme"] == "wss"
    assert tuple(scope["server"]) == ("example.org", 443)
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == (
        "/ws/café",
        b"/ws/caf%C3%A9",
        b"room=1",
    )
    assert scope["subprotocols"] == ["v1", "v2"]
    assert scope["state"] == {"room": "lobby"}
    headers = dict(scope["headers"])
    assert headers[b"sec-websocket-protocol"] == b"v1, v2"
    assert headers[b"x-token"] == b"t"
    assert headers[b"cookie"] == b"session=abc"
    assert headers[b"upgrade"] == b"websocket"
    assert headers[b"host"] == b"example.org"


def test_websocket_client_close_reaches_the_app_with_its_code() -> None:
    disconnects: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            disconnects.append(await receive())

    with TestClient(app) as client:
        with client.websocket_connect("/") as ws:
            ws.close(4000, "going away")
            with pytest.raises(RuntimeError, match="closed"):
                ws.send_text("too late")
        with client.websocket_connect("/"):
            pass
    assert disconnects == [
        {"type": "websocket.disconnect", "code": 4000, "reason": "going away"},
        {"type": "websocket.disconnect", "code": 1000, "reason": ""},
    ]


def test_websocket_disconnect_is_final_for_the_app() -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            received.append(await receive())
            received.append(await receive())

    with TestClient(app) as client, client.websocket_connect("/", timeout=2):
        pass
    assert [message["type"] for message in received] == ["websocket.disconnect"] * 2


def test_websocket_app_error_is_reraised_on_receive() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            raise RuntimeError("handler bug")

    with TestClient(app) as client, client.websocket_connect("/") as ws:
        with pytest.raises(RuntimeError, match="handler bug"):
            ws.receive_text()
    with (
        TestClient(app, raise_server_exceptions=False) as client,
        client.websocket_connect("/") as ws,
    ):
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 1011


def test_websocket_app_error_after_its_close_is_reraised_on_exit() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1011})
            raise RuntimeError("handler bug")

    with TestClient(app) as client:
        with pytest.raises(RuntimeError, match="handler bug"), client.websocket_connect("/") as ws:
            with pytest.raises(WebSocketDisconnect):
                ws.receive_text()


def test_websocket_app_error_before_accept() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            raise RuntimeError("handler bug")

    with TestClient(app) as client:
        with pytest.raises(RuntimeError, match="handler bug"), client.websocket_connect("/"):
            pytest.fail("the handshake should have failed")
    with TestClient(app, raise_server_exceptions=False) as client:
        with pytest.raises(WebSocketDenied) as info, client.websocket_connect("/"):
            pytest.fail("the handshake should have failed")
    assert info.value.response.status_code == 500


def test_websocket_send_after_the_client_closed_raises_in_the_app_only() -> None:
    errors: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            try:
                while True:
                    await send({"type": "websocket.send", "text": "tick"})
                    await anyio.sleep(0.001)
            except OSError as ex:
                errors.append(ex)
                raise

    with TestClient(app) as client, client.websocket_connect("/") as ws:
        assert ws.receive_text() == "tick"
    assert len(errors) == 1


def test_websocket_receive_times_out_instead_of_hanging() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await receive()

    with TestClient(app) as client:
        with client.websocket_connect("/") as ws:
            with pytest.raises(TimeoutError):
                ws.receive(timeout=0.05)
        with client.websocket_connect("/", timeout=0.05) as ws, pytest.raises(TimeoutError):
            ws.receive_text()


def test_websocket_app_ignoring_the_close_is_cancelled_on_exit() -> None:
    cancelled = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            try:
                await anyio.sleep(3600)
            finally:
                cancelled.set()

    with TestClient(app) as client:
        with pytest.raises(TimeoutError, match="did not return"):
            with client.websocket_connect("/", timeout=0.1):
                pass
        assert cancelled.wait(5)


# -- pytest fixtures ----------------------------------------------------------


@pytest.fixture
def app() -> ASGIApp:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send, lambda: scope["state"].update(started=True))
            return
        await respond_json(send, scope["state"])

    return asgi


def test_client_fixture_uses_the_app_fixture(client: TestClient, app: ASGIApp) -> None:
    assert client.app is app
    assert client.get("/").json() == {"started": True}


@pytest.mark.anyio
async def test_async_client_fixture_uses_the_app_fixture(
    async_client: AsyncClient, app: ASGIApp
) -> None:
    assert async_client.app is app
    assert (await async_client.get("/")).json() == {"started": True}


def test_fixtures_explain_a_missing_app_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_no_app="""
        import pytest

        def test_sync(client):
            pass

        @pytest.mark.anyio
        async def test_async(async_client):
            pass
        """,
        test_broken_app="""
        import pytest

        @pytest.fixture
        def app(database):
            return None

        def test_sync(client):
            pass
        """,
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=3)
    for line in (
        "*'client' fixture needs an 'app' fixture returning your ASGI app*",
        "*'async_client' fixture needs an 'app' fixture returning your ASGI app*",
        "*fixture 'database' not found*",
    ):
        result.stdout.fnmatch_lines([line])
