"""Form bodies: ``application/x-www-form-urlencoded`` and ``multipart/form-data``.

``Request.form()`` calls :func:`parse_form`. Every limit comes from the
request's :class:`~oakling.requests.Limits`, and every malformed or oversized
body is answered with a 4xx, never a 500:

- 413: a urlencoded body over ``max_body_size``, a multipart body over
  ``max_multipart_size`` (told by ``Content-Length`` or as it streams), a
  text field over ``max_part_size``;
- 400: over ``max_fields`` fields or ``max_files`` files, a part's headers
  over ``max_part_header_size`` bytes or :data:`MAX_PART_HEADERS` lines, a
  missing or invalid boundary, junk, a truncated body;
- 415: a content type that is not a form.

Multipart bodies are streamed through python-multipart's ``MultipartParser``,
framed by checks of our own where that parser is lenient:

- RFC 2046 section 5.1.1 allows a preamble before the first boundary and an
  epilogue after the last; oakling accepts up to :data:`MAX_PREAMBLE_SIZE`
  bytes of each (1 KiB, far more than any client sends) and answers 400 above,
  so junk around the body costs no CPU and no log lines (CVE-2024-53981).
- A body that ends before the closing boundary is refused with 400, as is a
  part without a ``Content-Disposition: form-data; name=...`` header
  (RFC 7578 section 4.2).
- Parts, headers per part and bytes of headers per part are counted, so a
  "multipart bomb" of tiny parts (Werkzeug CVE-2023-25577, Starlette
  GHSA-74m5-2c7w-9w3x) stops at ``max_fields``/``max_files``.
- Parsing is linear in the body's size, CR/LF runs included (Werkzeug
  CVE-2023-46136): python-multipart finds boundaries with ``bytes.find``, and
  the closing delimiter is found here the same way.

``Content-Transfer-Encoding`` is ignored (RFC 7578 section 4.7 deprecates it
and no browser sends it): part data is taken as sent.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from oakling._sansio.options import decode_ext_value, parse_options_header, text_charset
from oakling.datastructures import FormData, Headers, UploadFile
from oakling.exceptions import HTTPException

try:
    from python_multipart.multipart import MultipartParser
except ImportError:  # pragma: no cover - python-multipart < 0.0.13 is named "multipart"
    from multipart.multipart import MultipartParser  # type: ignore[no-redef]

if TYPE_CHECKING:
    from oakling.requests import Limits, Request

__all__ = ["MAX_PART_HEADERS", "MAX_PREAMBLE_SIZE", "parse_form"]

_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"

MAX_PREAMBLE_SIZE = 1024
"""Bytes allowed before the first boundary and after the closing one."""

MAX_PART_HEADERS = 32
"""Header lines allowed in one multipart part (browsers send two or three)."""

# PERF: parse a large chunk in slices of this many bytes, yielding to the event
# loop between them, so a client that sends 100 MiB in one message (the test
# client does) cannot hold the loop for the whole parse.
_FEED_SIZE = 65_536

# RFC 2046 section 5.1.1: bchars, 1 to 70 of them, not ending in a space.
_BOUNDARY_CHARS = frozenset(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'()+_,-./:=? "
)
_MAX_BOUNDARY_LENGTH = 70

# NOTE: recent python-multipart releases cap header counts and line sizes
# themselves (with defaults below ours: 8 headers, 4 KiB lines); older ones lack
# the keywords. Our callbacks enforce the limits either way, with clearer
# messages; the parser gets a little slack so that ours speak first and its own
# stay as a backstop.
_PARSER_HAS_HEADER_LIMITS = "max_header_count" in inspect.signature(MultipartParser).parameters


async def parse_form(request: Request) -> FormData:
    """Parse the request body as an HTML form.

    Picks the parser from ``Content-Type``: urlencoded bodies are read whole
    (up to ``limits.max_body_size``), multipart bodies are streamed (up to
    ``limits.max_multipart_size``) with file parts written to
    :class:`~oakling.datastructures.UploadFile` as they arrive. A request
    with neither a content type nor a body gives an empty form.

    Args:
        request: The request whose body is read; its ``limits`` apply.

    Returns:
        The fields in arrival order: ``str`` for text fields,
        ``UploadFile`` (rewound to the start) for parts with a filename.

    Raises:
        HTTPException: 400 on a malformed body, a missing or invalid boundary,
            or more fields/files/part headers than the limits allow; 413 on a
            body or a text field larger than its limit; 415 on a content type
            that is not a form.
        ClientDisconnect: If the client leaves before the body ends.
    """
    header = request.headers.get("content-type")
    content_type, params = parse_options_header(header) if header else ("", {})
    if content_type == _URLENCODED:
        return _parse_urlencoded(await request.body(), request.limits)
    if content_type == _MULTIPART:
        return await _parse_multipart(request, params.get("boundary"))
    if not content_type and not await request.body():
        return FormData()
    shown = repr(header[:100]) if header else "(none given)"
    raise HTTPException(
        415, f"Unsupported form content type {shown}; expected {_URLENCODED} or {_MULTIPART}"
    )


def _parse_urlencoded(body: bytes, limits: Limits) -> FormData:
    """Parse a urlencoded body (the WHATWG URL standard's form parser).

    ``parse_qsl`` is the standard library's, kept by CPython, and the body is
    read whole anyway, so a streaming parser buys nothing here. Blank values
    are kept (``a=&b`` has two fields), ``+`` is a space, invalid
    percent-escapes stay as typed and invalid UTF-8 becomes U+FFFD, as
    browsers do. The charset is always UTF-8, which HTML forms send.

    Raises:
        HTTPException: 400 when more than ``limits.max_fields`` fields arrive.
    """
    if not body:
        return FormData()
    text = body.decode("utf-8", "replace")
    try:
        # NOTE: parse_qsl counts separators, not fields ("a&&b" is three);
        # that errs on the safe side and costs one str.count.
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="replace",
            max_num_fields=limits.max_fields,
        )
    except ValueError:
        raise HTTPException(
            400, f"Too many form fields: the limit is {limits.max_fields}"
        ) from None
    return FormData(pairs)


def _check_boundary(boundary: str | None) -> bytes:
    """Return the boundary as bytes once it is valid (RFC 2046 section 5.1.1).

    Raises:
        HTTPException: 400 when it is missing, empty, too long, or holds a
            character outside RFC 2046's ``bchars``.
    """
    if not boundary:
        raise HTTPException(400, "Missing boundary in multipart/form-data content type")
    try:
        raw = boundary.encode("ascii")
    except UnicodeEncodeError:
        raw = b"\x00"
    if len(raw) > _MAX_BOUNDARY_LENGTH or raw.endswith(b" ") or not _BOUNDARY_CHARS.issuperset(raw):
        raise HTTPException(
            400, "Invalid multipart boundary: use 1 to 70 letters, digits or '()+_,-./:=? "
        )
    return raw


async def _parse_multipart(request: Request, boundary: str | None) -> FormData:
    """Stream a multipart body through :class:`_MultipartReader`.

    Raises:
        HTTPException: As :func:`parse_form` says.
    """
    reader = _MultipartReader(_check_boundary(boundary), request.limits)
    try:
        async for chunk in request.stream(limit=request.limits.max_multipart_size):
            if len(chunk) <= _FEED_SIZE:
                reader.feed(chunk)
                continue
            for offset in range(0, len(chunk), _FEED_SIZE):
                reader.feed(chunk[offset : offset + _FEED_SIZE])
                await asyncio.sleep(0)
        return reader.finish()
    except BaseException:
        # NOTE: any error, a 4xx, a disconnect or a cancellation, leaves no
        # temporary file behind.
        reader.close_files()
        raise


class _MultipartReader:
    """Turn multipart chunks into form items, enforcing every limit.

    Feed it the body in chunks with :meth:`feed`, then call :meth:`finish`.
    Before the parser sees a byte, the preamble is cut off here; the closing
    delimiter is found here too, so the epilogue never reaches the parser and
    a body that stops early is told apart from a complete one.

    Args:
        boundary: The validated boundary, without its leading dashes.
        limits: The request's limits.
    """

    def __init__(self, boundary: bytes, limits: Limits) -> None:
        self.limits = limits
        self.items: list[tuple[str, str | UploadFile]] = []
        self.uploads: list[UploadFile] = []
        self.fields = 0
        self.ended = False
        self._dash_boundary = b"--" + boundary
        self._close_delimiter = b"\r\n--" + boundary + b"--"
        # None once the first boundary was found; until then, the bytes so far.
        self._preamble: bytearray | None = bytearray()
        # The tail of the data written so far, to find a delimiter split
        # across chunks; a virtual CRLF lets "--boundary--" open the body.
        self._carry = b"\r\n"
        self._closed = False
        self._epilogue = 0
        self._seen_data = False
        # The part being read.
        self._header_bytes = 0
        self._header_count = 0
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._name = ""
        self._charset = "utf-8"
        self._field: bytearray | None = None
        self._upload: UploadFile | None = None
        options: dict[str, Any] = {}
        if _PARSER_HAS_HEADER_LIMITS:
            options = {
                "max_header_count": MAX_PART_HEADERS + 1,
                "max_header_size": limits.max_part_header_size + 64,
            }
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
            **options,
        )

    # -- framing ---------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        """Parse the next chunk of the body.

        Raises:
            HTTPException: 400 or 413 as soon as the body breaks a rule.
        """
        if not chunk:
            return
        self._seen_data = True
        if self._closed:
            self._count_epilogue(len(chunk))
            return
        if self._preamble is not None:
            chunk = self._skip_preamble(chunk)
            if not chunk:
                return
        close = self._close_delimiter
        carry = self._carry
        # The close delimiter may straddle the previous chunk and this one.
        seam = carry + chunk[: len(close) - 1]
        found = seam.find(close)
        if found >= 0:
            end = found + len(close) - len(carry)
        else:
            found = chunk.find(close)
            end = found + len(close) if found >= 0 else -1
        if end < 0:
            self._write(chunk)
            tail = len(close) - 1
            self._carry = chunk[-tail:] if len(chunk) >= tail else (carry + chunk)[-tail:]
            return
        self._write(chunk[:end])
        self._closed = True
        if not self.ended:
            # SECURITY: the parser read the delimiter as something else (say,
            # inside a part's headers); the body is not what it looks like.
            raise HTTPException(400, "Malformed multipart body: misplaced closing boundary")
        self._count_epilogue(len(chunk) - end)

    def _skip_preamble(self, chunk: bytes) -> bytes:
        """Buffer the body until the first boundary; return what follows it.

        Raises:
            HTTPException: 400 when more than ``MAX_PREAMBLE_SIZE`` bytes
                come before the first boundary.
        """
        assert self._preamble is not None
        self._preamble += chunk
        buffered = self._preamble
        dash = self._dash_boundary
        if buffered.startswith(dash):
            start = 0
        else:
            # RFC 2046: a preamble is followed by CRLF, then the dash-boundary.
            found = buffered.find(b"\r\n" + dash)
            start = found + 2 if found >= 0 else -1
        if start < 0:
            if len(buffered) > MAX_PREAMBLE_SIZE + len(dash) + 2:
                raise self._preamble_error()
            return b""
        if start > MAX_PREAMBLE_SIZE + 2:
            raise self._preamble_error()
        self._preamble = None
        return bytes(buffered[start:])

    @staticmethod
    def _preamble_error() -> HTTPException:
        return HTTPException(
            400,
            "Malformed multipart body: it must start with the boundary "
            f"(at most {MAX_PREAMBLE_SIZE} bytes of preamble are allowed)",
        )

    def _count_epilogue(self, size: int) -> None:
        self._epilogue += size
        if self._epilogue > MAX_PREAMBLE_SIZE:
            raise HTTPException(
                400,
                "Malformed multipart body: data after the closing boundary "
                f"(at most {MAX_PREAMBLE_SIZE} bytes of epilogue are allowed)",
            )

    def _write(self, data: bytes) -> None:
        try:
            self._parser.write(data)
        except ValueError as ex:
            # NOTE: python-multipart's errors (FormParserError) are ValueErrors.
            raise HTTPException(400, f"Malformed multipart body: {ex}") from None

    def finish(self) -> FormData:
        """Check that the body ended properly and return the form.

        An empty body is an empty form: a client that declared multipart and
        sent nothing has lost nothing.

        Raises:
            HTTPException: 400 when the body ended before the closing boundary.
        """
        if not self._seen_data:
            return FormData()
        if self._preamble is not None:
            raise self._preamble_error()
        if not self._closed:
            raise HTTPException(
                400, "Malformed multipart body: it ended before the closing boundary"
            )
        return FormData(self.items)

    def close_files(self) -> None:
        """Close every upload created so far (after an error)."""
        for upload in self.uploads:
            upload.file.close()

    # -- parser callbacks --------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._header_bytes = 0
        self._header_count = 0
        self._header_name.clear()
        self._header_value.clear()
        self._raw_headers = []
        self._field = None
        self._upload = None

    def _add_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_part_header_size:
            raise HTTPException(
                400,
                f"Multipart part headers are larger than {self.limits.max_part_header_size} bytes",
            )

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._add_header_bytes(end - start)
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._add_header_bytes(end - start)
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        # ": " and CRLF around the name and value.
        self._add_header_bytes(4)
        self._header_count += 1
        if self._header_count > MAX_PART_HEADERS:
            raise HTTPException(
                400, f"Too many headers in a multipart part: the limit is {MAX_PART_HEADERS}"
            )
        self._raw_headers.append((bytes(self._header_name).lower(), bytes(self._header_value)))
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        dispositions = [
            value for name, value in self._raw_headers if name == b"content-disposition"
        ]
        if len(dispositions) != 1:
            problem = "no" if not dispositions else "more than one"
            raise HTTPException(
                400, f"Malformed multipart body: a part has {problem} Content-Disposition header"
            )
        # NOTE: browsers send non-ASCII names and filenames as raw UTF-8
        # (HTML's multipart/form-data encoding algorithm), not latin-1.
        kind, params = parse_options_header(dispositions[0].decode("utf-8", "replace"))
        name = params.get("name")
        if kind != "form-data" or name is None:
            raise HTTPException(
                400,
                "Malformed multipart body: a part's Content-Disposition must be "
                "'form-data' with a name (RFC 7578 section 4.2)",
            )
        self._name = name
        headers = Headers(raw=self._raw_headers)
        content_type_header = headers.get("content-type")
        content_type, type_params = (
            parse_options_header(content_type_header) if content_type_header else ("", {})
        )
        filename = params.get("filename")
        if filename is None and "filename*" in params:
            filename = decode_ext_value(params["filename*"])
        if filename is None:
            self.fields += 1
            if self.fields > self.limits.max_fields:
                raise HTTPException(
                    400, f"Too many form fields: the limit is {self.limits.max_fields}"
                )
            self._charset = text_charset(type_params.get("charset"))
            self._field = bytearray()
            return
        if len(self.uploads) >= self.limits.max_files:
            raise HTTPException(400, f"Too many files: the limit is {self.limits.max_files}")
        upload = UploadFile(
            _basename(filename),
            content_type or "application/octet-stream",
            headers,
            max_memory=self.limits.file_memory_size,
        )
        self.uploads.append(upload)
        self._upload = upload

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._upload is not None:
            # NOTE: a SpooledTemporaryFile write is a memory copy until the
            # file rolls over, then a buffered write to a local temporary file;
            # both are done inline, in slices of at most _FEED_SIZE bytes.
            self._upload.write_sync(data[start:end])
            return
        field = self._field
        if field is None:  # pragma: no cover - the parser sends headers first
            raise HTTPException(400, "Malformed multipart body: data before headers")
        field += data[start:end]
        if len(field) > self.limits.max_part_size:
            raise HTTPException(
                413,
                f"Form field {self._name[:100]!r} is larger than {self.limits.max_part_size} bytes",
            )

    def _on_part_end(self) -> None:
        if self._upload is not None:
            self._upload.file.seek(0)
            self.items.append((self._name, self._upload))
        elif self._field is not None:
            self.items.append((self._name, self._field.decode(self._charset, "replace")))
        self._field = None
        self._upload = None

    def _on_end(self) -> None:
        self.ended = True


def _basename(filename: str) -> str:
    r"""Drop any directory a client put in a filename (RFC 7578 section 4.2).

    Old Internet Explorer sent ``C:\Users\me\cv.pdf``; ``cv.pdf`` is meant.
    """
    return filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
