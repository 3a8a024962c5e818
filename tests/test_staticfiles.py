"""StaticFiles: serving a directory, and the attacks it must refuse."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oakling import App
from oakling.datastructures import Headers
from oakling.exceptions import ImproperlyConfigured
from oakling.responses import Response
from oakling.staticfiles import StaticFiles, _safe_segments
from oakling.testing import TestClient
from oakling.types import ASGIApp, Message

SECRET_KEY = "s" * 50
SECRET = b"TOP-SECRET-CONTENT-OUTSIDE-THE-ROOT"
CSS = b"body { color: red }"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Result:
    status: int
    headers: Headers
    body: bytes


async def call(
    app: ASGIApp,
    path: str,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    root_path: str = "",
    raw_path: bytes | None = None,
    query: bytes = b"",
) -> Result:
    """Send one hand-built request: ``path`` arrives exactly as given (no normalisation)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path
        if raw_path is not None
        else path.encode("utf-8", "surrogatepass").replace(b"\x00", b"%00"),
        "root_path": root_path,
        "query_string": query,
        "headers": [(b"host", b"testserver")]
        + [
            (key.lower().encode("latin-1"), value.encode("latin-1"))
            for key, value in (headers or {}).items()
        ],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
    }
    messages: list[Message] = []
    received = False

    async def receive() -> Message:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(message: Message) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = messages[0]
    assert start["type"] == "http.response.start"
    body = b"".join(message.get("body", b"") for message in messages[1:])
    return Result(start["status"], Headers(raw=start["headers"]), body)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A static root, with a secret file and a secret folder beside it."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "secret.txt").write_bytes(SECRET)
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "app.css").write_bytes(CSS)
    (static / "app.js").write_bytes(b"console.log(1)")
    (static / "index.html").write_bytes(b"<h1>home</h1>")
    (static / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (static / "docs").mkdir()
    (static / "docs" / "index.html").write_bytes(b"<h1>docs</h1>")
    (static / "empty-dir").mkdir()
    (static / "%2e%2e").mkdir()  # a real folder with a percent-looking name
    (static / "%2e%2e" / "literal.txt").write_bytes(b"literal")
    return static


ATTACKS = [
    "/../secret.txt",
    "/css/../../secret.txt",
    "/css/./../../secret.txt",
    "/./../secret.txt",
    "/" + "../" * 30 + "secret.txt",
    "/../private/secret.txt",
    "/..",
    "/../",
    # what the server hands over for %2e%2e and %2f: already decoded
    "/%2e%2e/secret.txt",
    "/%2e%2e%2fsecret.txt",
    "/..%2fsecret.txt",
    "/%252e%252e/secret.txt",
    "/.%2e/secret.txt",
    # Windows separators and drives
    "/..\\secret.txt",
    "/..\\..\\secret.txt",
    "/css\\..\\..\\secret.txt",
    "\\..\\secret.txt",
    "/C:/Windows/win.ini",
    "/C:secret.txt",
    "/C:\\secret.txt",
    # absolute paths
    "//etc/passwd",
    "///etc/passwd",
    "//../secret.txt",
    # NUL bytes and undecodable names
    "/secret.txt\x00.css",
    "/css/app.css\x00",
    "/\x00",
    "/\ud800",
    "/" + "a" * 5000,
    "/" + "a/" * 3000,
]


def _attacks_with_secret_path(tmp_path: Path) -> list[str]:
    secret = str(tmp_path / "secret.txt").replace(os.sep, "/")
    return [*ATTACKS, "/" + secret.lstrip("/"), "//" + secret.lstrip("/")]


@pytest.mark.anyio
async def test_traversal_attacks_never_leak(root: Path, tmp_path: Path) -> None:
    for follow_symlinks in (False, True):
        for html in (False, True):
            app = StaticFiles(directory=root, follow_symlinks=follow_symlinks, html=html)
            for path in _attacks_with_secret_path(tmp_path):
                result = await call(app, path)
                assert result.status in (400, 404), (path, result.status)
                assert SECRET not in result.body, path


@pytest.mark.parametrize(
    "path",
    [
        "/../x",
        "/a/../../x",
        "/..",
        "/a\\..\\x",
        "\\x",
        "/x\x00.css",
        "/C:/Windows/win.ini",
        "/c:x",
        "/a/C:",
    ],
)
def test_first_layer_refuses_unsafe_paths(path: str) -> None:
    # The first of two layers: refused before any file system call, on
    # every platform (the realpath containment check is the second).
    assert _safe_segments(path) is None


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("/", []),
        ("//etc/passwd", ["etc", "passwd"]),
        ("/./a//b/./c.css", ["a", "b", "c.css"]),
        ("/%2e%2e/x", ["%2e%2e", "x"]),
        ("/...", ["..."]),
        ("/..a/b..", ["..a", "b.."]),
    ],
)
def test_safe_segments(path: str, segments: list[str]) -> None:
    assert _safe_segments(path) == segments


@pytest.mark.anyio
async def test_raw_path_is_never_decoded_again(root: Path) -> None:
    # The client sent %252e%252e: the server decoded it once to "%2e%2e".
    # That names the real folder "%2e%2e", never the parent directory.
    app = StaticFiles(directory=root)
    result = await call(app, "/%2e%2e/literal.txt", raw_path=b"/%252e%252e/literal.txt")
    assert (result.status, result.body) == (200, b"literal")
    result = await call(app, "/%2e%2e/../../secret.txt", raw_path=b"/%252e%252e/%2e%2e/x")
    assert result.status == 404
    assert SECRET not in result.body


def test_traversal_attacks_through_an_app(root: Path, tmp_path: Path) -> None:
    app = App(secret_key=SECRET_KEY)
    app.mount("/static", StaticFiles(directory=root), name="static")
    for path in _attacks_with_secret_path(tmp_path):
        result = asyncio.run(call(app, "/static" + path, headers={"accept": "application/json"}))
        assert result.status in (400, 404), (path, result.status)
        assert SECRET not in result.body, path


@pytest.mark.anyio
@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
async def test_symlink_out_of_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (root / "leakdir").symlink_to(tmp_path / "private", target_is_directory=True)
    (root / "css" / "up").symlink_to("../..", target_is_directory=True)
    app = StaticFiles(directory=root)
    for path in ("/leak.txt", "/leakdir/secret.txt", "/css/up/secret.txt"):
        result = await call(app, path)
        assert result.status == 404, path
        assert SECRET not in result.body


@pytest.mark.anyio
@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
async def test_symlink_inside_the_root_is_served(root: Path) -> None:
    (root / "alias.css").symlink_to(root / "css" / "app.css")
    (root / "styles").symlink_to("css", target_is_directory=True)
    app = StaticFiles(directory=root)
    for path in ("/alias.css", "/styles/app.css"):
        result = await call(app, path)
        assert (result.status, result.body) == (200, CSS), path
        assert result.headers["content-type"] == "text/css; charset=utf-8"


@pytest.mark.anyio
@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
async def test_follow_symlinks_serves_links_out_of_the_root(root: Path, tmp_path: Path) -> None:
    (root / "vendor").symlink_to(tmp_path / "private", target_is_directory=True)
    result = await call(StaticFiles(directory=root, follow_symlinks=True), "/vendor/secret.txt")
    assert (result.status, result.body) == (200, SECRET)


@pytest.mark.anyio
@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
async def test_root_given_through_a_symlink_works(root: Path, tmp_path: Path) -> None:
    (tmp_path / "link-to-static").symlink_to(root, target_is_directory=True)
    result = await call(StaticFiles(directory=tmp_path / "link-to-static"), "/css/app.css")
    assert (result.status, result.body) == (200, CSS)


@pytest.mark.anyio
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
async def test_fifo_is_not_served(root: Path) -> None:
    os.mkfifo(root / "pipe")
    result = await asyncio.wait_for(call(StaticFiles(directory=root), "/pipe"), 5)
    assert result.status == 404


# -- serving ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/css/app.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/logo.png", "image/png"),
    ],
)
async def test_content_types(root: Path, path: str, content_type: str) -> None:
    result = await call(StaticFiles(directory=root), path)
    assert result.status == 200
    assert result.headers["content-type"] == content_type
    assert result.body == (root / path.lstrip("/")).read_bytes()


@pytest.mark.anyio
async def test_duplicate_and_dot_slashes_are_collapsed(root: Path) -> None:
    result = await call(StaticFiles(directory=root), "//css/./app.css")
    assert (result.status, result.body) == (200, CSS)


@pytest.mark.anyio
async def test_missing_file_is_404_plain_text_standalone(root: Path) -> None:
    result = await call(StaticFiles(directory=root), "/nope.css")
    assert result.status == 404
    assert result.headers["content-type"] == "text/plain; charset=utf-8"
    assert result.body == b"Not Found"


@pytest.mark.anyio
async def test_file_with_trailing_slash_is_404(root: Path) -> None:
    assert (await call(StaticFiles(directory=root), "/css/app.css/")).status == 404


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_get_405(root: Path, method: str) -> None:
    result = await call(StaticFiles(directory=root), "/css/app.css", method=method)
    assert result.status == 405
    assert result.headers["allow"] == "GET, HEAD"
    assert CSS not in result.body


@pytest.mark.anyio
async def test_head_has_length_and_no_body(root: Path) -> None:
    result = await call(StaticFiles(directory=root), "/css/app.css", method="HEAD")
    assert result.status == 200
    assert result.headers["content-length"] == str(len(CSS))
    assert result.body == b""


@pytest.mark.anyio
async def test_etag_and_if_modified_since_give_304(root: Path) -> None:
    app = StaticFiles(directory=root, max_age=3600)
    first = await call(app, "/css/app.css")
    assert first.headers["cache-control"] == "public, max-age=3600"
    etag = first.headers["etag"]
    by_etag = await call(app, "/css/app.css", headers={"if-none-match": etag})
    assert (by_etag.status, by_etag.body) == (304, b"")
    assert by_etag.headers["etag"] == etag
    assert by_etag.headers["cache-control"] == "public, max-age=3600"
    assert "content-length" not in by_etag.headers
    assert "content-type" not in by_etag.headers
    modified = first.headers["last-modified"]
    by_date = await call(app, "/css/app.css", headers={"if-modified-since": modified})
    assert (by_date.status, by_date.body) == (304, b"")
    changed = await call(app, "/css/app.css", headers={"if-none-match": '"old"'})
    assert (changed.status, changed.body) == (200, CSS)


@pytest.mark.anyio
async def test_ranges(root: Path) -> None:
    app = StaticFiles(directory=root)
    single = await call(app, "/css/app.css", headers={"range": "bytes=0-3"})
    assert (single.status, single.body) == (206, CSS[:4])
    assert single.headers["content-range"] == f"bytes 0-3/{len(CSS)}"
    multi = await call(app, "/css/app.css", headers={"range": "bytes=0-1,5-6"})
    assert multi.status == 206
    assert multi.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert CSS[0:2] in multi.body and CSS[5:7] in multi.body
    too_far = await call(app, "/css/app.css", headers={"range": "bytes=500-"})
    assert too_far.status == 416
    assert too_far.headers["content-range"] == f"bytes */{len(CSS)}"
    stale = await call(app, "/css/app.css", headers={"range": "bytes=0-3", "if-range": '"old"'})
    assert (stale.status, stale.body) == (200, CSS)


@pytest.mark.anyio
async def test_thousands_of_ranges_answer_quickly(root: Path) -> None:
    big = root / "big.bin"
    big.write_bytes(os.urandom(200_000))
    app = StaticFiles(directory=root)
    header = "bytes=" + ",".join(f"{index * 2}-{index * 2}" for index in range(50_000))
    started = time.perf_counter()
    result = await call(app, "/big.bin", headers={"range": header})
    assert time.perf_counter() - started < 2.0
    assert result.status == 200
    assert len(result.body) == 200_000


# -- directories -----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/", "/docs", "/docs/", "/empty-dir/"])
async def test_directories_are_404_without_html(root: Path, path: str) -> None:
    assert (await call(StaticFiles(directory=root), path)).status == 404


@pytest.mark.anyio
async def test_html_mode_serves_index_and_redirects_to_the_slash(root: Path) -> None:
    app = StaticFiles(directory=root, html=True)
    home = await call(app, "/")
    assert (home.status, home.body) == (200, b"<h1>home</h1>")
    docs = await call(app, "/docs/")
    assert (docs.status, docs.body) == (200, b"<h1>docs</h1>")
    assert docs.headers["content-type"] == "text/html; charset=utf-8"
    redirect = await call(app, "/docs", root_path="/static", query=b"a=1")
    assert redirect.status == 307
    assert redirect.headers["location"] == "/static/docs/?a=1"
    assert (await call(app, "/empty-dir/")).status == 404


@pytest.mark.anyio
async def test_html_redirect_cannot_become_protocol_relative(root: Path) -> None:
    (root / "evil.example").mkdir()
    (root / "evil.example" / "index.html").write_bytes(b"x")
    result = await call(StaticFiles(directory=root, html=True), "//evil.example")
    assert result.status == 307
    assert result.headers["location"] == "/evil.example/"


@pytest.mark.anyio
async def test_html_mode_serves_404_page(root: Path) -> None:
    app = StaticFiles(directory=root, html=True)
    assert (await call(app, "/missing")).body == b"Not Found"
    (root / "404.html").write_bytes(b"<h1>lost</h1>")
    result = await call(app, "/missing", headers={"if-none-match": "*"})
    assert (result.status, result.body) == (404, b"<h1>lost</h1>")
    assert result.headers["content-type"] == "text/html; charset=utf-8"


# -- configuration ---------------------------------------------------------------------


def test_needs_a_directory_or_packages() -> None:
    with pytest.raises(ImproperlyConfigured, match="directory or packages"):
        StaticFiles()


def test_check_dir(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        StaticFiles(directory=tmp_path / "missing")
    StaticFiles(directory=tmp_path / "missing", check_dir=False)


def test_negative_max_age_is_refused(root: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="max_age"):
        StaticFiles(directory=root, max_age=-1)


@pytest.mark.anyio
async def test_missing_directory_unchecked_gives_404(tmp_path: Path) -> None:
    app = StaticFiles(directory=tmp_path / "missing", check_dir=False)
    assert (await call(app, "/x.css")).status == 404


@pytest.mark.anyio
async def test_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site" / "oakling_demo_pkg"
    (package / "static").mkdir(parents=True)
    (package / "assets").mkdir()
    (package / "__init__.py").write_text("")
    (package / "static" / "pkg.css").write_bytes(CSS)
    (package / "assets" / "more.js").write_bytes(b"js")
    (package / "secret.py").write_bytes(SECRET)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    only = tmp_path / "own"
    only.mkdir()
    (only / "pkg.css").write_bytes(b"overridden")
    app = StaticFiles(directory=only, packages=["oakling_demo_pkg", ("oakling_demo_pkg", "assets")])
    assert (await call(app, "/pkg.css")).body == b"overridden"  # directory first
    assert (await call(app, "/more.js")).body == b"js"
    leak = await call(app, "/../secret.py")
    assert leak.status == 404 and SECRET not in leak.body
    with pytest.raises(ImproperlyConfigured, match="cannot find package"):
        StaticFiles(packages=["no_such_package_for_oakling"])
    monkeypatch.delitem(sys.modules, "oakling_demo_pkg", raising=False)


# -- errors inside an app, and other scopes --------------------------------------------


def test_errors_render_through_the_app(root: Path) -> None:
    app = App(secret_key=SECRET_KEY)
    app.mount("/static", StaticFiles(directory=root), name="static")

    @app.errorhandler(404)
    def not_found(request: Any, ex: Any) -> Response:
        return Response("custom 404", 404)

    with TestClient(app) as client:
        ok = client.get("/static/css/app.css")
        assert (ok.status_code, ok.content) == (200, CSS)
        assert client.get("/static/nope.css").text == "custom 404"
        post = client.post("/static/css/app.css", headers={"accept": "application/json"})
        assert post.status_code == 405
        assert post.headers["allow"] == "GET, HEAD"
        assert post.json() == {"detail": "Method Not Allowed"}


def test_app_static_dir_mounts_static_files(root: Path) -> None:
    app = App(secret_key=SECRET_KEY, static_dir=root)
    with TestClient(app) as client:
        response = client.get("/static/css/app.css")
        assert (response.status_code, response.content) == (200, CSS)
        assert client.get("/static/css/app.css", headers={"range": "bytes=0-3"}).content == CSS[:4]


@pytest.mark.anyio
async def test_file_vanishing_after_the_lookup_is_404(root: Path) -> None:
    class Vanishing(StaticFiles):
        async def get_response(self, scope: Any) -> Response:
            response = await super().get_response(scope)
            (root / "css" / "app.css").unlink()
            return response

    result = await call(Vanishing(directory=root), "/css/app.css")
    assert result.status == 404


@pytest.mark.anyio
async def test_lifespan_and_websocket_scopes(root: Path) -> None:
    app = StaticFiles(directory=root)
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[Message] = []

    async def receive() -> Message:
        return next(events)

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [message["type"] for message in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    sent.clear()
    await app({"type": "websocket", "path": "/"}, receive, send)
    assert sent[0]["type"] == "websocket.close"
