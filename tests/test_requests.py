from __future__ import annotations

import asyncio

import pytest

from oakling import App, HTTPException, Request
from oakling._sansio.accept import best_match, parse_accept
from oakling._sansio.cookies import parse_cookie_header
from oakling.requests import Limits
from oakling.testing import TestClient

SECRET = "s" * 50


def echo_app() -> App:
    app = App(secret_key=SECRET)

    @app.route("/echo", methods=["GET", "POST"])
    async def echo(request: Request):
        return {
            "method": request.method,
            "url": str(request.url),
            "path": request.url.path,
            "query": request.query_params.multi_items(),
            "accept": request.headers.getlist("x-multi"),
            "cookies": request.cookies,
            "client": list(request.client) if request.client else None,
            "base": str(request.base_url),
        }

    @app.post("/json")
    async def read_json(request: Request):
        return {"got": await request.json()}

    @app.post("/stream")
    async def stream(request: Request):
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
        return {"bytes": total}

    return app


def test_request_properties():
    with TestClient(echo_app()) as client:
        response = client.get(
            "/echo?a=1&a=2&b=%20x",
            headers=[("X-Multi", "one"), ("x-multi", "two"), ("Cookie", "theme=dark")],
        )
    data = response.json()
    assert data["method"] == "GET"
    assert data["url"] == "http://testserver/echo?a=1&a=2&b=%20x"
    assert data["query"] == [["a", "1"], ["a", "2"], ["b", " x"]]
    assert data["accept"] == ["one", "two"]
    assert data["cookies"] == {"theme": "dark"}
    assert data["client"] == ["testclient", 50000]
    assert data["base"] == "http://testserver/"


def test_invalid_percent_encoding_in_query_is_not_an_error():
    with TestClient(echo_app()) as client:
        response = client.get("/echo?bad=%zz&utf=%ff%fe")
    assert response.status_code == 200
    assert ["bad", "%zz"] in response.json()["query"]


@pytest.mark.parametrize(
    "host", ["evil.example/admin", "a@b", "x y", "evil.example?q", "evil.example#f", "[::1"]
)
def test_hosts_that_would_rewrite_the_url_are_refused(host):
    with TestClient(echo_app()) as client:
        response = client.get("/echo", headers={"Host": host})
    assert response.status_code == 400
    assert "Host" in response.json()["detail"]


@pytest.mark.parametrize(
    "host", ["example.com", "example.com:8080", "127.0.0.1:8000", "[::1]:8000", "localhost"]
)
def test_valid_hosts_build_the_url(host):
    with TestClient(echo_app()) as client:
        response = client.get("/echo", headers={"Host": host})
    assert response.json()["url"] == f"http://{host}/echo"


def test_malformed_json_is_400_not_500():
    with TestClient(echo_app()) as client:
        response = client.post(
            "/json", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert "Malformed JSON" in response.json()["detail"]
        assert client.post("/json", json={"a": [1, 2]}).json() == {"got": {"a": [1, 2]}}


def test_body_size_limit_by_declared_length_and_by_stream():
    app = echo_app()
    app.limits = Limits(max_body_size=100)
    with TestClient(app) as client:
        assert (
            client.post(
                "/json", content=b"1" * 101, headers={"content-type": "application/json"}
            ).status_code
            == 413
        )

        def chunks():
            yield b"[" + b"1," * 60
            yield b"1]"

        response = client.post(
            "/json", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert (
            client.post("/json", content=b"[1]", headers={"content-length": "x"}).status_code == 400
        )


def test_streaming_body_is_not_buffered_or_limited():
    app = echo_app()
    app.limits = Limits(max_body_size=10)

    def chunks():
        for _ in range(100):
            yield b"x" * 1000

    with TestClient(app) as client:
        assert client.post("/stream", content=chunks()).json() == {"bytes": 100_000}


def test_client_disconnect_during_body():
    async def run():
        messages = [
            {"type": "http.request", "body": b"ab", "more_body": True},
            {"type": "http.disconnect"},
        ]

        async def receive():
            return messages.pop(0)

        request = Request({"type": "http", "method": "POST", "headers": [], "path": "/"}, receive)
        from oakling.exceptions import ClientDisconnect

        with pytest.raises(ClientDisconnect):
            await request.body()

    asyncio.run(run())


def test_request_limits_default_to_djangos():
    limits = Limits()
    assert limits.max_body_size == 2_621_440
    assert limits.max_fields == 1000
    assert limits.max_files == 100


def test_parse_accept_orders_by_quality_and_specificity():
    assert [item for item, _ in parse_accept("text/*;q=0.5, application/json, */*;q=0.1")] == [
        "application/json",
        "text/*",
        "*/*",
    ]
    assert (
        best_match("text/html,application/xhtml+xml,*/*;q=0.8", ["application/json", "text/html"])
        == "text/html"
    )
    assert best_match("application/json", ["application/json", "text/html"]) == "application/json"
    assert best_match("*/*", ["application/json", "text/html"]) == "application/json"
    assert best_match("image/png", ["application/json"]) is None
    assert best_match("text/html;q=0, */*", ["text/html", "text/plain"]) == "text/plain"
    assert (
        best_match("text/html;q=bogus, application/json", ["text/html", "application/json"])
        == "application/json"
    )
    assert best_match(None, ["a/b"]) == "a/b"


def test_parse_cookie_header_is_lenient():
    assert parse_cookie_header('a=1; b="two"; c; =d; e=%20x') == {
        "a": "1",
        "b": "two",
        "": "c",
        "e": " x",
    }
    assert parse_cookie_header("") == {}
    assert parse_cookie_header("a=1; a=2") == {"a": "1"}


def test_content_negotiation_helper():
    app = App(secret_key=SECRET)

    @app.get("/thing")
    def thing(request: Request):
        if request.accepts("text/html", "application/json") == "text/html":
            return "<p>thing</p>"
        return {"thing": True}

    with TestClient(app) as client:
        assert client.get("/thing", headers={"Accept": "text/html"}).text == "<p>thing</p>"
        assert client.get("/thing", headers={"Accept": "application/json"}).json() == {
            "thing": True
        }


def test_http_exception_for_bad_host_is_catchable():
    request = Request(
        {"type": "http", "method": "GET", "path": "/", "headers": [(b"host", b"bad/host")]}
    )
    with pytest.raises(HTTPException) as info:
        _ = request.url
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "\xff"}',
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    ],
)
def test_json_that_breaks_the_decoder_is_400_not_500(body):
    with TestClient(echo_app()) as client:
        response = client.post("/json", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["detail"]


def test_two_host_headers_and_out_of_range_ports_are_refused():
    with TestClient(echo_app()) as client:
        assert (
            client.get("/echo", headers=[("Host", "a.example"), ("Host", "b.example")]).status_code
            == 400
        )
        assert client.get("/echo", headers={"Host": "a.example:99999"}).status_code == 400
        assert client.get("/echo", headers={"Host": "a.example:65535"}).status_code == 200


def test_session_and_user_name_the_battery_when_missing():
    from oakling.requests import Request

    request = Request({"type": "http", "headers": []})
    with pytest.raises(RuntimeError, match="sessions battery"):
        request.session  # noqa: B018
    with pytest.raises(RuntimeError, match="auth battery"):
        request.user  # noqa: B018
    assert request.auth is None
    filled = Request({"type": "http", "headers": [], "session": {"a": 1}, "user": "u"})
    assert filled.session == {"a": 1} and filled.user == "u"
