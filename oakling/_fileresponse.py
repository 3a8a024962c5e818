"""``FileResponse``: a file from disk with validators, conditionals and ranges."""

from __future__ import annotations

import asyncio
import errno
import mimetypes
import os
import secrets
import stat
from collections.abc import Mapping
from typing import BinaryIO
from urllib.parse import quote

from oakling._sansio.conditional import (
    evaluate_preconditions,
    format_http_date,
    if_range_matches,
    make_etag,
    parse_http_date,
)
from oakling._sansio.ranges import content_range, multipart_byteranges, parse_range_header
from oakling.background import BackgroundTask
from oakling.concurrency import run_in_threadpool
from oakling.datastructures import Headers
from oakling.responses import Response, _wait_disconnect
from oakling.types import Receive, Scope, Send

__all__ = ["FileResponse"]


# NOTE: the types browsers insist on, fixed here because the platform's table
# varies: the Windows registry often maps ``.js`` to ``text/plain``, and a
# browser then refuses to run a module script (RFC 9239 names text/javascript).
_WEB_MEDIA_TYPES = {
    ".css": "text/css",
    ".htm": "text/html",
    ".html": "text/html",
    ".js": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".mjs": "text/javascript",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
}
# NOTE: ``app.js.gz`` is gzip data, not JavaScript: without a Content-Encoding
# header (which would change what a Range means) it must be typed as such.
_ENCODING_MEDIA_TYPES = {
    "br": "application/x-brotli",
    "bzip2": "application/x-bzip2",
    "compress": "application/x-compress",
    "gzip": "application/gzip",
    "xz": "application/x-xz",
}
# RFC 9110 section 15.4.5: a 304 carries the validators and caching fields a
# 200 would, and SHOULD NOT carry representation metadata; these go.
_NOT_MODIFIED_DROP = frozenset(
    (
        b"content-type",
        b"content-length",
        b"content-encoding",
        b"content-language",
        b"content-disposition",
        b"content-range",
        b"accept-ranges",
    )
)
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_O_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)
_O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)


def _guess_media_type(name: str) -> str:
    """Guess a file's media type from its name (``mimetypes``, then octet-stream).

    Web types (``.js``, ``.css``, ``.html``, ``.svg``, ``.wasm``...) are fixed
    whatever the platform's table says; a compressed file (``.gz``, ``.br``)
    gets its archive type, since it is sent without ``Content-Encoding``.
    Types registered with :func:`mimetypes.add_type` are honoured.

    Returns:
        A media type without parameters, ``application/octet-stream`` when unknown.
    """
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is not None:
        return _ENCODING_MEDIA_TYPES.get(encoding, "application/octet-stream")
    extension = os.path.splitext(name)[1].lower()
    return _WEB_MEDIA_TYPES.get(extension) or guessed or "application/octet-stream"


def _content_disposition(kind: str, filename: str) -> bytes:
    """Build ``Content-Disposition`` with an ASCII fallback and RFC 5987's ``filename*``."""
    # SECURITY: control characters would split the header, and a quote or a
    # backslash would end the quoted string early; all become "_".
    fallback = "".join(
        char if " " <= char <= "~" and char not in '"\\' else "_" for char in filename
    )
    value = f'{kind}; filename="{fallback}"'
    if fallback != filename:
        # NOTE: RFC 6266 section 4.3: browsers prefer filename* when they read it.
        value += f"; filename*=UTF-8''{quote(filename, safe='!#$&+^`|')}"
    return value.encode("latin-1")


def _not_regular(path: str, mode: int) -> OSError:
    if stat.S_ISDIR(mode):
        return IsADirectoryError(errno.EISDIR, "FileResponse needs a file, not a directory", path)
    return OSError(errno.EINVAL, "FileResponse needs a regular file", path)


def _stat_regular(path: str) -> os.stat_result:
    """Stat ``path``, refusing anything but a regular file (run in a thread)."""
    result = os.stat(path)
    if not stat.S_ISREG(result.st_mode):
        raise _not_regular(path, result.st_mode)
    return result


def _open_and_read(
    path: str, offset: int, amount: int, keep_open: bool
) -> tuple[BinaryIO | None, bytes]:
    """Open ``path``, read ``amount`` bytes at ``offset``; close unless ``keep_open``.

    PERF: one trip to the thread pool opens and reads, so a file smaller than
    a chunk (most CSS and JS) costs one trip, not three.
    """
    # SECURITY: O_NONBLOCK so that a FIFO swapped in for the file cannot hang
    # a pool thread in open(); it is cleared again for the regular file.
    descriptor = os.open(path, _O_OPEN_FLAGS | _O_NONBLOCK)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        if _O_NONBLOCK:
            os.set_blocking(descriptor, True)
        file = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    try:
        data = _read_at(file, offset, amount)
    except BaseException:
        file.close()
        raise
    if keep_open:
        return file, data
    file.close()
    return None, data


def _read_at(file: BinaryIO, offset: int, amount: int) -> bytes:
    # NOTE: a buffered reader holds a lock, so a close from another thread
    # waits for a read in progress instead of racing it.
    file.seek(offset)
    return file.read(amount)


def _without(raw: list[tuple[bytes, bytes]], names: frozenset[bytes]) -> list[tuple[bytes, bytes]]:
    return [pair for pair in raw if pair[0] not in names]


def _first(raw: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in raw:
        if key == name:
            return value.decode("latin-1")
    return None


def _joined(headers: Headers, name: str) -> str | None:
    # NOTE: list fields sent on several lines mean one comma-joined list
    # (RFC 9110 section 5.3).
    values = headers.getlist(name)
    if not values:
        return None
    return values[0] if len(values) == 1 else ", ".join(values)


class FileResponse(Response):
    """A file from disk, with conditional and range requests handled.

    The response answers, from the request's own headers:

    - ``If-Match``/``If-Unmodified-Since`` (412), ``If-None-Match`` and
      ``If-Modified-Since`` (304), in RFC 9110 section 13.2.2's order;
    - ``Range`` on GET (RFC 9110 section 14): 206 with ``Content-Range`` for
      one range, ``multipart/byteranges`` for several, 416 with
      ``Content-Range: bytes */size`` when none is satisfiable; a malformed
      header, or one naming more than 16 ranges after merging, is ignored
      (200, the whole file), see :mod:`oakling._sansio.ranges`;
    - ``If-Range`` (a strong entity tag or the exact ``Last-Modified`` date):
      when it no longer matches, the whole file is sent (200).

    Conditionals and ranges apply only when ``status_code`` is 200 (RFC 9110
    section 13.2.1), so a custom 404 page sent as a file is always whole.
    HEAD gets the headers of a GET and no body. The file is stat'ed, opened
    and read in the thread pool, one chunk at a time, and reading stops when
    the client disconnects. It is Starlette's and Flask's ``send_file``
    counterpart.

    Headers sent: ``Content-Type`` (guessed from the name with
    :mod:`mimetypes`, web types such as ``.js`` and ``.css`` fixed whatever
    the platform says, compressed files as their archive type; text types
    with ``; charset=utf-8``), ``Content-Length``, ``Last-Modified``
    (IMF-fixdate), a strong ``ETag`` built from the modification time in
    nanoseconds and the size (strong so that ``If-Range`` can resume
    downloads; see :func:`~oakling._sansio.conditional.make_etag`),
    ``Accept-Ranges: bytes``, and ``Content-Disposition`` when ``filename``
    is given. An ``ETag`` or ``Last-Modified`` passed in ``headers`` replaces
    the computed one and is what conditionals compare against.

    Args:
        path: The file to send.
        status_code: The status of a full response.
        headers: Extra headers.
        media_type: The ``Content-Type``; guessed from ``filename`` or
            ``path`` when None.
        filename: Offer the file under this name (``Content-Disposition``,
            with RFC 5987's ``filename*=UTF-8''...`` for non-ASCII names).
        content_disposition_type: ``attachment`` (download) or ``inline``.
        stat_result: ``os.stat(path)`` when the caller has it already; saves
            a trip to the thread pool.
        chunk_size: Bytes read and sent at a time.
        background: Awaited after the whole body is sent.

    Raises:
        ValueError: At construction, for a ``content_disposition_type`` that
            is not a token or a ``chunk_size`` below 1.
        FileNotFoundError: When sent, if the file does not exist (an
            ``OSError`` for other failures, ``IsADirectoryError`` for a
            directory); raised before any byte is sent, so the app answers
            500. Check user-chosen paths first, or use
            :class:`~oakling.staticfiles.StaticFiles`,
            which answers 404.
    """

    chunk_size = 64 * 1024

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        filename: str | None = None,
        content_disposition_type: str = "attachment",
        stat_result: os.stat_result | None = None,
        chunk_size: int = 64 * 1024,
        background: BackgroundTask | None = None,
    ) -> None:
        if not content_disposition_type or not set(content_disposition_type) <= _TOKEN_CHARS:
            raise ValueError(
                f"content_disposition_type must be a token such as 'attachment' or 'inline', "
                f"not {content_disposition_type!r}"
            )
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1 byte")
        self.path = os.fspath(path)
        self.status_code = status_code
        self.filename = filename
        self.chunk_size = chunk_size
        self.background = background
        self.stat_result = stat_result
        self.media_type = media_type or _guess_media_type(filename or self.path)
        raw = self._init_headers(headers)
        names = {name for name, _ in raw}
        if filename is not None and b"content-disposition" not in names:
            raw.append(
                (b"content-disposition", _content_disposition(content_disposition_type, filename))
            )
        if b"accept-ranges" not in names:
            raw.append((b"accept-ranges", b"bytes"))
        if stat_result is not None:
            raw = self._with_stat(raw, stat_result)
        self.raw_headers = raw

    @staticmethod
    def _with_stat(
        raw: list[tuple[bytes, bytes]], result: os.stat_result
    ) -> list[tuple[bytes, bytes]]:
        """Return ``raw`` with the length and validators of ``result`` filled in."""
        headers = [pair for pair in raw if pair[0] != b"content-length"]
        headers.append((b"content-length", str(result.st_size).encode()))
        names = {name for name, _ in headers}
        if b"last-modified" not in names:
            headers.append((b"last-modified", format_http_date(result.st_mtime).encode()))
        if b"etag" not in names:
            headers.append((b"etag", make_etag(result.st_mtime_ns, result.st_size).encode()))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        result = self.stat_result
        if result is None:
            result = await run_in_threadpool(_stat_regular, self.path)
            raw = self._with_stat(self.raw_headers, result)
        else:
            raw = self.raw_headers
        size = result.st_size
        method = scope.get("method", "GET")
        ranges: list[tuple[int, int]] | None = None
        if self.status_code == 200:
            request_headers = Headers(raw=scope.get("headers") or [])
            etag = _first(raw, b"etag")
            modified = _first(raw, b"last-modified")
            last_modified = parse_http_date(modified) if modified is not None else None
            answer = evaluate_preconditions(
                method,
                etag,
                last_modified,
                if_match=_joined(request_headers, "if-match"),
                if_none_match=_joined(request_headers, "if-none-match"),
                if_modified_since=request_headers.get("if-modified-since"),
                if_unmodified_since=request_headers.get("if-unmodified-since"),
            )
            if answer == 304:
                dropped = _NOT_MODIFIED_DROP
                if etag is not None:
                    # NOTE: RFC 9110 section 15.4.5 keeps Last-Modified only
                    # when there is no ETag to revalidate with.
                    dropped = dropped | {b"last-modified"}
                await self._send_empty(send, 304, _without(raw, dropped))
                return
            if answer is not None:
                await self._send_empty(send, answer, _without(raw, _NOT_MODIFIED_DROP))
                return
            # NOTE: RFC 9110 section 14.2: GET is the only method with ranges.
            range_values = request_headers.getlist("range") if method == "GET" else []
            if len(range_values) == 1:
                if_range = request_headers.get("if-range")
                if if_range is None or if_range_matches(if_range, etag, last_modified):
                    ranges = parse_range_header(range_values[0], size)
                    if ranges == []:
                        headers = _without(raw, _NOT_MODIFIED_DROP)
                        headers.append((b"content-range", f"bytes */{size}".encode()))
                        await self._send_empty(send, 416, headers)
                        return
        if ranges is None:
            await self._send_file(scope, receive, send, self.status_code, raw, [(b"", 0, size - 1)])
        elif len(ranges) == 1:
            first, last = ranges[0]
            headers = [pair for pair in raw if pair[0] != b"content-length"]
            headers.append((b"content-length", str(last - first + 1).encode()))
            headers.append((b"content-range", content_range(first, last, size).encode()))
            await self._send_file(scope, receive, send, 206, headers, [(b"", first, last)])
        else:
            boundary = secrets.token_hex(16)
            heads, tail, length = multipart_byteranges(
                ranges, size, _first(raw, b"content-type"), boundary
            )
            headers = _without(raw, frozenset((b"content-length", b"content-type")))
            headers.append((b"content-type", f"multipart/byteranges; boundary={boundary}".encode()))
            headers.append((b"content-length", str(length).encode()))
            pieces = [
                (head, first, last) for head, (first, last) in zip(heads, ranges, strict=True)
            ]
            await self._send_file(scope, receive, send, 206, headers, pieces, tail)

    @staticmethod
    async def _send_empty(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        if status != 304:
            headers.append((b"content-length", b"0"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _send_file(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        headers: list[tuple[bytes, bytes]],
        pieces: list[tuple[bytes, int, int]],
        tail: bytes = b"",
    ) -> None:
        """Send the head, then each piece: a prefix and the bytes first..last."""
        total = sum(last - first + 1 for _, first, last in pieces)
        if scope.get("method") == "HEAD" or total == 0:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            if self.background is not None:
                await self.background()
            return
        path = self.path
        chunk_size = self.chunk_size
        file: BinaryIO | None = None
        # NOTE: the first read happens before the head is sent, so a file that
        # vanished fails before any byte goes out and can still get a 404.
        first_piece = pieces[0]
        amount = min(chunk_size, first_piece[2] - first_piece[1] + 1)
        data: bytes | None
        file, data = await run_in_threadpool(
            _open_and_read, path, first_piece[1], amount, amount < total
        )
        watcher: asyncio.Task[None] | None = None
        gone = False
        try:
            try:
                await send({"type": "http.response.start", "status": status, "headers": headers})
            except OSError:
                return  # NOTE: ASGI 2.4: send raises OSError once the client is gone.
            left = total
            if amount < total:
                # PERF: only a body of several chunks pays for a disconnect watch.
                watcher = asyncio.ensure_future(_wait_disconnect(receive))
            for head, first, last in pieces:
                offset = first
                remaining = last - first + 1
                prefix = head
                while remaining:
                    if watcher is not None and watcher.done():
                        gone = True
                        return
                    amount = min(chunk_size, remaining)
                    if data is None:
                        if file is None:
                            raise RuntimeError("FileResponse: file closed early")
                        data = await run_in_threadpool(_read_at, file, offset, amount)
                    if len(data) != amount:
                        raise RuntimeError(f"{path} shrank while being sent")
                    offset += amount
                    remaining -= amount
                    left -= amount
                    more = left > 0 or bool(tail)
                    try:
                        await send(
                            {"type": "http.response.body", "body": prefix + data, "more_body": more}
                        )
                    except OSError:
                        gone = True
                        return
                    data = None
                    prefix = b""
            if tail:
                try:
                    await send({"type": "http.response.body", "body": tail, "more_body": False})
                except OSError:
                    gone = True
                    return
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            if file is not None:
                await run_in_threadpool(file.close)
        if not gone and self.background is not None:
            await self.background()
