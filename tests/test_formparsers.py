from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import oakling.formparsers as formparsers
from oakling._sansio.options import decode_ext_value, parse_options_header, text_charset
from oakling.datastructures import FormData, UploadFile
from oakling.exceptions import ClientDisconnect, HTTPException
from oakling.formparsers import MAX_PART_HEADERS, MAX_PREAMBLE_SIZE
from oakling.requests import Limits, Request
from oakling.types import Message

pytestmark = pytest.mark.anyio

BOUNDARY = "oakling-boundary-7MA4YWxkTrZu0gW"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
URLENCODED = "application/x-www-form-urlencoded"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- helpers ---------------------------------------------------------------------


def make_request(
    body: bytes,
    content_type: str | None,
    *,
    chunk_size: int = 65_536,
    content_length: bool = True,
    limits: Limits | None = None,
    disconnect_after: int | None = None,
) -> Request:
    """Build a request whose receive yields ``body`` in chunks of ``chunk_size``."""
    headers: list[tuple[bytes, bytes]] = []
    if content_type is not None:
        headers.append((b"content-type", content_type.encode("latin-1")))
    if content_length:
        headers.append((b"content-length", str(len(body)).encode()))
    chunks = [body[pos : pos + chunk_size] for pos in range(0, len(body), chunk_size)] or [b""]
    if disconnect_after is not None:
        chunks = chunks[:disconnect_after]
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    if disconnect_after is not None:
        messages[-1]["more_body"] = True
        messages.append({"type": "http.disconnect"})

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    return Request(scope, receive, limits)


def part(
    name: str | None,
    content: bytes | str,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    extra_headers: list[str] | None = None,
    disposition: str | None = None,
) -> bytes:
    """Build one multipart part (headers, blank line, content), without delimiters."""
    if disposition is None:
        disposition = "form-data"
        if name is not None:
            disposition += f'; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
    lines = [f"Content-Disposition: {disposition}"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines.extend(extra_headers or [])
    data = content.encode() if isinstance(content, str) else content
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def multipart_body(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"\r\n") -> bytes:
    """Join parts with the boundary as RFC 2046 section 5.1.1 lays them out."""
    delimiter = f"--{BOUNDARY}".encode()
    pieces = [preamble + b"\r\n"] if preamble else []
    pieces.extend(delimiter + b"\r\n" + item + b"\r\n" for item in parts)
    pieces.append(delimiter + b"--" + epilogue)
    return b"".join(pieces)


async def form_error(request: Request) -> HTTPException:
    with pytest.raises(HTTPException) as info:
        await request.form()
    return info.value


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    started = time.perf_counter()
    try:
        result: Any = await call()
    except HTTPException as ex:
        result = ex
    return result, time.perf_counter() - started


CHUNK_SIZES = pytest.mark.parametrize("chunk_size", [1, 7, 65_536])


# -- content types -----------------------------------------------------------------


async def test_unsupported_content_type_is_415() -> None:
    error = await form_error(make_request(b'{"a": 1}', "application/json"))
    assert error.status_code == 415
    assert "application/json" in error.detail
    assert "multipart/form-data" in error.detail


async def test_body_without_content_type_is_415() -> None:
    error = await form_error(make_request(b"a=1", None))
    assert error.status_code == 415
    assert "none given" in error.detail


async def test_garbled_content_type_is_415_not_500() -> None:
    error = await form_error(make_request(b"a=1", '\x00;;;"=;boundary'))
    assert error.status_code == 415


async def test_empty_body_without_content_type_is_an_empty_form() -> None:
    form = await make_request(b"", None).form()
    assert isinstance(form, FormData)
    assert len(form) == 0


async def test_content_type_is_case_insensitive_and_may_carry_a_charset() -> None:
    form = await make_request(b"a=1", "Application/X-WWW-Form-URLEncoded; charset=UTF-8").form()
    assert form["a"] == "1"


async def test_form_is_cached() -> None:
    request = make_request(b"a=1", URLENCODED)
    assert await request.form() is await request.form()


# -- urlencoded --------------------------------------------------------------------


@CHUNK_SIZES
async def test_urlencoded_fields_repeated_keys_and_blank_values(chunk_size: int) -> None:
    body = b"name=Ada+Lovelace&tag=a&tag=b&empty=&bare&city=Z%C3%BCrich"
    form = await make_request(body, URLENCODED, chunk_size=chunk_size).form()
    assert form["name"] == "Ada Lovelace"
    assert form.getlist("tag") == ["a", "b"]
    assert form["tag"] == "b"
    assert form["empty"] == ""
    assert form["bare"] == ""
    assert form["city"] == "Zürich"
    assert form.multi_items()[0] == ("name", "Ada Lovelace")


async def test_urlencoded_invalid_percent_encoding_and_utf8_are_kept_or_replaced() -> None:
    body = b"bad=%zz%&half=%C3&raw=\xff\xfe&ok=1"
    form = await make_request(body, URLENCODED).form()
    assert form["bad"] == "%zz%"
    assert form["half"] == "\ufffd"
    assert form["raw"] == "\ufffd\ufffd"
    assert form["ok"] == "1"


async def test_urlencoded_empty_body_is_an_empty_form() -> None:
    assert len(await make_request(b"", URLENCODED).form()) == 0


async def test_urlencoded_too_many_fields_is_400() -> None:
    limits = Limits(max_fields=3)
    assert len(await make_request(b"a=1&b=2&c=3", URLENCODED, limits=limits).form()) == 3
    error = await form_error(make_request(b"a=1&b=2&c=3&d=4", URLENCODED, limits=limits))
    assert error.status_code == 400
    assert "Too many form fields" in error.detail
    assert "3" in error.detail


async def test_urlencoded_field_flood_is_refused_quickly() -> None:
    body = b"&".join(b"f%d=x" % index for index in range(200_000))
    error, elapsed = await timed(
        make_request(body, URLENCODED, limits=Limits(max_body_size=10**7)).form
    )
    assert isinstance(error, HTTPException)
    assert error.status_code == 400
    assert elapsed < 5


async def test_urlencoded_body_too_large_by_content_length_is_413() -> None:
    limits = Limits(max_body_size=10)
    error = await form_error(make_request(b"a=" + b"x" * 20, URLENCODED, limits=limits))
    assert error.status_code == 413
    assert "10 bytes" in error.detail


async def test_urlencoded_body_too_large_by_streamed_bytes_is_413() -> None:
    limits = Limits(max_body_size=10)
    request = make_request(
        b"a=" + b"x" * 20, URLENCODED, limits=limits, content_length=False, chunk_size=4
    )
    error = await form_error(request)
    assert error.status_code == 413
    assert "10 bytes" in error.detail


# -- multipart: the happy path -----------------------------------------------------


@CHUNK_SIZES
async def test_multipart_text_fields_and_files(chunk_size: int) -> None:
    body = multipart_body(
        part("title", "Buy milk"),
        part("tag", "a"),
        part("tag", "b"),
        part("empty", ""),
        part("notes", "line one\r\nline two\r\n"),
        part("upload", b"\x00binary\r\n--not-the-boundary\r\n", filename="data.bin"),
        part("doc", "hello", filename="hello.txt", content_type="text/plain"),
    )
    form = await make_request(body, MULTIPART, chunk_size=chunk_size).form()
    assert form["title"] == "Buy milk"
    assert form.getlist("tag") == ["a", "b"]
    assert form["empty"] == ""
    assert form["notes"] == "line one\r\nline two\r\n"

    upload = form["upload"]
    assert isinstance(upload, UploadFile)
    assert upload.filename == "data.bin"
    assert upload.content_type == "application/octet-stream"
    assert upload.size == len(b"\x00binary\r\n--not-the-boundary\r\n")
    assert await upload.read() == b"\x00binary\r\n--not-the-boundary\r\n"
    assert upload.in_memory

    doc = form["doc"]
    assert isinstance(doc, UploadFile)
    assert (doc.filename, doc.content_type, doc.size) == ("hello.txt", "text/plain", 5)
    assert doc.headers["content-type"] == "text/plain"
    assert await doc.read() == b"hello"
    await form.close()


async def test_multipart_quoted_boundary_and_uppercase_type() -> None:
    body = multipart_body(part("a", "1"))
    content_type = f'Multipart/Form-Data; charset=utf-8; boundary="{BOUNDARY}"'
    form = await make_request(body, content_type).form()
    assert form["a"] == "1"


async def test_multipart_boundary_with_rfc_2046_punctuation() -> None:
    boundary = "----=_Part_0_1234.5678:(x)?"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--{boundary}--\r\n'
    )
    form = await make_request(body.encode(), f'multipart/form-data; boundary="{boundary}"').form()
    assert form["a"] == "1"


async def test_multipart_large_file_rolls_to_disk_intact() -> None:
    content = bytes(range(256)) * 4096  # 1 MiB, every byte value, CR/LF included
    body = multipart_body(part("upload", content, filename="big.bin"), part("after", "ok"))
    limits = Limits(file_memory_size=64 * 1024)
    form = await make_request(body, MULTIPART, limits=limits, chunk_size=10_000).form()
    upload = form["upload"]
    assert isinstance(upload, UploadFile)
    assert not upload.in_memory
    assert upload.size == len(content)
    assert await upload.read() == content
    assert form["after"] == "ok"
    await form.close()


async def test_multipart_whole_body_in_one_large_message() -> None:
    content = b"x" * (3 * 1024 * 1024)
    body = multipart_body(part("upload", content, filename="big.bin"))
    form = await make_request(body, MULTIPART, chunk_size=len(body)).form()
    upload = form["upload"]
    assert isinstance(upload, UploadFile)
    assert upload.size == len(content)
    await form.close()


async def test_multipart_field_charset_and_utf8_names() -> None:
    body = multipart_body(
        part("latin", "café".encode("latin-1"), content_type="text/plain; charset=iso-8859-1"),
        part("bogus", "café".encode(), content_type="text/plain; charset=no-such-charset"),
        part("trap", "café".encode(), content_type="text/plain; charset=punycode"),
        part("invalid", b"\xff\xfe ok"),
        part("naïve", "yes"),
    )
    form = await make_request(body, MULTIPART).form()
    assert form["latin"] == "café"
    assert form["bogus"] == "café"
    assert form["trap"] == "café"
    assert form["invalid"] == "\ufffd\ufffd ok"
    assert form["naïve"] == "yes"


async def test_multipart_filenames_lose_their_directories() -> None:
    body = multipart_body(
        part("a", "1", filename="C:\\Users\\me\\cv.pdf"),
        part("b", "2", filename="../../etc/passwd"),
        part("c", "3", disposition="form-data; name=c; filename*=UTF-8''na%C3%AFve.txt"),
        part("d", "", filename=""),
    )
    form = await make_request(body, MULTIPART).form()
    names = [form[key].filename for key in "abcd"]
    assert names == ["cv.pdf", "passwd", "naïve.txt", ""]
    await form.close()


async def test_multipart_small_preamble_and_epilogue_are_allowed() -> None:
    preamble = b"This is a multi-part message in MIME format." + b"." * 900
    epilogue = b"\r\nThis is the epilogue." + b"." * 900
    body = multipart_body(part("a", "1"), preamble=preamble, epilogue=epilogue)
    for chunk_size in (1, 13, 65_536):
        form = await make_request(body, MULTIPART, chunk_size=chunk_size).form()
        assert form["a"] == "1"


async def test_multipart_leading_crlf_and_missing_final_crlf_are_allowed() -> None:
    body = b"\r\n" + multipart_body(part("a", "1"), epilogue=b"")
    form = await make_request(body, MULTIPART).form()
    assert form["a"] == "1"


async def test_multipart_empty_form_and_empty_body() -> None:
    assert len(await make_request(f"--{BOUNDARY}--\r\n".encode(), MULTIPART).form()) == 0
    assert len(await make_request(b"", MULTIPART).form()) == 0


async def test_request_close_closes_uploads() -> None:
    request = make_request(multipart_body(part("f", "x", filename="x.txt")), MULTIPART)
    upload = (await request.form())["f"]
    assert isinstance(upload, UploadFile)
    await request.close()
    assert upload.file.closed


# -- multipart: limits -------------------------------------------------------------


async def test_multipart_too_many_files_is_400() -> None:
    limits = Limits(max_files=2)
    ok = multipart_body(*(part("f", "x", filename=f"{index}.txt") for index in range(2)))
    form = await make_request(ok, MULTIPART, limits=limits).form()
    assert len(form.getlist("f")) == 2
    await form.close()
    bad = multipart_body(*(part("f", "x", filename=f"{index}.txt") for index in range(3)))
    error = await form_error(make_request(bad, MULTIPART, limits=limits))
    assert error.status_code == 400
    assert error.detail == "Too many files: the limit is 2"


async def test_multipart_too_many_fields_is_400() -> None:
    limits = Limits(max_fields=2)
    body = multipart_body(part("a", "1"), part("b", "2"), part("c", "3"))
    error = await form_error(make_request(body, MULTIPART, limits=limits))
    assert error.status_code == 400
    assert error.detail == "Too many form fields: the limit is 2"


async def test_multipart_bomb_of_empty_parts_stops_early_and_quickly() -> None:
    # Werkzeug CVE-2023-25577 / Starlette GHSA-74m5-2c7w-9w3x: many tiny parts.
    body = multipart_body(*(part("f", "") for index in range(100_000)))
    request = make_request(body, MULTIPART, limits=Limits(max_multipart_size=10**8))
    error, elapsed = await timed(request.form)
    assert isinstance(error, HTTPException)
    assert error.status_code == 400
    assert "1000" in error.detail
    assert elapsed < 5


async def test_multipart_file_bomb_stops_at_max_files_and_closes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[UploadFile] = []

    class RecordingUploadFile(UploadFile):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(formparsers, "UploadFile", RecordingUploadFile)
    body = multipart_body(*(part("f", "x", filename="x") for index in range(10_000)))
    error = await form_error(make_request(body, MULTIPART))
    assert error.status_code == 400
    assert "100" in error.detail
    assert len(created) == 100
    assert all(upload.file.closed for upload in created)


async def test_multipart_oversized_field_is_413() -> None:
    limits = Limits(max_part_size=100)
    ok = await make_request(multipart_body(part("a", "x" * 100)), MULTIPART, limits=limits).form()
    assert ok["a"] == "x" * 100
    body = multipart_body(part("comment", "x" * 101))
    error = await form_error(make_request(body, MULTIPART, limits=limits, chunk_size=16))
    assert error.status_code == 413
    assert error.detail == "Form field 'comment' is larger than 100 bytes"


async def test_multipart_part_size_limit_does_not_apply_to_files() -> None:
    limits = Limits(max_part_size=100)
    body = multipart_body(part("f", b"x" * 1000, filename="f.bin"))
    form = await make_request(body, MULTIPART, limits=limits).form()
    assert form["f"].size == 1000
    await form.close()


async def test_multipart_body_too_large_by_content_length_is_413() -> None:
    limits = Limits(max_multipart_size=1000)
    body = multipart_body(part("f", b"x" * 2000, filename="f.bin"))
    error = await form_error(make_request(body, MULTIPART, limits=limits))
    assert error.status_code == 413
    assert "1000 bytes" in error.detail


async def test_multipart_body_too_large_by_streamed_bytes_is_413_and_closes_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[UploadFile] = []

    class RecordingUploadFile(UploadFile):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(formparsers, "UploadFile", RecordingUploadFile)
    limits = Limits(max_multipart_size=1000)
    body = multipart_body(part("f", b"x" * 2000, filename="f.bin"))
    request = make_request(body, MULTIPART, limits=limits, content_length=False, chunk_size=100)
    error = await form_error(request)
    assert error.status_code == 413
    assert "1000 bytes" in error.detail
    assert len(created) == 1
    assert created[0].file.closed


async def test_multipart_oversized_part_headers_are_400() -> None:
    limits = Limits(max_part_header_size=1024)
    headers = [f"X-Filler-{index}: {'v' * 40}" for index in range(25)]
    body = multipart_body(part("a", "1", extra_headers=headers))
    error = await form_error(make_request(body, MULTIPART, limits=limits))
    assert error.status_code == 400
    assert error.detail == "Multipart part headers are larger than 1024 bytes"


@pytest.mark.parametrize("chunk_size", [100, 65_536])
async def test_multipart_one_huge_header_line_is_400(chunk_size: int) -> None:
    body = multipart_body(part("a", "1", extra_headers=["X-Big: " + "v" * 100_000]))
    error = await form_error(make_request(body, MULTIPART, chunk_size=chunk_size))
    assert error.status_code == 400
    assert "header" in error.detail.lower()


async def test_multipart_too_many_headers_in_a_part_is_400() -> None:
    ok = [f"X-{index}: v" for index in range(MAX_PART_HEADERS - 1)]
    form = await make_request(multipart_body(part("a", "1", extra_headers=ok)), MULTIPART).form()
    assert form["a"] == "1"
    headers = [f"X-{index}: v" for index in range(MAX_PART_HEADERS)]
    error = await form_error(
        make_request(multipart_body(part("a", "1", extra_headers=headers)), MULTIPART)
    )
    assert error.status_code == 400
    assert error.detail == f"Too many headers in a multipart part: the limit is {MAX_PART_HEADERS}"


# -- multipart: malformed bodies -----------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        'multipart/form-data; boundary=""',
        "multipart/form-data; charset=utf-8",
    ],
)
async def test_multipart_missing_boundary_is_400(content_type: str) -> None:
    error = await form_error(make_request(multipart_body(part("a", "1")), content_type))
    assert error.status_code == 400
    assert error.detail == "Missing boundary in multipart/form-data content type"


@pytest.mark.parametrize(
    "boundary",
    ['"' + "x" * 71 + '"', '"bad\x00byte"', '"caf\u00e9"', '"semi;colon"', 'qu"ote', '"trailing "'],
)
async def test_multipart_invalid_boundary_is_400(boundary: str) -> None:
    content_type = f"multipart/form-data; boundary={boundary}"
    error = await form_error(make_request(b"--x--", content_type))
    assert error.status_code == 400
    assert "Invalid multipart boundary" in error.detail


@CHUNK_SIZES
async def test_multipart_junk_before_first_boundary_is_400(chunk_size: int) -> None:
    body = multipart_body(part("a", "1"), preamble=b"j" * (MAX_PREAMBLE_SIZE + 1))
    error = await form_error(make_request(body, MULTIPART, chunk_size=chunk_size))
    assert error.status_code == 400
    assert "preamble" in error.detail


@CHUNK_SIZES
async def test_multipart_junk_after_closing_boundary_is_400(chunk_size: int) -> None:
    body = multipart_body(part("a", "1"), epilogue=b"\r\n" + b"j" * MAX_PREAMBLE_SIZE)
    error = await form_error(make_request(body, MULTIPART, chunk_size=chunk_size))
    assert error.status_code == 400
    assert "epilogue" in error.detail


async def test_multipart_megabytes_of_junk_cost_no_cpu_and_no_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # CVE-2024-53981: python-multipart logged a line per junk byte around the body.
    junk = b"\r\n" + b"\n\r-" * 1_000_000
    limits = Limits(max_multipart_size=10**8)
    with caplog.at_level(logging.DEBUG):
        for body in (
            junk + multipart_body(part("a", "1")),
            multipart_body(part("a", "1"), epilogue=junk),
        ):
            error, elapsed = await timed(
                make_request(body, MULTIPART, limits=limits, chunk_size=1000).form
            )
            assert isinstance(error, HTTPException)
            assert error.status_code == 400
            assert elapsed < 5
    assert len(caplog.records) <= 2


@pytest.mark.parametrize("prefix", [b"", multipart_body(part("a", "1"))])
async def test_multipart_endless_junk_is_refused_after_a_few_chunks(prefix: bytes) -> None:
    # Without a bound the junk would be buffered until max_multipart_size.
    reads = 0

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        if reads > 1000:  # a regression fails here instead of hanging
            return {"type": "http.disconnect"}
        chunk = prefix if reads == 1 and prefix else b"j" * 100
        return {"type": "http.request", "body": chunk, "more_body": True}

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b""}
    scope["headers"] = [(b"content-type", MULTIPART.encode())]
    error = await form_error(Request(scope, receive))
    assert error.status_code == 400
    assert reads <= MAX_PREAMBLE_SIZE // 100 + 3


async def test_multipart_junk_with_no_boundary_at_all_is_400() -> None:
    error = await form_error(make_request(b"hello world", MULTIPART))
    assert error.status_code == 400
    assert "must start with the boundary" in error.detail


@CHUNK_SIZES
async def test_multipart_truncated_body_is_400(chunk_size: int) -> None:
    full = multipart_body(part("a", "1"), part("f", b"data" * 100, filename="f.bin"))
    for cut in (len(full) // 2, len(full) - 4, len(f"--{BOUNDARY}\r\n")):
        error = await form_error(make_request(full[:cut], MULTIPART, chunk_size=chunk_size))
        assert error.status_code == 400
        assert "ended before the closing boundary" in error.detail


async def test_multipart_client_disconnect_propagates_and_closes_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[UploadFile] = []

    class RecordingUploadFile(UploadFile):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(formparsers, "UploadFile", RecordingUploadFile)
    body = multipart_body(part("f", b"x" * 1000, filename="f.bin"))
    request = make_request(body, MULTIPART, chunk_size=300, disconnect_after=2)
    with pytest.raises(ClientDisconnect):
        await request.form()
    assert len(created) == 1
    assert created[0].file.closed


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # No CRLF after the opening boundary.
        (
            f"--{BOUNDARY}Content-Disposition: form-data; name=a\r\n\r\n1\r\n--{BOUNDARY}--",
            "Malformed",
        ),
        # Header line without a colon.
        (f"--{BOUNDARY}\r\nContent-Disposition form-data\r\n\r\n1\r\n--{BOUNDARY}--", "Malformed"),
        # Header line ended by a bare LF.
        (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=a\n\n1\r\n--{BOUNDARY}--",
            "Malformed",
        ),
        # Header line ended by a bare CR.
        (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=a\rX\r\n\r\n1\r\n--{BOUNDARY}--",
            "Malformed",
        ),
        # The closing boundary where a header belongs.
        (f"--{BOUNDARY}\r\nX: y\r\n--{BOUNDARY}--\r\n", "Malformed"),
        # A different boundary.
        ("--other\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--other--", "must start"),
    ],
)
async def test_multipart_malformed_framing_is_400(body: str, expected: str) -> None:
    error = await form_error(make_request(body.encode(), MULTIPART))
    assert error.status_code == 400
    assert expected in error.detail


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        (None, "no Content-Disposition"),
        ("form-data", "with a name"),
        ('form-data; filename="x.txt"', "with a name"),
        ('attachment; name="a"', "'form-data'"),
        ('form-data; name="a"\r\nContent-Disposition: form-data; name="b"', "more than one"),
    ],
)
async def test_multipart_part_without_a_proper_disposition_is_400(
    disposition: str | None, expected: str
) -> None:
    if disposition is None:
        raw = b"Content-Type: text/plain\r\n\r\n1"
    else:
        raw = part(None, "1", disposition=disposition)
    error = await form_error(make_request(multipart_body(raw), MULTIPART))
    assert error.status_code == 400
    assert expected in error.detail


# -- multipart: denial of service ------------------------------------------------------


@pytest.mark.parametrize("filename", [None, "crlf.bin"])
async def test_multipart_megabyte_of_crlf_parses_in_linear_time(filename: str | None) -> None:
    # Werkzeug CVE-2023-46136: a part of CR/LF bytes made boundary search slow.
    content = b"\r\n" * 250_000 + b"\r" * 250_000 + b"\n" * 250_000 + b"\r\n-" * 100_000
    limits = Limits(max_part_size=2 * 1024 * 1024)
    body = multipart_body(part("f", content, filename=filename))
    form, elapsed = await timed(make_request(body, MULTIPART, limits=limits).form)
    assert isinstance(form, FormData)
    value = form["f"]
    if filename is None:
        assert value == content.decode()
    else:
        assert await value.read() == content
        await form.close()
    assert elapsed < 5


async def test_content_type_option_parsing_is_linear() -> None:
    # CVE-2024-24762: a ReDoS in python-multipart's Content-Type parameter regex.
    nasty = [
        "multipart/form-data; boundary=x" + ";" * 200_000,
        'multipart/form-data; boundary=x; a="' + "\\" * 200_000,
        'multipart/form-data; boundary=x; a="' + '\\"' * 100_000,
        "multipart/form-data; boundary=x" + '; a="b"' * 30_000,
        "multipart/form-data; " + "a" * 200_000 + "=" + "b" * 200_000,
    ]
    started = time.perf_counter()
    for header in nasty:
        main, params = parse_options_header(header)
        assert main == "multipart/form-data"
    assert time.perf_counter() - started < 1


async def test_nasty_content_type_header_on_a_request_is_fast() -> None:
    header = 'multipart/form-data; boundary="' + '\\"' * 50_000 + ";" * 50_000
    error, elapsed = await timed(make_request(b"--x--", header).form)
    assert isinstance(error, HTTPException)
    assert error.status_code == 400
    assert elapsed < 1


# -- the options parser --------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", ("", {})),
        ("text/plain", ("text/plain", {})),
        (" Text/HTML ; Charset=UTF-8 ", ("text/html", {"charset": "UTF-8"})),
        (
            'form-data; name="a;b"; filename="x.txt"',
            ("form-data", {"name": "a;b", "filename": "x.txt"}),
        ),
        ('form-data; name="say \\"hi\\""', ("form-data", {"name": 'say "hi"'})),
        ('form-data; filename="C:\\dir\\f.txt"', ("form-data", {"filename": "C:\\dir\\f.txt"})),
        ('form-data; name="a"; name="b"', ("form-data", {"name": "a"})),
        ("form-data; secure; name=a", ("form-data", {"name": "a"})),
        ('form-data; name="unterminated', ("form-data", {"name": "unterminated"})),
        ('form-data; name="a"junk; x=1', ("form-data", {"name": "a", "x": "1"})),
        ("form-data; name=", ("form-data", {"name": ""})),
        (";;;", ("", {})),
    ],
)
def test_parse_options_header(header: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_options_header(header) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("UTF-8''na%C3%AFve.txt", "naïve.txt"),
        ("iso-8859-1'en'caf%E9", "café"),
        ("nope''caf%C3%A9", "café"),
        ("plain%20name", "plain name"),
        ("UTF-8''%FF", "\ufffd"),
    ],
)
def test_decode_ext_value(value: str, expected: str) -> None:
    assert decode_ext_value(value) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, "utf-8"),
        ("UTF-8", "utf-8"),
        ("latin-1", "iso8859-1"),
        ("shift_jis", "shift_jis"),
        ("no-such", "utf-8"),
        ("base64", "utf-8"),
        ("rot13", "utf-8"),
        ("punycode", "utf-8"),
        ("idna", "utf-8"),
        ("utf-7", "utf-8"),
        ("unicode_escape", "utf-8"),
        ("undefined", "utf-8"),
    ],
)
def test_text_charset(name: str | None, expected: str) -> None:
    assert text_charset(name) == expected
