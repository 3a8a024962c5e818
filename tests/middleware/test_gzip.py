from __future__ import annotations

import gzip
import os
import zlib
from typing import Any

import pytest

from oakling import App
from oakling.middleware import GZipMiddleware, Middleware
from oakling.middleware.gzip import accepts_gzip
from oakling.responses import StreamingResponse
from oakling.testing import TestClient

TEXT = b"All work and no play makes Jack a dull boy. " * 100


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_app(
    chunks: list[bytes],
    headers: list[tuple[bytes, bytes]] | None = None,
    status: int = 200,
):
    """An app sending ``chunks`` as its body messages (one message if one chunk)."""

    async def app(scope, receive, send):
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": headers if headers is not None else [(b"content-type", b"text/plain")],
            }
        )
        for index, chunk in enumerate(chunks):
            more = index < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


async def call(app, accept: bytes | None = b"gzip, deflate, br", method: str = "GET"):
    headers = [(b"host", b"testserver")]
    if accept is not None:
        headers.append((b"accept-encoding", accept))
    scope = {"type": "http", "method": method, "path": "/", "headers": headers}
    sent: list[dict[str, Any]] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


def values(message: dict[str, Any], name: bytes) -> list[bytes]:
    return [value for key, value in message["headers"] if key == name]


def body_of(sent: list[dict[str, Any]]) -> bytes:
    return b"".join(message.get("body", b"") for message in sent[1:])


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("GZip", True),
        ("gzip, deflate, br, zstd", True),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", True),
        ("x-gzip", True),
        ("*", True),
        ("*;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("gzip;q=0, *", False),
        ("*, gzip;q=0", False),
        ("*;q=0", False),
        ("identity", False),
        ("deflate, br", False),
        ("gzipx", False),
        ("gzip;q=abc", False),
        ("gzip;q=nan", False),
        ("gzip;q=2", False),
        ("", False),
    ],
)
def test_accepts_gzip(header, expected):
    assert accepts_gzip(header) is expected


@pytest.mark.anyio
async def test_small_body_untouched():
    sent = await call(GZipMiddleware(make_app([b"tiny"])))
    assert body_of(sent) == b"tiny"
    assert values(sent[0], b"content-encoding") == []
    assert values(sent[0], b"vary") == []


@pytest.mark.anyio
async def test_large_body_compressed_and_decompresses_to_original():
    headers = [
        (b"content-type", b"text/plain"),
        (b"content-length", str(len(TEXT)).encode()),
        (b"vary", b"Cookie"),
        (b"etag", b'"abc"'),
    ]
    sent = await call(GZipMiddleware(make_app([TEXT], headers)))
    start = sent[0]
    body = body_of(sent)
    assert values(start, b"content-encoding") == [b"gzip"]
    assert gzip.decompress(body) == TEXT
    assert len(body) < len(TEXT) // 10
    assert values(start, b"content-length") == [str(len(body)).encode()]
    assert values(start, b"vary") == [b"Cookie, Accept-Encoding"]
    # The compressed bytes are another representation: no strong validator.
    assert values(start, b"etag") == [b'W/"abc"']


@pytest.mark.anyio
@pytest.mark.parametrize("accept", [b"gzip;q=0", b"identity", b"br", None, b"gzip;q=0, *"])
async def test_refused_gzip_honoured_with_vary(accept):
    sent = await call(GZipMiddleware(make_app([TEXT])), accept=accept)
    assert body_of(sent) == TEXT
    assert values(sent[0], b"content-encoding") == []
    # Other clients would get gzip: caches must keep the versions apart.
    assert values(sent[0], b"vary") == [b"Accept-Encoding"]


@pytest.mark.anyio
async def test_streaming_body_compressed_and_flushed_per_chunk():
    chunks = [b"event: %d\n" % index * 20 for index in range(5)]
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"99999")]
    sent = await call(GZipMiddleware(make_app(chunks, headers)))
    start = sent[0]
    assert values(start, b"content-encoding") == [b"gzip"]
    assert values(start, b"content-length") == []
    assert values(start, b"vary") == [b"Accept-Encoding"]
    assert len(sent) == 1 + len(chunks)
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for message, chunk in zip(sent[1:], chunks, strict=True):
        # Each chunk decodes as soon as it arrives: nothing held back.
        assert decoder.decompress(message["body"]) == chunk
    assert sent[-1]["more_body"] is False
    assert decoder.eof
    assert gzip.decompress(body_of(sent)) == b"".join(chunks)


@pytest.mark.anyio
async def test_streaming_small_first_chunk_still_compressed():
    sent = await call(GZipMiddleware(make_app([b"a", b"", b"b"])))
    assert values(sent[0], b"content-encoding") == [b"gzip"]
    assert gzip.decompress(body_of(sent)) == b"ab"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-type", b"text/plain"), (b"content-encoding", b"br")],
        [(b"content-type", b"text/plain"), (b"Content-Encoding", b"gzip")],
        [(b"content-type", b"text/event-stream; charset=utf-8")],
        [(b"content-type", b"text/plain"), (b"content-range", b"bytes 0-4399/9000")],
    ],
)
async def test_encoded_ranged_or_excluded_untouched(headers):
    original = list(headers)
    sent = await call(GZipMiddleware(make_app([TEXT], headers)))
    assert body_of(sent) == TEXT
    assert sent[0]["headers"] == original


@pytest.mark.anyio
async def test_excluded_media_type_prefix():
    app = GZipMiddleware(
        make_app([TEXT], [(b"content-type", b"image/svg+xml")]), exclude_media_types=["image/*"]
    )
    sent = await call(app)
    assert body_of(sent) == TEXT
    app = GZipMiddleware(
        make_app([TEXT], [(b"content-type", b"text/event-stream")]), exclude_media_types=()
    )
    sent = await call(app)
    assert values(sent[0], b"content-encoding") == [b"gzip"]


@pytest.mark.anyio
@pytest.mark.parametrize("status", [204, 304, 206, 101])
async def test_bodiless_statuses_untouched(status):
    sent = await call(GZipMiddleware(make_app([TEXT], status=status)))
    assert values(sent[0], b"content-encoding") == []


@pytest.mark.anyio
async def test_incompressible_body_sent_as_is():
    noise = os.urandom(4000)
    sent = await call(GZipMiddleware(make_app([noise])))
    assert body_of(sent) == noise
    assert values(sent[0], b"content-encoding") == []
    assert values(sent[0], b"vary") == [b"Accept-Encoding"]


@pytest.mark.anyio
async def test_head_gets_get_headers_and_no_body():
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(TEXT)).encode())]
    sent = await call(GZipMiddleware(make_app([b""], headers)), method="HEAD")
    assert values(sent[0], b"content-encoding") == [b"gzip"]
    assert values(sent[0], b"content-length") == []
    assert values(sent[0], b"vary") == [b"Accept-Encoding"]
    assert body_of(sent) == b""
    small = [(b"content-type", b"text/plain"), (b"content-length", b"10")]
    sent = await call(GZipMiddleware(make_app([b""], small)), method="HEAD")
    assert sent[0]["headers"] == small


@pytest.mark.anyio
async def test_shared_response_headers_are_not_mutated():
    shared = [(b"content-type", b"text/plain"), (b"content-length", str(len(TEXT)).encode())]
    snapshot = list(shared)
    app = GZipMiddleware(make_app([TEXT], shared))
    for _ in range(2):
        await call(app)
    assert shared == snapshot


@pytest.mark.anyio
async def test_non_http_passes_through():
    seen: list[Any] = []

    async def inner(scope, receive, send):
        seen.append(send)

    async def send(message):
        pass

    await GZipMiddleware(inner)({"type": "websocket", "headers": []}, None, send)
    assert seen == [send]


def test_bad_options_are_errors():
    with pytest.raises(ValueError):
        GZipMiddleware(make_app([]), compresslevel=0)
    with pytest.raises(ValueError):
        GZipMiddleware(make_app([]), minimum_size=-1)


def test_gzip_in_an_app():
    app = App(secret_key="x" * 32, middleware=[Middleware(GZipMiddleware, minimum_size=100)])

    @app.get("/text")
    def text():
        return TEXT.decode()

    @app.get("/stream")
    def stream():
        async def chunks():
            for _ in range(10):
                yield TEXT

        return StreamingResponse(chunks(), media_type="text/plain")

    with TestClient(app) as client:
        response = client.get("/text", headers={"Accept-Encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert response.text == TEXT.decode()
        response = client.get("/stream", headers={"Accept-Encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert response.content == TEXT * 10
        response = client.get("/text", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in response.headers
        assert response.content == TEXT
