from __future__ import annotations

from typing import Any

import pytest

from oakling import App
from oakling._sansio.hosts import AllowedHosts, split_host_port, validate_host
from oakling.middleware import Middleware, TrustedHostMiddleware
from oakling.testing import TestClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- sans-I/O: split_host_port and validate_host ------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.com", ("example.com", None)),
        ("Example.COM:8000", ("example.com", 8000)),
        ("example.com.", ("example.com", None)),
        ("example.com:", ("example.com", None)),
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("[::1]", ("[::1]", None)),
        ("[::1]:8000", ("[::1]", 8000)),
        ("[0:0:0:0:0:0:0:1]:8000", ("[::1]", 8000)),
        ("[2001:DB8::1]", ("[2001:db8::1]", None)),
        ("xn--bcher-kva.example", ("xn--bcher-kva.example", None)),
        ("localhost:65535", ("localhost", 65535)),
    ],
)
def test_split_host_port(host, expected):
    assert split_host_port(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        "",
        "evil.com/x",
        "a@b",
        "user@example.com",
        "example.com evil.com",
        " example.com",
        "example.com:80:80",
        "example.com:http",
        "example.com:65536",
        "example.com:1234567",
        "::1",
        "[::1",
        "[::1]x",
        "[::1]:80x",
        "[not-ipv6]",
        "[fe80::1%eth0]",
        "exa_mple.com",
        "exa mple.com",
        "bücher.example",
        "a..b",
        ".example.com",
        "-a.example.com",
        "a" * 64 + ".com",
        "a." * 200 + "com",
        "example.com\r\nx: y",
        "example.com#",
        "example.com?",
        "example.com\\x",
    ],
)
def test_split_host_port_refuses_junk(host):
    with pytest.raises(ValueError):
        split_host_port(host)
    assert validate_host(host, ["*"]) is False


@pytest.mark.parametrize(
    ("host", "patterns", "expected"),
    [
        ("example.com", ["example.com"], True),
        ("EXAMPLE.com:8000", ["example.com"], True),
        ("example.com.", ["Example.com"], True),
        ("www.example.com", ["example.com"], False),
        ("example.com", [".example.com"], True),
        ("a.example.com", [".example.com"], True),
        ("a.b.example.com:443", [".example.com"], True),
        ("badexample.com", [".example.com"], False),
        ("example.com.evil.net", [".example.com"], False),
        ("example.com", ["*.example.com"], False),
        ("a.example.com", ["*.example.com"], True),
        ("anything.test", ["*"], True),
        ("[::1]:8000", ["[::1]"], True),
        ("[0::1]", ["[::1]"], True),
        ("[::2]", ["[::1]"], False),
        ("127.0.0.1:8000", ["127.0.0.1"], True),
        ("127.0.0.2", ["127.0.0.1"], False),
        ("evil.com", [], False),
        ("evil.com", ["example.com", ".example.org"], False),
    ],
)
def test_validate_host(host, patterns, expected):
    assert validate_host(host, patterns) is expected
    assert validate_host(host, AllowedHosts(patterns)) is expected


@pytest.mark.parametrize("pattern", ["example.com:80", "*example.com", "**", "a/b", "", "."])
def test_invalid_patterns_are_errors(pattern):
    with pytest.raises(ValueError, match="allowed host pattern"):
        AllowedHosts([pattern])


def test_single_string_is_a_type_error():
    with pytest.raises(TypeError):
        AllowedHosts("example.com")


# -- the middleware -----------------------------------------------------------


def make_app(calls: list[Any]):
    async def app(scope, receive, send):
        calls.append(scope)
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def call(
    app,
    headers: list[tuple[bytes, bytes]],
    *,
    kind: str = "http",
    method: str = "GET",
    raw_path: bytes = b"/",
    query: bytes = b"",
    extensions: dict[str, Any] | None = None,
):
    scope: dict[str, Any] = {
        "type": kind,
        "scheme": "https" if kind == "http" else "wss",
        "path": raw_path.decode("latin-1"),
        "raw_path": raw_path,
        "query_string": query,
        "headers": headers,
    }
    if kind == "http":
        scope["method"] = method
    if extensions is not None:
        scope["extensions"] = extensions
    sent: list[dict[str, Any]] = []

    async def receive():
        return {"type": "websocket.connect"} if kind == "websocket" else {"type": "http.request"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


def header(message: dict[str, Any], name: bytes) -> bytes | None:
    return next((value for key, value in message.get("headers", ()) if key == name), None)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "host",
    [b"example.com", b"api.example.com:8443", b"EXAMPLE.COM", b"[::1]:8000", b"localhost"],
)
async def test_allowed_hosts_reach_the_app(host):
    calls: list[Any] = []
    app = TrustedHostMiddleware(
        make_app(calls), allowed_hosts=[".example.com", "[::1]", "localhost"]
    )
    sent = await call(app, [(b"host", host)])
    assert sent[0]["status"] == 200 and len(calls) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"host", b"")],
        [(b"host", b"evil.com")],
        [(b"host", b"example.com.evil.net")],
        [(b"host", b"evil.com/x")],
        [(b"host", b"a@b")],
        [(b"host", b"example.com@evil.com")],
        [(b"host", b"example.com evil.com")],
        [(b"host", b"example.com:99999")],
        [(b"host", b"\xe9xample.com")],
        [(b"host", b"example.com"), (b"host", b"evil.com")],
        [(b"host", b"example.com"), (b"host", b"example.com")],
    ],
)
async def test_bad_or_missing_host_gets_400(headers):
    calls: list[Any] = []
    app = TrustedHostMiddleware(make_app(calls), allowed_hosts=[".example.com"])
    sent = await call(app, headers)
    assert calls == []
    assert sent[0]["status"] == 400
    assert header(sent[0], b"content-type") == b"text/plain; charset=utf-8"
    assert sent[1]["body"] == b"Invalid host header"


@pytest.mark.anyio
@pytest.mark.parametrize("host", [b"evil.com/x", b"a@b", b"a b", None])
async def test_wildcard_still_refuses_junk_and_missing_hosts(host):
    calls: list[Any] = []
    app = TrustedHostMiddleware(make_app(calls))
    sent = await call(app, [] if host is None else [(b"host", host)])
    assert sent[0]["status"] == 400 and calls == []
    sent = await call(app, [(b"host", b"anything.example:1")])
    assert sent[0]["status"] == 200


@pytest.mark.anyio
async def test_verdict_cache_is_bounded_and_stays_correct():
    calls: list[Any] = []
    app = TrustedHostMiddleware(make_app(calls), allowed_hosts=["example.com"])
    for index in range(1500):
        sent = await call(app, [(b"host", b"h%d.evil" % index)])
        assert sent[0]["status"] == 400
    assert len(app._verdicts) <= 512
    assert (await call(app, [(b"host", b"example.com")]))[0]["status"] == 200


@pytest.mark.anyio
async def test_www_redirect_keeps_port_path_and_query():
    calls: list[Any] = []
    app = TrustedHostMiddleware(make_app(calls), allowed_hosts=["www.example.com"])
    sent = await call(
        app, [(b"host", b"example.com:8443")], raw_path=b"/a%20b//c", query=b"x=1&y=%2F"
    )
    assert calls == []
    assert sent[0]["status"] == 301
    assert header(sent[0], b"location") == b"https://www.example.com:8443/a%20b//c?x=1&y=%2F"
    sent = await call(app, [(b"host", b"example.com")], method="POST")
    assert sent[0]["status"] == 308
    assert header(sent[0], b"location") == b"https://www.example.com/"


@pytest.mark.anyio
async def test_www_redirect_encodes_hostile_path_bytes():
    app = TrustedHostMiddleware(make_app([]), allowed_hosts=["www.example.com"])
    sent = await call(app, [(b"host", b"example.com")], raw_path=b'/\xff x"<')
    assert header(sent[0], b"location") == b"https://www.example.com/%FF%20x%22%3C"


@pytest.mark.anyio
async def test_www_redirect_off_or_not_applicable_gives_400():
    app = TrustedHostMiddleware(make_app([]), ["www.example.com"], www_redirect=False)
    assert (await call(app, [(b"host", b"example.com")]))[0]["status"] == 400
    app = TrustedHostMiddleware(make_app([]), ["www.example.com"])
    assert (await call(app, [(b"host", b"other.com")]))[0]["status"] == 400
    # Only the bare domain is redirected, never a sibling subdomain.
    assert (await call(app, [(b"host", b"api.example.com")]))[0]["status"] == 400


@pytest.mark.anyio
async def test_websocket_host_checked():
    calls: list[Any] = []
    app = TrustedHostMiddleware(make_app(calls), allowed_hosts=["example.com"])
    sent = await call(app, [(b"host", b"example.com")], kind="websocket")
    assert sent == [{"type": "websocket.accept"}] and len(calls) == 1
    sent = await call(app, [(b"host", b"evil.com")], kind="websocket")
    assert sent[0]["type"] == "websocket.close" and sent[0]["code"] == 1008
    sent = await call(
        app,
        [(b"host", b"evil.com")],
        kind="websocket",
        extensions={"websocket.http.response": {}},
    )
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 400
    assert sent[1]["body"] == b"Invalid host header"
    # A bare domain is not redirected on a WebSocket handshake: refused.
    app = TrustedHostMiddleware(make_app(calls), allowed_hosts=["www.example.com"])
    sent = await call(app, [(b"host", b"example.com")], kind="websocket")
    assert sent[0]["type"] == "websocket.close"
    assert len(calls) == 1


@pytest.mark.anyio
async def test_lifespan_passes_through():
    seen: list[Any] = []

    async def inner(scope, receive, send):
        seen.append(scope)

    app = TrustedHostMiddleware(inner, allowed_hosts=["example.com"])
    await app({"type": "lifespan"}, None, None)
    assert seen == [{"type": "lifespan"}]


def test_trusted_host_in_an_app():
    app = App(
        secret_key="x" * 32,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=[".example.com"])],
    )

    @app.get("/")
    def index():
        return "home"

    with TestClient(app, base_url="http://api.example.com") as client:
        assert client.get("/").text == "home"
        response = client.get("/", headers={"Host": "evil.com"})
        assert response.status_code == 400
        assert response.text == "Invalid host header"
