"""The TFB verifier accepts correct answers and rejects every kind of wrong one.

This is what guarantees that no framework is timed doing less work than the
others: each test below hands the verifier an answer that cuts a corner (no
Date, wrong content type, unescaped ``<script>``, unsorted fortunes, wrong
clamping, gzip, fake rows, updates not written) and checks it is refused.
"""

from __future__ import annotations

import asyncio
import email.utils
import html
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.tfb.db import ADDITIONAL_FORTUNE, FORTUNES, fetch_worlds
from bench.tfb.verify import (
    CLAMP_CASES,
    check_date_changes,
    expected_fortunes,
    path_for,
    verify_endpoint,
    verify_response,
)
from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
# A database of its own: a benchmark run may be updating ``tfb`` meanwhile.
DSN = os.environ.get(
    "TFB_RUNNER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tfb_runner_test"
)


def headers(content_type: str, body: bytes, **extra: str) -> dict[str, str]:
    result = {
        "Server": "test",
        "Date": email.utils.formatdate(usegmt=True),
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
    }
    result.update({key.replace("_", "-"): value for key, value in extra.items()})
    return result


def fortunes_page(rows: list[tuple[int, str]], escape: bool = True) -> bytes:
    cells = "".join(
        f"<tr><td>{ident}</td><td>{html.escape(message) if escape else message}</td></tr>"
        for ident, message in rows
    )
    return (
        "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
        "<tr><th>id</th><th>message</th></tr>" + cells + "</table></body></html>"
    ).encode()


HTML = "text/html; charset=utf-8"
JSON = "application/json"


def rows(count: int) -> bytes:
    return json.dumps([{"id": i + 1, "randomNumber": 10000 - i} for i in range(count)]).encode()


# -- correct answers pass -------------------------------------------------------------------


def test_correct_answers_pass() -> None:
    body = b'{"message":"Hello, World!"}'
    assert verify_response("json", 200, headers(JSON, body), body) == []
    spaced = b'{"message": "Hello, World!"}'
    assert verify_response("json", 200, headers(JSON, spaced), spaced) == []
    text = b"Hello, World!"
    assert verify_response("plaintext", 200, headers("text/plain; charset=utf-8", text), text) == []
    row = b'{"id":42,"randomNumber":7}'
    assert verify_response("db", 200, headers(JSON, row), row) == []
    for test in ("queries", "updates"):
        assert verify_response(test, 200, headers(JSON, rows(20)), rows(20), 20) == []
    page = fortunes_page(expected_fortunes())
    assert verify_response("fortunes", 200, headers(HTML, page), page) == []


def test_fortunes_whitespace_and_named_escapes_pass() -> None:
    # Templates indent and may escape the apostrophe as &#39;: still correct.
    cells = "\n".join(
        f"  <tr>\n    <td>{ident}</td>\n    <td>{html.escape(message, quote=True)}</td>\n  </tr>"
        for ident, message in expected_fortunes()
    )
    page = (
        "<!DOCTYPE html>\n<html>\n<head><title>Fortunes</title></head>\n<body>\n<table>\n"
        f"<tr><th>id</th><th>message</th></tr>\n{cells}\n</table>\n</body>\n</html>\n"
    ).encode()
    assert verify_response("fortunes", 200, headers(HTML, page), page) == []


def test_chunked_without_length_passes() -> None:
    body = b'{"message":"Hello, World!"}'
    head = headers(JSON, body, Transfer_Encoding="chunked")
    del head["Content-Length"]
    assert verify_response("json", 200, head, body) == []


def test_in_process_mode_skips_server_headers() -> None:
    body = b"Hello, World!"
    head = {"content-type": "text/plain", "content-length": "13"}
    assert verify_response("plaintext", 200, head, body, server_headers=False) == []
    assert verify_response("plaintext", 200, head, body) != []


# -- each kind of wrong answer is refused ---------------------------------------------------


def test_missing_date_or_server_is_refused() -> None:
    body = b"Hello, World!"
    head = headers("text/plain", body)
    del head["Date"]
    assert any("Date" in p for p in verify_response("plaintext", 200, head, body))
    head = headers("text/plain", body)
    del head["Server"]
    assert any("Server" in p for p in verify_response("plaintext", 200, head, body))


def test_frozen_date_is_refused() -> None:
    body = b"Hello, World!"
    stale = email.utils.formatdate(time.time() - 3600, usegmt=True)
    problems = verify_response("plaintext", 200, headers("text/plain", body, Date=stale), body)
    assert any("off the clock" in p for p in problems)
    same = {"date": "Mon, 23 Nov 2026 10:00:00 GMT"}
    assert check_date_changes(same, dict(same)) != []
    assert check_date_changes(same, {"date": "Mon, 23 Nov 2026 10:00:01 GMT"}) == []


def test_wrong_content_type_is_refused() -> None:
    body = b'{"message":"Hello, World!"}'
    assert verify_response("json", 200, headers("text/plain", body), body)
    text = b"Hello, World!"
    assert verify_response("plaintext", 200, headers("text/html", text), text)
    page = fortunes_page(expected_fortunes())
    # text/html without the charset, and the wrong charset
    assert verify_response("fortunes", 200, headers("text/html", page), page)
    assert verify_response("fortunes", 200, headers("text/html; charset=latin-1", page), page)


def test_missing_or_wrong_length_is_refused() -> None:
    body = b'{"message":"Hello, World!"}'
    head = headers(JSON, body)
    del head["Content-Length"]
    assert verify_response("json", 200, head, body)
    assert verify_response("json", 200, headers(JSON, body, Content_Length="3"), body)


def test_gzip_is_refused() -> None:
    body = b'{"message":"Hello, World!"}'
    problems = verify_response("json", 200, headers(JSON, body, Content_Encoding="gzip"), body)
    assert any("compressed" in p for p in problems)


def test_wrong_status_and_bodies_are_refused() -> None:
    body = b'{"message":"Hello, World!"}'
    assert verify_response("json", 500, headers(JSON, body), body)
    for wrong in (b'{"message":"Hello World"}', b'{"message":"Hello, World!","x":1}', b"[]"):
        assert verify_response("json", 200, headers(JSON, wrong), wrong), wrong
    for text in (b"Hello, World", b"hello, world!", b""):
        assert verify_response("plaintext", 200, headers("text/plain", text), text), text


def test_bad_rows_are_refused() -> None:
    for wrong in (
        b'{"id":42}',
        b'{"id":42,"randomnumber":7}',
        b'{"id":"42","randomNumber":7}',
        b'{"id":42,"randomNumber":10001}',
        b'{"id":0,"randomNumber":7}',
        b'{"id":true,"randomNumber":7}',
        b'[{"id":42,"randomNumber":7}]',
    ):
        assert verify_response("db", 200, headers(JSON, wrong), wrong), wrong


@pytest.mark.parametrize("test", ["queries", "updates"])
def test_wrong_clamping_is_refused(test: str) -> None:
    for _raw, expected in CLAMP_CASES:
        for got in {0, expected - 1, expected + 1, 501} - {expected}:
            body = rows(got)
            problems = verify_response(test, 200, headers(JSON, body), body, expected)
            assert any("rows, expected" in p for p in problems), (test, expected, got)
    one = b'{"id":1,"randomNumber":1}'
    assert verify_response(test, 200, headers(JSON, one), one, 1)  # an object, not an array


def test_unescaped_script_is_refused() -> None:
    page = fortunes_page(expected_fortunes(), escape=False)
    problems = verify_response("fortunes", 200, headers(HTML, page), page)
    assert any("not HTML-escaped" in p for p in problems)


def test_double_escaped_is_refused() -> None:
    twice = [(ident, html.escape(message)) for ident, message in expected_fortunes()]
    page = fortunes_page(twice)
    assert verify_response("fortunes", 200, headers(HTML, page), page)


def test_unsorted_fortunes_are_refused() -> None:
    by_id = sorted([*FORTUNES, ADDITIONAL_FORTUNE])
    page = fortunes_page(by_id)
    problems = verify_response("fortunes", 200, headers(HTML, page), page)
    assert "rows are not sorted by message" in problems


def test_missing_added_fortune_is_refused() -> None:
    page = fortunes_page(sorted(FORTUNES, key=lambda row: row[1]))
    problems = verify_response("fortunes", 200, headers(HTML, page), page)
    assert "the fortune added at request time is missing" in problems


def test_mangled_unicode_is_refused() -> None:
    # Japanese and the em dash must survive: a latin-1 round trip mangles them.
    mangled = [
        (ident, message.encode("utf-8").decode("latin-1")) for ident, message in expected_fortunes()
    ]
    page = fortunes_page(mangled)
    assert verify_response("fortunes", 200, headers(HTML, page), page)
    ascii_page = fortunes_page(expected_fortunes()).decode().encode("ascii", "replace")
    assert verify_response("fortunes", 200, headers(HTML, ascii_page), ascii_page)


def test_paths() -> None:
    assert path_for("db", "orm") == "/db"
    assert path_for("db", "raw") == "/raw/db"
    assert path_for("queries", "raw", "20") == "/raw/queries?queries=20"
    assert path_for("updates", "orm", None) == "/updates"
    assert path_for("json", "raw") == "/json"
    with pytest.raises(ValueError):
        path_for("nope")


# -- against a real server and database: lying apps are caught ------------------------------

LYING_APP = """
import json, random

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    query = scope["query_string"].decode()
    count = 1
    if query.startswith("queries="):
        try:
            count = min(max(int(query[8:]), 1), 500)
        except ValueError:
            count = 1
    # Rows made up without the database: plausible shape, wrong content.
    rows = [{"id": random.randint(1, 10000), "randomNumber": random.randint(1, 10000)}
            for _ in range(count)]
    data = rows[0] if scope["path"].endswith("/db") else rows
    body = json.dumps(data).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def lying_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from bench.tfb.db import prepare_database

    try:
        asyncio.run(prepare_database(DSN))
    except Exception as ex:  # noqa: BLE001 - any driver error means "no database here"
        skip_or_fail(f"PostgreSQL for the TFB database is unreachable: {ex!r}")
    folder = tmp_path_factory.mktemp("lying")
    (folder / "lying.py").write_text(textwrap.dedent(LYING_APP))
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "lying:app",
            "--app-dir",
            str(folder),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_made_up_rows_are_caught(lying_server: str) -> None:
    problems = verify_endpoint(lying_server, "db", "orm", DSN)
    assert any("not a stored row" in p for p in problems)
    problems = verify_endpoint(lying_server, "queries", "orm", DSN)
    assert any("not a stored row" in p for p in problems)


def test_updates_not_written_are_caught(lying_server: str) -> None:
    before = fetch_worlds(DSN)
    problems = verify_endpoint(lying_server, "updates", "raw", DSN)
    assert any("the update was not written" in p for p in problems)
    assert fetch_worlds(DSN) == before
