"""granian's RSGI interface (``granian --interface rsgi app:app``) serves an App.

One real granian server per module, started as ``docs/deployment.md`` shows
it, with an app that uses what a handler can see of the server: the path and
query, bodies in and out, streams, files, cookies, an ASGI middleware, the
lifespan and WebSockets. The SIGTERM behaviour is in tests/test_shutdown.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.test_shutdown import _wait_port

BIN = Path(sys.executable).parent
PORT = 18031

APP = """
import contextlib
import os
from oakling import App, Request, WebSocket
from oakling.responses import FileResponse, PlainTextResponse, StreamingResponse


class Stamp:
    # A pure ASGI middleware: it must see ASGI messages on RSGI too.
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def stamped(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-stamp", scope["type"].encode())]
            await send(message)

        await self.app(scope, receive, stamped)


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"greeting": "hello from lifespan"}


app = App(secret_key="x" * 40, lifespan=lifespan)
if os.environ.get("STAMP"):
    app.add_middleware(Stamp)
events = []


@app.on_startup
def started():
    events.append("startup")


@app.on_shutdown
def stopped():
    with open("shutdown.txt", "w") as f:
        f.write("shutdown hooks ran")


@app.get("/")
async def home():
    return "Hello, World!"


@app.get("/json")
def json_page():  # a sync handler: its thread hop, then the fast send
    return {"message": "Hello"}


@app.get("/fail")
async def fail():  # the fast path's error page
    raise RuntimeError("secret detail")


@app.get("/fast-stream")
async def fast_stream():  # the fast path with a response that streams
    async def chunks():
        yield "one "
        yield "two"

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/info/{name}")
async def info(request: Request, name: str, q: str = ""):
    return {
        "name": name,
        "q": q,
        "path": request.url.path,
        "client": request.client.host,
        "scheme": request.url.scheme,
        "host": request.headers["host"],
        "repeated": request.headers.getlist("x-a"),
        "state": request.state.greeting,
        "events": events,
    }


@app.post("/echo")
async def echo(request: Request):
    body = await request.body()
    return PlainTextResponse(body, headers={"x-length": str(len(body))})


@app.post("/form")
async def form(request: Request):
    data = await request.form()
    return {"name": data["name"]}


@app.get("/cookies")
def cookies():
    response = PlainTextResponse("two cookies")
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    return response


@app.get("/stream")
async def stream():
    async def chunks():
        for number in range(3):
            yield f"chunk {number}\\n"

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/file")
async def file():
    return FileResponse(__file__)


@app.get("/boom")
async def boom():
    raise RuntimeError("secret detail")


@app.websocket("/ws")
async def ws(websocket: WebSocket):
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text("echo " + text)
    data = await websocket.receive_bytes()
    await websocket.send_bytes(data[::-1])
    await websocket.close()


@app.websocket("/refuse")
async def refuse(websocket: WebSocket):
    await websocket.close()
"""


# "native": no middleware, so static routes whose handlers take nothing skip
# the ASGI scope (oakling.rsgi's fast path); "middleware": every request goes
# through one ASGI call, as an ASGI server would make it.
MODES = {"native": PORT, "middleware": PORT + 1}


@pytest.fixture(scope="module", params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, mode: str) -> Iterator[str]:
    port = MODES[mode]
    folder = tmp_path_factory.mktemp("rsgi")
    (folder / "rsgiapp.py").write_text(textwrap.dedent(APP))
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "granian"), "--interface", "rsgi", "--port", str(port), "rsgiapp:app"],
        cwd=folder,
        env={
            **os.environ,
            "PYTHONPATH": str(folder),
            "STAMP": "1" if mode == "middleware" else "",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_port(port, process)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):  # the port opens before the worker serves
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(base + "/", timeout=1)
                break
            asyncio.run(asyncio.sleep(0.05))
        yield base
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        # The lifespan shutdown ran in __rsgi_del__.
        assert (folder / "shutdown.txt").read_text() == "shutdown hooks ran"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
        log.close()
        print((folder / "server.log").read_text(errors="replace")[-3000:])


def test_plaintext_through_the_app_and_its_asgi_middleware(base: str, mode: str) -> None:
    response = httpx.get(base + "/")
    assert response.status_code == 200
    assert response.text == "Hello, World!"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "13"
    assert response.headers.get("x-stamp") == ("http" if mode == "middleware" else None)
    json = httpx.get(base + "/json")
    assert (json.status_code, json.json()) == (200, {"message": "Hello"})


def test_the_request_sees_path_query_headers_client_and_lifespan_state(base: str) -> None:
    response = httpx.get(
        base + "/info/a%20b", params={"q": "x y&z"}, headers=[("x-a", "1"), ("x-a", "2")]
    )
    assert response.status_code == 200
    assert response.json() == {
        "name": "a b",
        "q": "x y&z",
        "path": "/info/a b",
        "client": "127.0.0.1",
        "scheme": "http",
        "host": base.removeprefix("http://"),
        "repeated": ["1", "2"],
        "state": "hello from lifespan",
        "events": ["startup"],
    }


def test_bodies_in_one_piece_and_in_chunks(base: str) -> None:
    assert httpx.post(base + "/echo", content=b"hello").text == "hello"
    big = os.urandom(2 * 2**20)

    def chunks() -> Iterator[bytes]:  # Transfer-Encoding: chunked
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    response = httpx.post(base + "/echo", content=chunks())
    assert response.headers["x-length"] == str(len(big))
    assert response.content == big
    assert httpx.post(base + "/form", data={"name": "Zoë"}).json() == {"name": "Zoë"}
    # The app's body limit (2.5 MiB by default) holds on RSGI too.
    assert httpx.post(base + "/echo", content=big + big).status_code == 413


def test_head_gets_headers_and_no_body(base: str) -> None:
    response = httpx.head(base + "/")
    assert response.status_code == 200
    assert response.content == b""


def test_repeated_response_headers_are_kept(base: str) -> None:
    response = httpx.get(base + "/cookies")
    assert [value.split(";")[0] for value in response.headers.get_list("set-cookie")] == [
        "a=1",
        "b=2",
    ]


def test_streams_and_files(base: str) -> None:
    with httpx.stream("GET", base + "/stream") as response:
        assert "".join(response.iter_text()) == "chunk 0\nchunk 1\nchunk 2\n"
    response = httpx.get(base + "/file")
    assert response.status_code == 200
    assert response.content == textwrap.dedent(APP).encode()  # the app's own module
    assert response.headers["content-length"] == str(len(response.content))


def test_errors_are_the_apps_pages_without_tracebacks(base: str) -> None:
    for path in ("/boom", "/fail"):
        response = httpx.get(base + path)
        assert response.status_code == 500
        assert "secret detail" not in response.text
        assert response.headers["content-type"].startswith("application/json")
    assert httpx.get(base + "/fast-stream").text == "one two"
    assert httpx.head(base + "/json").content == b""
    assert httpx.get(base + "/nowhere").status_code == 404
    assert httpx.post(base + "/").status_code == 405


def test_websocket_text_and_bytes_and_a_refused_handshake(base: str) -> None:
    async def scenario() -> None:
        async with connect(base.replace("http", "ws") + "/ws") as websocket:
            await websocket.send("hi")
            assert await websocket.recv() == "echo hi"
            await websocket.send(b"\x01\x02\x03")
            assert await websocket.recv() == b"\x03\x02\x01"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(base.replace("http", "ws") + "/refuse"):
                pass
        assert refused.value.response.status_code == 403

    asyncio.run(scenario())


class _Headers:
    """RSGI's header mapping, as granian passes it (``items``, ``get``, ``in``)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self.pairs

    def get(self, key: str, default: object = None) -> object:
        return next((value for name, value in self.pairs if name == key), default)

    def __contains__(self, key: str) -> bool:
        return any(name == key for name, _ in self.pairs)


class _Protocol:
    """Records what the app answers through RSGI's HTTP protocol."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, list[tuple[str, str]], bytes]] = []

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answers.append((status, headers, body))


def test_a_plain_asgi_app_wrapped_with_to_rsgi_sees_an_asgi_scope() -> None:
    from types import SimpleNamespace

    from oakling.rsgi import to_rsgi

    seen: dict[str, object] = {}

    async def asgi(scope: dict[str, object], receive: object, send: object) -> None:
        seen.update(scope)
        await send(  # type: ignore[operator]
            {"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]}
        )
        await send({"type": "http.response.body", "body": b"made"})  # type: ignore[operator]

    adapter = to_rsgi(asgi, lifespan=False)
    scope = SimpleNamespace(
        proto="http",
        http_version="1.1",
        scheme="http",
        method="GET",
        path="/a b",
        query_string="x=1",
        client="127.0.0.1:5555",
        server="[::1]:8000",
        headers=_Headers([("host", "example.test"), ("x-a", "1"), ("x-a", "2")]),
    )
    protocol = _Protocol()
    asyncio.run(adapter.__rsgi__(scope, protocol))  # type: ignore[arg-type]
    assert protocol.answers == [(201, [("x-a", "1")], b"made")]
    assert seen["type"] == "http" and seen["method"] == "GET"
    assert seen["path"] == "/a b" and seen["query_string"] == b"x=1"
    assert seen["headers"] == [(b"host", b"example.test"), (b"x-a", b"1"), (b"x-a", b"2")]
    assert seen["client"] == ("127.0.0.1", 5555)
    assert seen["server"] == ("::1", 8000)
