"""Check TFB endpoints against the TechEmpower rules before any timing.

No framework is timed doing less work than the others: every endpoint of every
app is requested through the real server and its answer checked the way the
TFB toolset's verifier checks it (``toolset/test_types/*/verify``), plus a few
checks against the database itself (the rows returned are the rows stored,
updates really land). A (framework, server, test) that fails is reported with
its problems and is not timed.

Two layers:

- :func:`verify_response`: one response, no I/O (status, headers, body shape,
  clamping, escaping, sorting). ``tests/bench/test_tfb_apps.py`` reuses it for
  in-process checks of every app.
- :func:`verify_endpoint`: requests the URLs of one test from a running server
  (every ``queries`` clamping case) and compares them with the database.
"""

from __future__ import annotations

import email.utils
import http.client
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

from bench.tfb.db import ADDITIONAL_FORTUNE, FORTUNES, fetch_worlds

__all__ = [
    "CLAMP_CASES",
    "DB_TESTS",
    "TESTS",
    "Fetched",
    "check_date_changes",
    "expected_fortunes",
    "fetch",
    "path_for",
    "verify_endpoint",
    "verify_response",
]

TESTS: tuple[str, ...] = ("json", "plaintext", "db", "queries", "fortunes", "updates")
DB_TESTS = frozenset({"db", "queries", "fortunes", "updates"})

# (raw value of ?queries=, expected number of rows); None: parameter absent.
CLAMP_CASES: tuple[tuple[str | None, int], ...] = (
    ("0", 1),
    ("1", 1),
    ("20", 20),
    ("501", 500),
    ("foo", 1),
    (None, 1),
)

_DATE_SKEW_S = 10.0  # a Date further from the clock than this is frozen or wrong


def path_for(test: str, variant: str = "orm", queries: str | None = None) -> str:
    """Return the URL path (and query) of ``test`` in ``variant`` (orm or raw).

    Raises:
        ValueError: unknown test.
    """
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}")
    path = f"/{test}"
    if test in DB_TESTS and variant == "raw":
        path = f"/raw{path}"
    if test in ("queries", "updates") and queries is not None:
        path += f"?queries={queries}"
    return path


def expected_fortunes() -> list[tuple[int, str]]:
    """Return the fortunes page's rows: the table plus the added one, sorted."""
    return sorted([*FORTUNES, ADDITIONAL_FORTUNE], key=lambda row: row[1])


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    media, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for part in rest.split(";"):
        key, sep, val = part.strip().partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"').lower()
    return media.strip().lower(), params


def _check_headers(
    test: str, headers: Mapping[str, str], body: bytes, server_headers: bool
) -> list[str]:
    problems: list[str] = []
    if server_headers:
        if not headers.get("server"):
            problems.append("missing Server header")
        date = headers.get("date")
        if not date:
            problems.append("missing Date header")
        else:
            try:
                stamp = email.utils.parsedate_to_datetime(date)
            except (TypeError, ValueError):
                problems.append(f"Date header is not an HTTP-date: {date!r}")
            else:
                if stamp.tzinfo is None:
                    stamp = stamp.replace(tzinfo=UTC)
                skew = abs((datetime.now(UTC) - stamp).total_seconds())
                if skew > _DATE_SKEW_S:
                    problems.append(f"Date header {date!r} is {skew:.0f} s off the clock")
    length = headers.get("content-length")
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    if length is None and not chunked:
        problems.append("neither Content-Length nor Transfer-Encoding: chunked")
    elif length is not None:
        if not length.strip().isdigit() or int(length) != len(body):
            problems.append(f"Content-Length {length!r} but body has {len(body)} bytes")
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        problems.append(f"compressed response (Content-Encoding: {encoding})")
    content_type = headers.get("content-type")
    if not content_type:
        problems.append("missing Content-Type header")
        return problems
    media, params = _media_type(content_type)
    wanted = {
        "json": "application/json",
        "db": "application/json",
        "queries": "application/json",
        "updates": "application/json",
        "plaintext": "text/plain",
        "fortunes": "text/html",
    }[test]
    if media != wanted:
        problems.append(f"Content-Type {content_type!r}, expected {wanted}")
    elif test == "fortunes" and params.get("charset") != "utf-8":
        problems.append(f"Content-Type {content_type!r}, expected text/html; charset=utf-8")
    return problems


def _check_row(row: object, where: str) -> list[str]:
    if not isinstance(row, dict):
        return [f"{where}: expected an object, got {type(row).__name__}"]
    if set(row) != {"id", "randomNumber"}:
        return [f"{where}: keys {sorted(row)}, expected ['id', 'randomNumber']"]
    problems = []
    for key in ("id", "randomNumber"):
        value = row[key]
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{where}: {key} is {value!r}, not an integer")
        elif not 1 <= value <= 10000:
            problems.append(f"{where}: {key} {value} outside 1..10000")
    return problems


class _TableParser(HTMLParser):
    """Collect the cells of every ``<tr>`` (text unescaped), and the title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.title = ""
        self._cell: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            if self.rows:
                self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_title:
            self.title += data


def _check_fortunes(body: bytes) -> list[str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as ex:
        return [f"body is not UTF-8: {ex}"]
    problems: list[str] = []
    compact = "".join(text.split()).lower()
    if not compact.startswith("<!doctypehtml>"):
        problems.append("page does not start with <!DOCTYPE html>")
    if not compact.endswith("</html>"):
        problems.append("page does not end with </html>")
    if "<script" in text.lower():
        problems.append("a <script> tag is in the page: the message is not HTML-escaped")
    parser = _TableParser()
    parser.feed(text)
    parser.close()
    if parser.title.strip() != "Fortunes":
        problems.append(f"title {parser.title.strip()!r}, expected 'Fortunes'")
    rows = [[cell.strip() for cell in row] for row in parser.rows]
    if not rows or rows[0] != ["id", "message"]:
        problems.append(f"first table row {rows[:1]}, expected header ['id', 'message']")
        return problems
    got: list[tuple[str, str]] = []
    for row in rows[1:]:
        if len(row) != 2:
            problems.append(f"table row {row} does not have 2 cells")
            return problems
        got.append((row[0], row[1]))
    expected = [(str(ident), message) for ident, message in expected_fortunes()]
    if got == expected:
        return problems
    if len(got) != len(expected):
        problems.append(f"{len(got)} fortune rows, expected {len(expected)}")
    if (str(ADDITIONAL_FORTUNE[0]), ADDITIONAL_FORTUNE[1]) not in got:
        problems.append("the fortune added at request time is missing")
    if sorted(got, key=lambda row: row[1]) != got:
        problems.append("rows are not sorted by message")
    wanted = set(expected)
    for pair in got:
        if pair not in wanted:
            problems.append(f"unexpected row {pair!r} (wrong escaping or encoding?)")
    if not problems:
        problems.append("rows differ from the expected fortunes")
    return problems


def verify_response(
    test: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    queries: int | None = None,
    *,
    server_headers: bool = True,
) -> list[str]:
    """Check one response against the TFB rules for ``test``.

    Args:
        test: one of :data:`TESTS`.
        status: the HTTP status code.
        headers: response headers (any case; the last of duplicates).
        body: the response body, de-chunked and not decompressed.
        queries: for ``queries`` and ``updates``, the number of rows expected
            (the clamped ``N``); ignored otherwise.
        server_headers: also require ``Server`` and a current ``Date``; pass
            ``False`` for in-process checks, where no server adds them.

    Returns:
        The problems found, as sentences; empty when the response is correct.

    Raises:
        ValueError: unknown ``test``.
    """
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}")
    lowered = {key.lower(): value for key, value in headers.items()}
    problems: list[str] = []
    if status != 200:
        problems.append(f"status {status}, expected 200")
    problems += _check_headers(test, lowered, body, server_headers)
    if test == "plaintext":
        if body != b"Hello, World!":
            problems.append(f"body {body[:80]!r}, expected b'Hello, World!'")
        return problems
    if test == "fortunes":
        return problems + _check_fortunes(body)
    try:
        data = json.loads(body)
    except ValueError as ex:
        return [*problems, f"body is not JSON: {ex}: {body[:80]!r}"]
    if test == "json":
        if data != {"message": "Hello, World!"} or not isinstance(data.get("message"), str):
            problems.append(f'body {body[:80]!r}, expected {{"message":"Hello, World!"}}')
    elif test == "db":
        problems += _check_row(data, "row")
    else:
        if not isinstance(data, list):
            return [*problems, f"expected a JSON array, got {type(data).__name__}"]
        if queries is not None and len(data) != queries:
            problems.append(f"{len(data)} rows, expected {queries}")
        for index, row in enumerate(data):
            problems += _check_row(row, f"row {index}")
            if len(problems) > 5:
                break
    return problems


@dataclass
class Fetched:
    """One response read off the wire."""

    status: int
    headers: dict[str, str]  # lower-cased names; the last of duplicates
    header_list: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def duplicates(self) -> list[str]:
        """Return the names of headers sent more than once (lower-case)."""
        names = [name.lower() for name, _ in self.header_list]
        return sorted({name for name in names if names.count(name) > 1})


_ACCEPT = {
    "json": "application/json,text/html;q=0.9,application/xhtml+xml;q=0.9,"
    "application/xml;q=0.8,*/*;q=0.7",
    "plaintext": "text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,"
    "application/xml;q=0.8,*/*;q=0.7",
    "fortunes": "application/xhtml+xml,application/xml,text/html;q=0.9,text/plain;q=0.8,*/*;q=0.7",
}


def fetch(base_url: str, path: str, timeout: float = 15.0) -> Fetched:
    """GET ``base_url + path`` with TFB's request headers, asking for gzip.

    ``Accept-Encoding: gzip, deflate`` is sent on purpose: TFB forbids
    compressing, so an app that compresses when asked is caught.

    Raises:
        OSError, http.client.HTTPException: the server did not answer.
    """
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    test = path.strip("/").split("?")[0].split("/")[-1]
    try:
        conn.request(
            "GET",
            path,
            headers={
                "Accept": _ACCEPT.get(test, _ACCEPT["json"]),
                "Accept-Encoding": "gzip, deflate",
                "Connection": "keep-alive",
                "User-Agent": "oakling-tfb-verify",
            },
        )
        response = conn.getresponse()
        body = response.read()
        header_list = response.getheaders()
    finally:
        conn.close()
    headers = {name.lower(): value for name, value in header_list}
    return Fetched(response.status, headers, header_list, body)


def _check_against_db(rows: object, world: Mapping[int, int], where: str) -> list[str]:
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list):
        return []
    problems = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        ident, number = row.get("id"), row.get("randomNumber")
        if isinstance(ident, int) and world.get(ident) != number:
            problems.append(
                f"{where}: row {ident} has randomNumber {number}, the database {world.get(ident)}"
            )
            break
    return problems


def _ids_spread(rows: list[object], minimum: int) -> list[str]:
    ids = {row.get("id") for row in rows if isinstance(row, dict)}
    if len(rows) >= minimum and len(ids) < 2:
        return [f"{len(rows)} rows but all the same id: rows are not random"]
    return []


def verify_endpoint(base_url: str, test: str, variant: str, dsn: str | None = None) -> list[str]:
    """Request every URL of ``test`` from a running server and check it.

    For the database tests the answers are compared with the table itself:
    ``db`` and ``queries`` rows must be stored rows; ``updates`` must have
    written the returned numbers (read back directly after the request), and
    changed no other row. ``queries`` and ``updates`` are requested with every
    clamping case of :data:`CLAMP_CASES`.

    Returns:
        The problems found (each prefixed with the URL); empty when correct.
    """
    problems: list[str] = []
    cases: Sequence[tuple[str | None, int | None]]
    if test in ("queries", "updates"):
        cases = CLAMP_CASES
    else:
        cases = ((None, None),)
    for raw_queries, count in cases:
        path = path_for(test, variant, raw_queries)
        before = fetch_worlds(dsn) if test == "updates" else None
        try:
            response = fetch(base_url, path)
        except (OSError, http.client.HTTPException) as ex:
            problems.append(f"{path}: no answer: {ex!r}")
            continue
        found = verify_response(test, response.status, response.headers, response.body, count)
        if "content-length" in response.duplicates():
            found.append("Content-Length sent twice")
        if not found and test in DB_TESTS and test != "fortunes":
            data = json.loads(response.body)
            if test in ("db", "queries"):
                found += _check_against_db(data, fetch_worlds(dsn), "not a stored row")
                if isinstance(data, list):
                    found += _ids_spread(data, 20)
            else:
                assert before is not None
                found += _check_updates(data, before, fetch_worlds(dsn))
        problems += [f"{path}: {problem}" for problem in found]
    return problems


def _check_updates(
    data: list[dict[str, int]], before: Mapping[int, int], after: Mapping[int, int]
) -> list[str]:
    returned: dict[int, set[int]] = {}
    for row in data:
        returned.setdefault(row["id"], set()).add(row["randomNumber"])
    problems = []
    for ident, numbers in returned.items():
        if after.get(ident) not in numbers:
            problems.append(
                f"row {ident}: returned randomNumber {sorted(numbers)} but the database "
                f"holds {after.get(ident)} (the update was not written)"
            )
            break
    changed = {ident for ident in after if after[ident] != before.get(ident)}
    stray = changed - set(returned)
    if stray:
        problems.append(f"rows not in the response were changed: {sorted(stray)[:5]}")
    # Each new number equals the old one with probability 1/10000: allow a few.
    if len(returned) >= 10 and len(changed) < len(returned) // 2:
        problems.append(f"only {len(changed)} of {len(returned)} rows changed in the database")
    return problems


def check_date_changes(first: Mapping[str, str], second: Mapping[str, str]) -> list[str]:
    """Compare the ``Date`` headers of two responses taken > 1 s apart.

    Returns:
        ``["Date header did not change ..."]`` when it is frozen, else ``[]``.
    """
    one, two = first.get("date"), second.get("date")
    if one is None or two is None:
        return ["missing Date header"]
    if one == two:
        return [f"Date header did not change over more than a second: {one!r}"]
    return []
