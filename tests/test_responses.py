from __future__ import annotations

import asyncio
import dataclasses
import datetime
import uuid

import msgspec
import pytest

from oakling import (
    App,
    EventSourceResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    ServerSentEvent,
    StreamingResponse,
)
from oakling.testing import TestClient

SECRET = "s" * 50


class Item(msgspec.Struct):
    id: int
    when: datetime.date


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_json_encodes_structs_dataclasses_and_builtins():
    key = uuid.UUID(int=1)
    response = JSONResponse(
        {"item": Item(1, datetime.date(2026, 1, 2)), "point": Point(1, 2), "key": key}
    )
    assert msgspec.json.decode(response.body) == {
        "item": {"id": 1, "when": "2026-01-02"},
        "point": {"x": 1, "y": 2},
        "key": str(key),
    }
    assert response.headers["content-length"] == str(len(response.body))


def test_cookies_are_safe_by_default():
    response = Response("x")
    response.set_cookie("sid", "abc", max_age=60, secure=True)
    header = response.headers.getlist("set-cookie")[0]
    assert header.startswith("sid=abc")
    for part in ("Max-Age=60", "Path=/", "Secure", "HttpOnly", "SameSite=Lax"):
        assert part in header
    response.delete_cookie("sid")
    assert "Max-Age=0" in response.headers.getlist("set-cookie")[1]
    with pytest.raises(ValueError):
        response.set_cookie("x", samesite="none")
    with pytest.raises(ValueError):
        response.set_cookie("x", samesite="sideways")  # type: ignore[arg-type]


def test_cookie_values_cannot_inject_attributes():
    response = Response("x")
    response.set_cookie("sid", "a; Domain=evil.example")
    header = response.headers.getlist("set-cookie")[0]
    # The value is quoted and its ";" escaped, so no attribute is added.
    assert "; Domain=" not in header
    assert header.startswith('sid="')


def test_redirect_quotes_location_and_cannot_split_headers():
    response = RedirectResponse("/next page?x=1\r\nSet-Cookie: a=b")
    location = response.headers["location"]
    assert "\r" not in location and "\n" not in location
    assert location.startswith("/next%20page?x=1")
    assert response.status_code == 302


def test_streaming_sync_and_async_iterators():
    app = App(secret_key=SECRET)

    @app.get("/sync")
    def sync_stream():
        return StreamingResponse((f"{i}," for i in range(3)), media_type="text/plain")

    @app.get("/async")
    async def async_stream():
        async def gen():
            for i in range(3):
                yield f"{i};".encode()

        return StreamingResponse(gen(), media_type="text/plain")

    with TestClient(app) as client:
        assert client.get("/sync").text == "0,1,2,"
        assert client.get("/async").text == "0;1;2;"


def test_server_sent_events_format_and_escape_newlines():
    event = ServerSentEvent(data="line1\nline2", event="task\nevil", id="7", retry=1000)
    assert event.encode() == b"event: task evil\nid: 7\nretry: 1000\ndata: line1\ndata: line2\n\n"
    assert ServerSentEvent(data={"a": 1}).encode() == b'data: {"a":1}\n\n'

    app = App(secret_key=SECRET)

    @app.get("/events")
    async def events():
        async def gen():
            yield ServerSentEvent("hello", event="greeting")
            yield {"n": 1}

        return EventSourceResponse(gen())

    with TestClient(app) as client:
        response = client.get("/events")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.text == 'event: greeting\ndata: hello\n\ndata: {"n":1}\n\n'


def test_endless_stream_stops_when_client_disconnects():
    produced: list[int] = []

    async def endless():
        index = 0
        while True:
            produced.append(index)
            yield b"x"
            index += 1
            await asyncio.sleep(0)

    async def run():
        messages = asyncio.Queue()

        async def receive():
            return await messages.get()

        sent = []

        async def send(message):
            sent.append(message)
            if len(sent) == 5:
                await messages.put({"type": "http.disconnect"})

        response = StreamingResponse(endless())
        await asyncio.wait_for(response({"type": "http", "method": "GET"}, receive, send), 5)
        return sent

    sent = asyncio.run(run())
    assert len(sent) >= 5
    assert len(produced) < 10_000


def test_html_response_and_head_strips_body():
    response = HTMLResponse("<p>x</p>")
    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(response({"type": "http", "method": "HEAD"}, None, send))  # type: ignore[arg-type]
    assert sent[1]["body"] == b""
    assert (b"content-length", b"8") in sent[0]["headers"]


def test_no_content_length_on_204_and_304():
    assert "content-length" not in Response(None, 204).headers
    assert "content-length" not in Response(None, 304).headers


def test_vary_merges_every_vary_header_and_respects_star():
    response = Response("x", headers={"Vary": "Accept"})
    response.headers.append("Vary", "Origin")
    response.headers.add_vary_header("Cookie")
    assert response.headers.getlist("vary") == ["Accept, Origin, Cookie"]
    response.headers.add_vary_header("origin")
    assert response.headers.getlist("vary") == ["Accept, Origin, Cookie"]
    starred = Response("x", headers={"Vary": "*"})
    starred.headers.add_vary_header("Cookie")
    assert starred.headers.getlist("vary") == ["*"]
