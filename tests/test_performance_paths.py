"""Behaviour kept by the request path's shortcuts (see ``# PERF:`` comments)."""

from __future__ import annotations

from oakling import App, PlainTextResponse, Response
from oakling.background import BackgroundTask
from oakling.testing import TestClient

SECRET = "s" * 40


class CSVResponse(Response):
    media_type = "text/csv"


class ShoutResponse(PlainTextResponse):
    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        self.body = self.body.upper()
        self.raw_headers = [(b"content-length", b"%d" % len(self.body))]
        await super().__call__(scope, receive, send)


def test_inline_send_keeps_head_background_and_subclasses():
    app = App(secret_key=SECRET)
    done: list[str] = []

    @app.get("/plain")
    async def plain() -> PlainTextResponse:
        return PlainTextResponse("hello", background=BackgroundTask(done.append, "bg"))

    @app.get("/csv")
    def csv() -> CSVResponse:
        return CSVResponse("a,b")

    @app.get("/shout")
    async def shout() -> ShoutResponse:
        return ShoutResponse("quiet")

    @app.get("/empty")
    async def empty() -> Response:
        return Response(status_code=204)

    with TestClient(app) as client:
        response = client.get("/plain")
        assert response.text == "hello" and done == ["bg"]
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        head = client.head("/plain")
        assert head.content == b"" and head.headers["content-length"] == "5"
        assert client.get("/csv").headers["content-type"] == "text/csv; charset=utf-8"
        assert client.get("/shout").text == "QUIET"
        empty_response = client.get("/empty")
        assert empty_response.status_code == 204 and "content-length" not in empty_response.headers


def test_parameterised_routes_convert_in_path_order_and_fall_through():
    app = App(secret_key=SECRET)

    @app.get("/items/{item_id:int}/{part}")
    async def item(item_id: int, part: str) -> dict[str, object]:
        return {"id": item_id, "part": part}

    @app.get("/items/{name}/{part}")
    async def named(name: str, part: str) -> dict[str, object]:
        return {"name": name, "part": part}

    @app.get("/{anything}/x")
    async def anywhere(anything: str) -> dict[str, object]:
        return {"anything": anything}

    with TestClient(app) as client:
        assert client.get("/items/7/a").json() == {"id": 7, "part": "a"}
        assert client.get("/items/seven/a").json() == {"name": "seven", "part": "a"}
        assert client.get("/other/x").json() == {"anything": "other"}
        assert client.get("/items/7").status_code == 404


def test_int_query_fast_path_accepts_and_refuses_what_msgspec_does():
    app = App(secret_key=SECRET)

    @app.get("/n")
    async def number(n: int) -> dict[str, int]:
        return {"n": n}

    with TestClient(app) as client:
        for text, expected in [("0", 0), ("7", 7), ("123456789012345678", 123456789012345678)]:
            assert client.get("/n", params={"n": text}).json() == {"n": expected}
        assert client.get("/n", params={"n": "99999999999999999999"}).json() == {
            "n": 99999999999999999999
        }
        for bad in ["0123", "1.5", "", "x", "１２"]:
            assert client.get("/n", params={"n": bad}).status_code == 422, bad
        assert client.get("/n", params={"n": "-3"}).json() == {"n": -3}


def test_query_parsing_matches_parse_qsl():
    from urllib.parse import parse_qsl

    from oakling.datastructures import QueryParams

    for raw in [b"", b"a=1&b=2", b"a", b"a=", b"&&a=1&", b"a=1=2", b"=x", b"q=%41+b", b"a;b=2"]:
        expected = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
        assert QueryParams.from_bytes(raw).multi_items() == expected, raw


def test_body_read_whole_joins_chunks_and_enforces_the_limit():
    import asyncio

    from oakling.exceptions import ClientDisconnect, HTTPException
    from oakling.requests import Limits, Request

    def request_of(messages: list[dict[str, object]], limit: int = 10) -> Request:
        queue = list(messages)

        async def receive() -> dict[str, object]:
            return queue.pop(0)

        return Request(
            {"type": "http", "method": "POST", "headers": []},
            receive,
            Limits(max_body_size=limit),
        )

    chunked = request_of(
        [
            {"type": "http.request", "body": b"ab", "more_body": True},
            {"type": "http.request", "body": b"", "more_body": True},
            {"type": "http.request", "body": b"cd", "more_body": False},
        ]
    )
    assert asyncio.run(chunked.body()) == b"abcd"
    big = request_of([{"type": "http.request", "body": b"x" * 11}])
    try:
        asyncio.run(big.body())
    except HTTPException as ex:
        assert ex.status_code == 413
    else:
        raise AssertionError("no 413")
    gone = request_of([{"type": "http.disconnect"}])
    try:
        asyncio.run(gone.body())
    except ClientDisconnect:
        pass
    else:
        raise AssertionError("no ClientDisconnect")


def test_before_request_hook_limited_to_methods_keeps_get_routes_fast():
    app = App(secret_key=SECRET)
    calls: list[str] = []

    def only_writes(request):  # type: ignore[no-untyped-def]
        calls.append(request.method)

    app.before_request(only_writes, methods={"POST"})

    @app.route("/thing", methods=["GET", "POST"])
    async def thing() -> str:
        return "thing"

    with TestClient(app) as client:
        assert client.get("/thing").text == "thing"
        assert client.post("/thing").text == "thing"
    assert calls == ["POST"]
    get_handler = app.route_table.static["/thing"]["GET"]
    assert get_handler.fast  # type: ignore[attr-defined]
