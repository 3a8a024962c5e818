"""FileResponse, and the sans-I/O conditional and range helpers behind it."""

from __future__ import annotations

import asyncio
import email.utils
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from oakling import App
from oakling._fileresponse import FileResponse, _guess_media_type
from oakling._sansio.conditional import (
    etag_matches,
    evaluate_preconditions,
    format_http_date,
    if_range_matches,
    make_etag,
    parse_http_date,
)
from oakling._sansio.ranges import (
    MAX_RANGE_HEADER,
    MAX_RANGES,
    content_range,
    multipart_byteranges,
    parse_range_header,
)
from oakling.background import BackgroundTask
from oakling.datastructures import Headers
from oakling.testing import TestClient
from oakling.types import ASGIApp, Message

SECRET = "s" * 50
CONTENT = b"0123456789abcdefghijklmnopqrstuvwxyz"  # 36 bytes
SIZE = len(CONTENT)
IMF_FIXDATE = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Result:
    status: int
    headers: Headers
    body: bytes
    messages: list[Message] = field(default_factory=list)


async def _never_disconnect() -> Message:
    await asyncio.Event().wait()
    return {"type": "http.disconnect"}  # pragma: no cover


async def call(
    app: ASGIApp,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    receive: Any = None,
) -> Result:
    """Run ``app`` for one request built by hand and collect what it sends."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (key.lower().encode("latin-1"), value.encode("latin-1"))
            for key, value in (headers or {}).items()
        ],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
    }
    messages: list[Message] = []
    requested = False

    async def default_receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await _never_disconnect()

    async def send(message: Message) -> None:
        messages.append(message)

    await app(scope, receive or default_receive, send)
    start = messages[0]
    assert start["type"] == "http.response.start"
    body = b"".join(message.get("body", b"") for message in messages[1:])
    assert messages[-1].get("more_body", False) is False
    return Result(start["status"], Headers(raw=start["headers"]), body, messages)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.txt"
    path.write_bytes(CONTENT)
    return path


def validators(path: Path) -> tuple[str, str]:
    result = path.stat()
    return make_etag(result.st_mtime_ns, result.st_size), format_http_date(result.st_mtime)


# -- sans-I/O: dates and entity tags ---------------------------------------------------


def test_format_http_date_is_an_imf_fixdate() -> None:
    assert format_http_date(784111777.9) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850
        "Sun Nov  6 08:49:37 1994",  # asctime, read as UTC
    ],
)
def test_parse_http_date_reads_the_three_formats(value: str) -> None:
    assert parse_http_date(value) == 784111777


@pytest.mark.parametrize(
    "value", ["", "yesterday", "Sun, 06 Nov 1994", "x" * 10_000, "Sun, 99 Nov 1994 08:49:37 GMT"]
)
def test_parse_http_date_returns_none_for_garbage(value: str) -> None:
    assert parse_http_date(value) is None


def test_make_etag_is_strong_and_changes_with_mtime_or_size() -> None:
    tag = make_etag(1_700_000_000_123_456_789, 36)
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/")
    assert tag != make_etag(1_700_000_000_123_456_790, 36)
    assert tag != make_etag(1_700_000_000_123_456_789, 37)


@pytest.mark.parametrize(
    ("header", "weak", "expected"),
    [
        ('"a"', True, True),
        ('"a"', False, True),
        ('W/"a"', True, True),
        ('W/"a"', False, False),  # the strong comparison refuses weak tags
        ('"b", "a"', False, True),
        ('"b",W/"a"', True, True),
        ('"b,a", "c"', True, False),  # a comma inside a tag is part of it
        ('"x", "a', True, False),  # unterminated: no match, no error
        ("a", True, False),  # unquoted garbage matches nothing
        ("*", False, True),
        (" * ", True, True),
        ("", True, False),
    ],
)
def test_etag_matches(header: str, weak: bool, expected: bool) -> None:
    assert etag_matches(header, '"a"', weak=weak) is expected


def test_etag_matches_a_weak_current_tag_only_weakly() -> None:
    assert etag_matches('W/"a"', 'W/"a"', weak=True)
    assert etag_matches('"a"', 'W/"a"', weak=True)
    assert not etag_matches('W/"a"', 'W/"a"', weak=False)


def test_etag_list_scan_is_linear() -> None:
    header = ", ".join(f'"{index}"' for index in range(100_000))
    started = time.perf_counter()
    assert etag_matches(header, '"99999"', weak=True)
    assert time.perf_counter() - started < 1.0


LAST = 1_000_000
TAG = '"t"'
BEFORE = format_http_date(LAST - 10)
SAME = format_http_date(LAST)
AFTER = format_http_date(LAST + 10)


@pytest.mark.parametrize(
    ("method", "conditions", "expected"),
    [
        ("GET", {}, None),
        ("GET", {"if_none_match": TAG}, 304),
        ("HEAD", {"if_none_match": 'W/"t"'}, 304),
        ("GET", {"if_none_match": '"other"'}, None),
        ("GET", {"if_none_match": "*"}, 304),
        ("POST", {"if_none_match": TAG}, 412),
        ("GET", {"if_modified_since": SAME}, 304),
        ("GET", {"if_modified_since": AFTER}, 304),
        ("GET", {"if_modified_since": BEFORE}, None),
        ("GET", {"if_modified_since": "not a date"}, None),
        ("POST", {"if_modified_since": AFTER}, None),
        # If-Modified-Since is ignored when If-None-Match is present
        ("GET", {"if_none_match": '"other"', "if_modified_since": AFTER}, None),
        ("GET", {"if_match": TAG}, None),
        ("GET", {"if_match": '"other"'}, 412),
        ("GET", {"if_match": 'W/"t"'}, 412),
        ("PUT", {"if_match": "*"}, None),
        ("GET", {"if_unmodified_since": BEFORE}, 412),
        ("GET", {"if_unmodified_since": SAME}, None),
        ("GET", {"if_unmodified_since": "garbage"}, None),
        # If-Unmodified-Since is ignored when If-Match is present
        ("GET", {"if_match": TAG, "if_unmodified_since": BEFORE}, None),
        # If-Match is evaluated before If-None-Match
        ("GET", {"if_match": '"other"', "if_none_match": TAG}, 412),
    ],
)
def test_evaluate_preconditions(
    method: str, conditions: dict[str, str], expected: int | None
) -> None:
    assert evaluate_preconditions(method, TAG, LAST, **conditions) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TAG, True),
        ('W/"t"', False),
        ('"other"', False),
        (SAME, True),
        (BEFORE, False),
        (AFTER, False),
        ("garbage", False),
        ("", False),
    ],
)
def test_if_range_matches(value: str, expected: bool) -> None:
    assert if_range_matches(value, TAG, LAST) is expected


def test_if_range_never_matches_a_weak_current_tag() -> None:
    assert not if_range_matches('W/"t"', 'W/"t"', LAST)


# -- sans-I/O: ranges ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", [(0, 9)]),
        ("bytes=0-0", [(0, 0)]),
        ("bytes=90-", [(90, 99)]),
        ("bytes=-10", [(90, 99)]),
        ("bytes=-1000", [(0, 99)]),  # a suffix longer than the file is all of it
        ("bytes=50-1000", [(50, 99)]),  # clamped
        ("BYTES = 0-9", [(0, 9)]),
        ("bytes=0-9,20-29", [(0, 9), (20, 29)]),
        ("bytes=20-29, 0-9", [(20, 29), (0, 9)]),  # the client's order is kept
        ("bytes=0-9,5-14", [(0, 14)]),  # overlapping: merged
        ("bytes=0-9,10-19", [(0, 19)]),  # adjacent: merged
        ("bytes=30-39,0-9,5-34", [(0, 39)]),
        ("bytes=0-9,,20-29,", [(0, 9), (20, 29)]),  # empty list elements
        ("bytes=0-9,200-300", [(0, 9)]),  # the unsatisfiable one is dropped
        ("bytes=00000000000000000000000005-6", [(5, 6)]),
        ("bytes=5-99999999999999999999999999999999", [(5, 99)]),
        ("bytes=-99999999999999999999999999999999", [(0, 99)]),
        # unsatisfiable: 416
        ("bytes=100-", []),
        ("bytes=100-200", []),
        ("bytes=-0", []),
        ("bytes=99999999999999999999999999-", []),
        # malformed or unsupported: ignored
        ("bytes=", None),
        ("bytes=,", None),
        ("bytes", None),
        ("items=0-9", None),
        ("bytes=9-0", None),
        ("bytes=a-9", None),
        ("bytes=0-b", None),
        ("bytes=-", None),
        ("bytes=0-9,x", None),
        ("bytes=+1-5", None),
        ("bytes=1 - 5", None),
        ("bytes=0x1-5", None),
        ("bytes=1_0-20", None),
        ("bytes=\u00b2-5", None),  # a non-ASCII digit
        ("bytes=0-9;q=1", None),
    ],
)
def test_parse_range_header(header: str, expected: list[tuple[int, int]] | None) -> None:
    assert parse_range_header(header, 100) == expected


def test_parse_range_header_on_an_empty_file_is_unsatisfiable() -> None:
    assert parse_range_header("bytes=0-", 0) == []
    assert parse_range_header("bytes=-5", 0) == []


def test_parse_range_header_ignores_too_many_ranges() -> None:
    allowed = ",".join(f"{index * 10}-{index * 10}" for index in range(MAX_RANGES))
    assert parse_range_header(f"bytes={allowed}", 1000) is not None
    too_many = ",".join(f"{index * 10}-{index * 10}" for index in range(MAX_RANGES + 1))
    assert parse_range_header(f"bytes={too_many}", 1000) is None


def test_parse_range_header_merges_before_counting() -> None:
    # SECURITY: the amplification attack: the same range many times is sent once.
    header = "bytes=" + ",".join(["0-"] * 1000)
    assert len(header) <= MAX_RANGE_HEADER
    assert parse_range_header(header, 1000) == [(0, 999)]


@pytest.mark.parametrize(
    "header",
    [
        "bytes=" + ",".join(f"{index * 2}-{index * 2}" for index in range(200_000)),
        "bytes=" + ",".join(["0-0"] * 200_000),
        "bytes=" + "0" * 1_000_000 + "-1",
        "bytes=" + "," * 1_000_000,
        "bytes=" + ",".join(f"{index * 2}-{index * 2}" for index in range(600))[:4090],
    ],
)
def test_parse_range_header_is_fast_and_bounded(header: str) -> None:
    started = time.perf_counter()
    for _ in range(20):
        assert parse_range_header(header, 10**9) is None
    assert time.perf_counter() - started < 0.5


def test_content_range() -> None:
    assert content_range(0, 499, 1234) == "bytes 0-499/1234"


def test_multipart_byteranges_frames_and_counts_the_body() -> None:
    data = bytes(range(100))
    ranges = [(0, 9), (50, 59)]
    heads, tail, length = multipart_byteranges(ranges, 100, "text/plain", "XYZ")
    body = b"".join(
        head + data[first : last + 1] for head, (first, last) in zip(heads, ranges, strict=True)
    )
    body += tail
    assert length == len(body)
    assert body.startswith(b"--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-9/100\r\n")
    assert (
        b"\r\n--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 50-59/100\r\n\r\n" in body
    )
    assert body.endswith(data[50:60] + b"\r\n--XYZ--\r\n")
    no_type, _, _ = multipart_byteranges(ranges, 100, None, "XYZ")
    assert b"Content-Type" not in no_type[0]


# -- FileResponse: the whole file -------------------------------------------------------


@pytest.mark.anyio
async def test_sends_the_file_with_its_headers(data_file: Path) -> None:
    result = await call(FileResponse(data_file))
    etag, modified = validators(data_file)
    assert result.status == 200
    assert result.body == CONTENT
    assert result.headers["content-type"] == "text/plain; charset=utf-8"
    assert result.headers["content-length"] == str(SIZE)
    assert result.headers["accept-ranges"] == "bytes"
    assert result.headers["etag"] == etag
    assert not etag.startswith("W/")
    assert result.headers["last-modified"] == modified
    assert IMF_FIXDATE.match(modified)
    assert "content-disposition" not in result.headers


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("app.css", "text/css"),
        ("app.js", "text/javascript"),
        ("module.mjs", "text/javascript"),
        ("index.html", "text/html"),
        ("logo.png", "image/png"),
        ("icon.svg", "image/svg+xml"),
        ("data.json", "application/json"),
        ("font.woff2", "font/woff2"),
        ("app.js.gz", "application/gzip"),
        ("UPPER.CSS", "text/css"),
        ("no-extension", "application/octet-stream"),
        ("weird.zzzunknown", "application/octet-stream"),
    ],
)
def test_guess_media_type(name: str, expected: str) -> None:
    assert _guess_media_type(name) == expected


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("page.html", "text/html; charset=utf-8"),
        ("logo.png", "image/png"),
    ],
)
async def test_content_type_from_the_file_name(
    tmp_path: Path, name: str, content_type: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"x")
    assert (await call(FileResponse(path))).headers["content-type"] == content_type


@pytest.mark.anyio
async def test_media_type_argument_wins(data_file: Path) -> None:
    result = await call(FileResponse(data_file, media_type="application/x-custom"))
    assert result.headers["content-type"] == "application/x-custom"


@pytest.mark.anyio
async def test_head_sends_headers_only(data_file: Path) -> None:
    result = await call(FileResponse(data_file), method="HEAD")
    assert result.status == 200
    assert result.body == b""
    assert result.headers["content-length"] == str(SIZE)
    assert "etag" in result.headers


@pytest.mark.anyio
async def test_large_file_is_sent_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    payload = os.urandom(10_000)
    path.write_bytes(payload)
    result = await call(FileResponse(path, chunk_size=1024))
    bodies = [message for message in result.messages if message["type"] == "http.response.body"]
    assert len(bodies) == 10
    assert all(message["more_body"] for message in bodies[:-1])
    assert result.body == payload
    assert result.headers["content-type"] == "application/octet-stream"


@pytest.mark.anyio
async def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    result = await call(FileResponse(path))
    assert (result.status, result.body, result.headers["content-length"]) == (200, b"", "0")
    unsatisfiable = await call(FileResponse(path), headers={"range": "bytes=0-"})
    assert unsatisfiable.status == 416
    assert unsatisfiable.headers["content-range"] == "bytes */0"


@pytest.mark.anyio
async def test_stat_result_gives_headers_before_sending(data_file: Path) -> None:
    response = FileResponse(data_file, stat_result=data_file.stat())
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["etag"] == validators(data_file)[0]
    assert (await call(response)).body == CONTENT


@pytest.mark.anyio
async def test_background_runs_after_the_body(data_file: Path) -> None:
    ran: list[bool] = []
    await call(FileResponse(data_file, background=BackgroundTask(ran.append, True)))
    assert ran == [True]


@pytest.mark.anyio
async def test_reading_stops_when_the_client_disconnects(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 100_000)
    ran: list[bool] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    response = FileResponse(path, chunk_size=1000, background=BackgroundTask(ran.append, True))
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)
        await asyncio.sleep(0)

    scope = {"type": "http", "method": "GET", "headers": [], "path": "/"}
    await response(scope, receive, send)
    assert len(messages) < 20  # far fewer than the 100 chunks of the file
    assert ran == []  # the body was not completed


@pytest.mark.anyio
async def test_send_raising_oserror_ends_the_response_quietly(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 10_000)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            raise OSError("client went away")  # ASGI 2.4 servers do this
        sent.append(message)

    scope = {"type": "http", "method": "GET", "headers": [], "path": "/"}
    await FileResponse(path, chunk_size=100)(scope, _never_disconnect, send)
    assert [message["type"] for message in sent] == ["http.response.start"]


# -- Content-Disposition ---------------------------------------------------------------


@pytest.mark.anyio
async def test_filename_makes_an_attachment(data_file: Path) -> None:
    result = await call(FileResponse(data_file, filename="report.csv"))
    assert result.headers["content-disposition"] == 'attachment; filename="report.csv"'
    assert result.headers["content-type"] == "text/csv; charset=utf-8"


@pytest.mark.anyio
async def test_inline_disposition(data_file: Path) -> None:
    response = FileResponse(data_file, filename="a.txt", content_disposition_type="inline")
    assert (await call(response)).headers["content-disposition"] == 'inline; filename="a.txt"'


@pytest.mark.anyio
async def test_non_ascii_filename_uses_rfc_5987(data_file: Path) -> None:
    result = await call(FileResponse(data_file, filename="résumé 2024.pdf"))
    assert result.headers["content-disposition"] == (
        "attachment; filename=\"r_sum_ 2024.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf"
    )


@pytest.mark.anyio
async def test_filename_cannot_inject_headers(data_file: Path) -> None:
    # SECURITY: CR/LF would start a new header; a quote would end the value.
    result = await call(FileResponse(data_file, filename='a"\r\nSet-Cookie: x=1\\.txt'))
    value = result.headers["content-disposition"]
    assert "\r" not in value and "\n" not in value
    assert value.startswith('attachment; filename="a___Set-Cookie: x=1_.txt"; filename*=')
    assert "set-cookie" not in result.headers


@pytest.mark.parametrize("kind", ["", "attachment; x=1", "inline\r\n", "a b"])
def test_disposition_type_must_be_a_token(data_file: Path, kind: str) -> None:
    with pytest.raises(ValueError, match="content_disposition_type"):
        FileResponse(data_file, filename="a.txt", content_disposition_type=kind)


def test_chunk_size_must_be_positive(data_file: Path) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        FileResponse(data_file, chunk_size=0)


# -- missing files ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_missing_file_raises_before_sending(tmp_path: Path) -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)  # pragma: no cover

    scope = {"type": "http", "method": "GET", "headers": [], "path": "/"}
    with pytest.raises(FileNotFoundError):
        await FileResponse(tmp_path / "nope.txt")(scope, _never_disconnect, send)
    with pytest.raises(IsADirectoryError):
        await FileResponse(tmp_path)(scope, _never_disconnect, send)
    assert sent == []


@pytest.mark.anyio
async def test_file_vanished_after_stat_raises_before_sending(data_file: Path) -> None:
    response = FileResponse(data_file, stat_result=data_file.stat())
    data_file.unlink()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)  # pragma: no cover

    scope = {"type": "http", "method": "GET", "headers": [], "path": "/"}
    with pytest.raises(FileNotFoundError):
        await response(scope, _never_disconnect, send)
    assert sent == []


@pytest.mark.anyio
async def test_file_shorter_than_announced_is_an_error(tmp_path: Path, data_file: Path) -> None:
    bigger = tmp_path / "bigger.txt"
    bigger.write_bytes(CONTENT * 4)
    response = FileResponse(data_file, stat_result=bigger.stat())
    with pytest.raises(RuntimeError, match="shrank"):
        await call(response)


@pytest.mark.anyio
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
async def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="regular file"):
        await asyncio.wait_for(call(FileResponse(fifo)), 5)
    # even when a stat_result claims it is a file, open() does not hang
    fake = FileResponse(fifo, stat_result=(tmp_path).stat())
    with pytest.raises(OSError, match="regular file"):
        await asyncio.wait_for(call(fake), 5)


# -- conditional requests --------------------------------------------------------------


@pytest.mark.anyio
async def test_if_none_match_gives_304_with_validators_only(data_file: Path) -> None:
    etag, _ = validators(data_file)
    response = FileResponse(
        data_file, filename="d.txt", headers={"cache-control": "max-age=60", "x-extra": "1"}
    )
    result = await call(response, headers={"if-none-match": etag})
    assert result.status == 304
    assert result.body == b""
    assert result.headers["etag"] == etag
    assert result.headers["cache-control"] == "max-age=60"
    assert result.headers["x-extra"] == "1"
    for name in ("content-length", "content-type", "content-disposition", "last-modified"):
        assert name not in result.headers


@pytest.mark.anyio
@pytest.mark.parametrize("template", ['"nope", {etag}', "W/{etag}", "*", '"a", "b",{etag}'])
async def test_if_none_match_lists_weak_tags_and_star(data_file: Path, template: str) -> None:
    etag, _ = validators(data_file)
    header = template.format(etag=etag)
    assert (await call(FileResponse(data_file), headers={"if-none-match": header})).status == 304


@pytest.mark.anyio
async def test_if_none_match_on_several_header_lines(data_file: Path) -> None:
    etag, _ = validators(data_file)
    response = FileResponse(data_file)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"if-none-match", b'"a"'), (b"if-none-match", etag.encode())],
    }
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    await response(scope, _never_disconnect, send)
    assert messages[0]["status"] == 304


@pytest.mark.anyio
async def test_if_none_match_mismatch_sends_the_file(data_file: Path) -> None:
    result = await call(FileResponse(data_file), headers={"if-none-match": '"stale"'})
    assert (result.status, result.body) == (200, CONTENT)


@pytest.mark.anyio
async def test_if_none_match_on_post_is_412(data_file: Path) -> None:
    etag, _ = validators(data_file)
    result = await call(FileResponse(data_file), method="POST", headers={"if-none-match": etag})
    assert (result.status, result.body) == (412, b"")


@pytest.mark.anyio
async def test_if_modified_since(data_file: Path) -> None:
    _, modified = validators(data_file)
    later = format_http_date(data_file.stat().st_mtime + 3600)
    earlier = format_http_date(data_file.stat().st_mtime - 3600)
    for value, status in [(modified, 304), (later, 304), (earlier, 200), ("garbage", 200)]:
        result = await call(FileResponse(data_file), headers={"if-modified-since": value})
        assert result.status == status, value
    not_modified = await call(FileResponse(data_file), headers={"if-modified-since": modified})
    assert "content-length" not in not_modified.headers
    assert not_modified.body == b""


@pytest.mark.anyio
async def test_if_modified_since_is_ignored_with_if_none_match(data_file: Path) -> None:
    _, modified = validators(data_file)
    headers = {"if-none-match": '"stale"', "if-modified-since": modified}
    assert (await call(FileResponse(data_file), headers=headers)).status == 200


@pytest.mark.anyio
async def test_if_match_and_if_unmodified_since_give_412(data_file: Path) -> None:
    earlier = format_http_date(data_file.stat().st_mtime - 3600)
    assert (await call(FileResponse(data_file), headers={"if-match": '"x"'})).status == 412
    result = await call(FileResponse(data_file), headers={"if-unmodified-since": earlier})
    assert result.status == 412
    assert result.headers["content-length"] == "0"


@pytest.mark.anyio
async def test_etag_given_in_headers_is_the_one_compared(data_file: Path) -> None:
    response = FileResponse(data_file, headers={"etag": '"v42"'})
    result = await call(response, headers={"if-none-match": '"v42"'})
    assert (result.status, result.headers["etag"]) == (304, '"v42"')


@pytest.mark.anyio
async def test_conditionals_and_ranges_only_apply_to_200(data_file: Path) -> None:
    etag, _ = validators(data_file)
    response = FileResponse(data_file, status_code=404)
    result = await call(response, headers={"if-none-match": etag, "range": "bytes=0-1"})
    assert (result.status, result.body) == (404, CONTENT)


# -- range requests --------------------------------------------------------------------


@pytest.mark.anyio
async def test_single_range_gives_206(data_file: Path) -> None:
    result = await call(FileResponse(data_file), headers={"range": "bytes=2-5"})
    assert result.status == 206
    assert result.body == CONTENT[2:6]
    assert result.headers["content-range"] == f"bytes 2-5/{SIZE}"
    assert result.headers["content-length"] == "4"
    assert result.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=-4", SIZE - 4, SIZE - 1), ("bytes=30-", 30, SIZE - 1), ("bytes=30-999", 30, SIZE - 1)],
)
async def test_suffix_open_and_clamped_ranges(
    data_file: Path, header: str, first: int, last: int
) -> None:
    result = await call(FileResponse(data_file), headers={"range": header})
    assert result.status == 206
    assert result.body == CONTENT[first : last + 1]
    assert result.headers["content-range"] == f"bytes {first}-{last}/{SIZE}"


@pytest.mark.anyio
async def test_range_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    payload = os.urandom(5000)
    path.write_bytes(payload)
    result = await call(FileResponse(path, chunk_size=100), headers={"range": "bytes=150-4321"})
    assert result.body == payload[150:4322]
    assert result.headers["content-length"] == str(4322 - 150)


def parse_multipart(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    delimiter = b"--" + boundary.encode()
    assert body.endswith(delimiter + b"--\r\n")
    parts = []
    for chunk in body.split(delimiter)[1:-1]:
        assert chunk.startswith(b"\r\n")
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        assert data.endswith(b"\r\n")
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        parts.append((fields, data[:-2]))
    return parts


@pytest.mark.anyio
async def test_several_ranges_give_multipart_byteranges(data_file: Path) -> None:
    result = await call(
        FileResponse(data_file, chunk_size=3), headers={"range": "bytes=20-25, 0-3"}
    )
    assert result.status == 206
    content_type = result.headers["content-type"]
    assert content_type.startswith("multipart/byteranges; boundary=")
    boundary = content_type.split("boundary=", 1)[1]
    assert len(boundary) >= 16
    assert result.headers["content-length"] == str(len(result.body))
    assert "content-range" not in result.headers
    parts = parse_multipart(result.body, boundary)
    assert parts == [
        (
            {"Content-Type": "text/plain; charset=utf-8", "Content-Range": f"bytes 20-25/{SIZE}"},
            CONTENT[20:26],
        ),
        (
            {"Content-Type": "text/plain; charset=utf-8", "Content-Range": f"bytes 0-3/{SIZE}"},
            CONTENT[0:4],
        ),
    ]


@pytest.mark.anyio
async def test_boundary_is_random(data_file: Path) -> None:
    first = await call(FileResponse(data_file), headers={"range": "bytes=0-1,4-5"})
    second = await call(FileResponse(data_file), headers={"range": "bytes=0-1,4-5"})
    assert first.headers["content-type"] != second.headers["content-type"]


@pytest.mark.anyio
async def test_overlapping_ranges_are_merged(data_file: Path) -> None:
    result = await call(FileResponse(data_file), headers={"range": "bytes=0-5,3-9,10-12"})
    assert result.status == 206
    assert result.headers["content-range"] == f"bytes 0-12/{SIZE}"
    assert result.body == CONTENT[:13]


@pytest.mark.anyio
@pytest.mark.parametrize("header", ["bytes=36-", "bytes=100-200", "bytes=-0", "bytes=50-60,70-"])
async def test_unsatisfiable_range_gives_416(data_file: Path, header: str) -> None:
    result = await call(FileResponse(data_file), headers={"range": header})
    assert result.status == 416
    assert result.headers["content-range"] == f"bytes */{SIZE}"
    assert result.body == b""
    assert result.headers["content-length"] == "0"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "header", ["bytes=abc", "bytes=5-3", "lines=0-3", "bytes=", "bytes=0-3,junk", "0-3"]
)
async def test_malformed_range_is_ignored(data_file: Path, header: str) -> None:
    result = await call(FileResponse(data_file), headers={"range": header})
    assert (result.status, result.body) == (200, CONTENT)
    assert "content-range" not in result.headers


@pytest.mark.anyio
async def test_range_is_ignored_for_head_and_post(data_file: Path) -> None:
    head = await call(FileResponse(data_file), method="HEAD", headers={"range": "bytes=0-3"})
    assert (head.status, head.headers["content-length"], head.body) == (200, str(SIZE), b"")
    post = await call(FileResponse(data_file), method="POST", headers={"range": "bytes=0-3"})
    assert (post.status, post.body) == (200, CONTENT)


@pytest.mark.anyio
async def test_if_range_with_the_current_etag_or_date_gives_206(data_file: Path) -> None:
    etag, modified = validators(data_file)
    for value in (etag, modified):
        result = await call(
            FileResponse(data_file), headers={"range": "bytes=0-3", "if-range": value}
        )
        assert (result.status, result.body) == (206, CONTENT[:4]), value


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["stale-etag", "weak-etag", "other-date", "garbage"])
async def test_if_range_mismatch_sends_the_whole_file(data_file: Path, kind: str) -> None:
    etag, _ = validators(data_file)
    value = {
        "stale-etag": '"stale"',
        "weak-etag": "W/" + etag,
        "other-date": format_http_date(data_file.stat().st_mtime - 60),
        "garbage": "garbage",
    }[kind]
    result = await call(FileResponse(data_file), headers={"range": "bytes=0-3", "if-range": value})
    assert (result.status, result.body) == (200, CONTENT)


@pytest.mark.anyio
async def test_two_range_headers_are_ignored(data_file: Path) -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"range", b"bytes=0-1"), (b"range", b"bytes=2-3")],
    }
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    await FileResponse(data_file)(scope, _never_disconnect, send)
    assert messages[0]["status"] == 200


@pytest.mark.anyio
async def test_thousands_of_ranges_answer_quickly_and_boundedly(tmp_path: Path) -> None:
    # SECURITY: cf. CVE-2025-62727: many ranges must cost neither quadratic
    # parsing nor a response many times the file's size.
    path = tmp_path / "big.bin"
    payload = os.urandom(100_000)
    path.write_bytes(payload)
    attacks = [
        "bytes=" + ",".join(f"{index * 3}-{index * 3}" for index in range(20_000)),  # long
        "bytes=" + ",".join(f"{index * 3}-{index * 3}" for index in range(500))[:4000],
        "bytes=" + ",".join(["0-"] * 1000),  # amplification
        "bytes=" + ",".join(f"{index}-" for index in range(900)),
    ]
    started = time.perf_counter()
    for header in attacks:
        result = await call(FileResponse(path), headers={"range": header})
        assert len(result.body) <= len(payload)
        assert result.status in (200, 206)
        if result.status == 206:
            assert result.headers["content-range"] == f"bytes 0-{len(payload) - 1}/100000"
    assert time.perf_counter() - started < 2.0


# -- through an app --------------------------------------------------------------------


def test_file_response_from_a_handler(data_file: Path) -> None:
    app = App(secret_key=SECRET)

    @app.get("/download")
    def download() -> FileResponse:
        return FileResponse(data_file, filename="data.txt")

    with TestClient(app) as client:
        response = client.get("/download")
        assert response.status_code == 200
        assert response.content == CONTENT
        etag = response.headers["etag"]
        assert client.get("/download", headers={"if-none-match": etag}).status_code == 304
        partial = client.get("/download", headers={"range": "bytes=1-2", "if-range": etag})
        assert (partial.status_code, partial.content) == (206, CONTENT[1:3])
        head = client.head("/download")
        assert head.headers["content-length"] == str(SIZE)
        assert head.content == b""
        last_modified = email.utils.parsedate_to_datetime(response.headers["last-modified"])
        assert last_modified.tzinfo is not None
