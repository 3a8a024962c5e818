from __future__ import annotations

import re
from typing import Any

import pytest

from oakling import App
from oakling.middleware import CORSMiddleware, Middleware
from oakling.testing import TestClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_app(headers: list[tuple[bytes, bytes]] | None = None, calls: list[Any] | None = None):
    async def app(scope, receive, send):
        if calls is not None:
            calls.append(scope)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": headers if headers is not None else [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"hello"})

    return app


async def call(app, method: str = "GET", headers: list[tuple[bytes, bytes]] = ()) -> tuple:
    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"host", b"api.example.com"), *headers],
    }
    sent: list[dict[str, Any]] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return start["status"], start["headers"], body


def values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in headers if key == name]


def cors(**options: Any) -> CORSMiddleware:
    return CORSMiddleware(make_app(), **options)


def preflight_headers(origin: bytes, method: bytes = b"PUT", requested: bytes | None = None):
    headers = [(b"origin", origin), (b"access-control-request-method", method)]
    if requested is not None:
        headers.append((b"access-control-request-headers", requested))
    return headers


# -- actual requests --------------------------------------------------------


@pytest.mark.anyio
async def test_allowed_origin_gets_exact_origin_and_vary():
    app = cors(allow_origins=["https://app.example.com"], expose_headers=["X-Total"])
    status, headers, body = await call(app, headers=[(b"origin", b"https://app.example.com")])
    assert status == 200 and body == b"hello"
    assert values(headers, b"access-control-allow-origin") == [b"https://app.example.com"]
    assert values(headers, b"access-control-expose-headers") == [b"X-Total"]
    assert values(headers, b"vary") == [b"Origin"]
    assert values(headers, b"access-control-allow-credentials") == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "origin",
    [
        b"https://evil.example.net",
        b"http://app.example.com",  # other scheme
        b"https://app.example.com:8443",  # other port
        b"https://app.example.com.evil.net",
        b"https://app.example.com/",
        b"null",
    ],
)
async def test_disallowed_origin_gets_no_cors_headers_but_still_runs(origin):
    calls: list[Any] = []
    app = CORSMiddleware(
        make_app(calls=calls), allow_origins=["https://app.example.com"], allow_credentials=True
    )
    status, headers, body = await call(app, headers=[(b"origin", origin)])
    assert status == 200 and body == b"hello" and len(calls) == 1
    assert not any(name.startswith(b"access-control-") for name, _ in headers)
    # The answer depends on the origin, so caches must key on it.
    assert values(headers, b"vary") == [b"Origin"]


@pytest.mark.anyio
async def test_vary_is_merged_with_existing_vary():
    inner = make_app(headers=[(b"vary", b"Accept-Encoding"), (b"Vary", b"Cookie")])
    app = CORSMiddleware(inner, allow_origins=["https://a.example"])
    _, headers, _ = await call(app, headers=[(b"origin", b"https://a.example")])
    assert values(headers, b"vary") == [b"Accept-Encoding, Origin"]
    assert values(headers, b"Vary") == [b"Cookie"]


@pytest.mark.anyio
async def test_vary_not_duplicated_and_star_respected():
    inner = make_app(headers=[(b"vary", b"origin")])
    app = CORSMiddleware(inner, allow_origins=["https://a.example"])
    _, headers, _ = await call(app, headers=[(b"origin", b"https://a.example")])
    assert values(headers, b"vary") == [b"origin"]
    inner = make_app(headers=[(b"vary", b"*")])
    app = CORSMiddleware(inner, allow_origins=["https://a.example"])
    _, headers, _ = await call(app)
    assert values(headers, b"vary") == [b"*"]


@pytest.mark.anyio
async def test_request_without_origin_gets_vary_when_answer_depends_on_origin():
    app = cors(allow_origins=["https://a.example"])
    _, headers, _ = await call(app)
    assert values(headers, b"vary") == [b"Origin"]
    assert values(headers, b"access-control-allow-origin") == []


@pytest.mark.anyio
async def test_regex_is_fullmatched():
    app = cors(allow_origin_regex=r"https://.*\.example\.com")
    _, headers, _ = await call(app, headers=[(b"origin", b"https://api.example.com")])
    assert values(headers, b"access-control-allow-origin") == [b"https://api.example.com"]
    for attack in (
        b"https://example.com.evil.net",
        b"https://api.example.com.evil.net",
        b"https://evil.net/https://a.example.com",
        b"xhttps://a.example.com",
    ):
        _, headers, _ = await call(app, headers=[(b"origin", attack)])
        assert values(headers, b"access-control-allow-origin") == [], attack
        status, _, _ = await call(app, "OPTIONS", preflight_headers(attack, b"GET"))
        assert status == 400


@pytest.mark.anyio
async def test_precompiled_regex_accepted():
    app = cors(allow_origin_regex=re.compile(r"https://[a-z]+\.example\.com"))
    _, headers, _ = await call(app, headers=[(b"origin", b"https://a.example.com")])
    assert values(headers, b"access-control-allow-origin") == [b"https://a.example.com"]


@pytest.mark.anyio
async def test_star_without_credentials_is_static_star_for_everyone():
    app = cors(allow_origins=["*"])
    for extra in ([], [(b"origin", b"https://anyone.example")]):
        _, headers, _ = await call(app, headers=extra)
        assert values(headers, b"access-control-allow-origin") == [b"*"]
        assert values(headers, b"vary") == []
        assert values(headers, b"access-control-allow-credentials") == []


@pytest.mark.anyio
async def test_credentials_never_with_star():
    app = cors(allow_origins=["*"], allow_credentials=True, allow_methods=["*"])
    _, headers, _ = await call(app, headers=[(b"origin", b"https://anyone.example")])
    assert values(headers, b"access-control-allow-origin") == [b"https://anyone.example"]
    assert values(headers, b"access-control-allow-credentials") == [b"true"]
    assert values(headers, b"vary") == [b"Origin"]
    status, headers, _ = await call(
        app, "OPTIONS", preflight_headers(b"https://anyone.example", b"DELETE")
    )
    assert status == 200
    assert values(headers, b"access-control-allow-origin") == [b"https://anyone.example"]
    assert values(headers, b"access-control-allow-methods") == [b"DELETE"]
    assert values(headers, b"access-control-allow-credentials") == [b"true"]


@pytest.mark.anyio
async def test_null_origin_only_when_listed():
    for options in (
        {"allow_origins": ["*"], "allow_credentials": True},
        {"allow_origin_regex": ".*"},
    ):
        _, headers, _ = await call(cors(**options), headers=[(b"origin", b"null")])
        assert values(headers, b"access-control-allow-origin") == [], options
    _, headers, _ = await call(cors(allow_origins=["null"]), headers=[(b"origin", b"null")])
    assert values(headers, b"access-control-allow-origin") == [b"null"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "origin", [b"https://a.example/x", b"https://u@a.example", b"HTTPS://A.EXAMPLE", b"a.example"]
)
async def test_malformed_origin_never_echoed(origin):
    app = cors(allow_origins=["*"], allow_credentials=True)
    _, headers, _ = await call(app, headers=[(b"origin", origin)])
    assert values(headers, b"access-control-allow-origin") == []


@pytest.mark.anyio
async def test_several_origin_headers_are_refused():
    app = cors(allow_origins=["https://a.example"])
    _, headers, _ = await call(
        app, headers=[(b"origin", b"https://evil.example"), (b"origin", b"https://a.example")]
    )
    assert values(headers, b"access-control-allow-origin") == []


@pytest.mark.anyio
async def test_app_cors_headers_replaced_not_duplicated():
    inner = make_app(headers=[(b"access-control-allow-origin", b"*")])
    app = CORSMiddleware(inner, allow_origins=["https://a.example"], allow_credentials=True)
    _, headers, _ = await call(app, headers=[(b"origin", b"https://a.example")])
    assert values(headers, b"access-control-allow-origin") == [b"https://a.example"]


@pytest.mark.anyio
async def test_shared_response_headers_are_not_mutated():
    shared = [(b"content-type", b"text/plain")]
    app = CORSMiddleware(make_app(headers=shared), allow_origins=["https://a.example"])
    for _ in range(3):
        await call(app, headers=[(b"origin", b"https://a.example")])
    assert shared == [(b"content-type", b"text/plain")]


# -- preflight ----------------------------------------------------------------


@pytest.mark.anyio
async def test_preflight_allowed():
    calls: list[Any] = []
    app = CORSMiddleware(
        make_app(calls=calls),
        allow_origins=["https://a.example"],
        allow_methods=["GET", "put"],
        allow_headers=["X-Token"],
        allow_credentials=True,
        max_age=120,
    )
    status, headers, body = await call(
        app, "OPTIONS", preflight_headers(b"https://a.example", b"PUT", b"x-token,content-type")
    )
    assert status == 200 and body == b"OK" and calls == []
    assert values(headers, b"access-control-allow-origin") == [b"https://a.example"]
    assert values(headers, b"access-control-allow-methods") == [b"GET, PUT"]
    allowed = values(headers, b"access-control-allow-headers")[0].split(b", ")
    assert b"x-token" in allowed and b"content-type" in allowed
    assert values(headers, b"access-control-max-age") == [b"120"]
    assert values(headers, b"access-control-allow-credentials") == [b"true"]
    assert values(headers, b"vary") == [b"Origin"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("origin", "method", "requested", "reason"),
    [
        (b"https://evil.example", b"GET", None, b"origin"),
        (b"https://a.example", b"DELETE", None, b"method"),
        (b"https://a.example", b"GET", b"x-token, x-evil", b"headers"),
        (b"https://a.example", b"GET", b"x-token\r\nset-cookie: a", b"headers"),
        (b"https://evil.example", b"DELETE", b"x-evil", b"origin, method, headers"),
    ],
)
async def test_preflight_refused_with_400(origin, method, requested, reason):
    calls: list[Any] = []
    app = CORSMiddleware(
        make_app(calls=calls),
        allow_origins=["https://a.example"],
        allow_methods=["GET"],
        allow_headers=["X-Token"],
    )
    status, headers, body = await call(app, "OPTIONS", preflight_headers(origin, method, requested))
    assert status == 400 and calls == []
    assert body == b"Disallowed CORS " + reason
    assert values(headers, b"content-type") == [b"text/plain; charset=utf-8"]
    assert values(headers, b"access-control-allow-origin") == []


@pytest.mark.anyio
async def test_preflight_wildcard_headers_echo_the_request():
    app = cors(allow_origins=["https://a.example"], allow_headers=["*"], allow_credentials=True)
    status, headers, _ = await call(
        app, "OPTIONS", preflight_headers(b"https://a.example", b"GET", b"X-A, x-b")
    )
    assert status == 200
    assert values(headers, b"access-control-allow-headers") == [b"x-a, x-b"]


@pytest.mark.anyio
async def test_options_without_request_method_reaches_the_app():
    calls: list[Any] = []
    app = CORSMiddleware(make_app(calls=calls), allow_origins=["https://a.example"])
    status, headers, body = await call(app, "OPTIONS", [(b"origin", b"https://a.example")])
    assert status == 200 and body == b"hello" and len(calls) == 1
    assert values(headers, b"access-control-allow-origin") == [b"https://a.example"]


@pytest.mark.anyio
async def test_websocket_and_lifespan_pass_through_untouched():
    seen: list[Any] = []

    async def inner(scope, receive, send):
        seen.append((scope, send))

    async def send(message):
        pass

    async def receive():
        return {}

    app = CORSMiddleware(inner, allow_origins=["https://a.example"])
    for scope in (
        {"type": "websocket", "headers": [(b"origin", b"https://evil.example")]},
        {"type": "lifespan"},
    ):
        await app(scope, receive, send)
        assert seen[-1] == (scope, send)


@pytest.mark.parametrize(
    "origin", ["https://a.example/", "https://a.example/path", "a.example", "https://u@a.example"]
)
def test_malformed_configured_origin_is_an_error(origin):
    with pytest.raises(ValueError, match="CORS origin"):
        CORSMiddleware(make_app(), allow_origins=[origin])


def test_bad_options_are_errors():
    with pytest.raises(ValueError):
        CORSMiddleware(make_app(), allow_headers=["x bad"])
    with pytest.raises(ValueError):
        CORSMiddleware(make_app(), max_age=-1)


def test_configured_origin_case_is_normalized():
    assert cors(allow_origins=["HTTPS://A.Example"]).is_allowed_origin(b"https://a.example")


# -- in an App ----------------------------------------------------------------


def test_middleware_spec_unpacks_and_builds():
    spec = Middleware(CORSMiddleware, allow_origins=["https://a.example"])
    cls, args, kwargs = spec
    assert (
        cls is CORSMiddleware and args == () and kwargs == {"allow_origins": ["https://a.example"]}
    )
    inner = make_app()
    built = spec.build(inner)
    assert isinstance(built, CORSMiddleware) and built.app is inner
    assert "CORSMiddleware" in repr(spec)


def test_cors_in_an_app():
    app = App(
        secret_key="x" * 32,
        middleware=[Middleware(CORSMiddleware, allow_origins=["https://a.example"])],
    )

    @app.get("/items")
    def items():
        return {"items": []}

    with TestClient(app) as client:
        response = client.get("/items", headers={"Origin": "https://a.example"})
        assert response.json() == {"items": []}
        assert response.headers["access-control-allow-origin"] == "https://a.example"
        response = client.options(
            "/items",
            headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"},
        )
        assert response.status_code == 400 and response.text == "Disallowed CORS method"
