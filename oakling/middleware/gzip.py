"""Gzip response compression (RFC 9110 sections 8.4 and 12.5.3).

SECURITY: compression leaks the length of what it compresses. A response that
holds a secret (a CSRF token, a session id) next to text an attacker chooses
(a reflected query parameter) lets them guess the secret byte by byte from
response sizes: the BREACH attack (https://breachattack.com). Django's
``GZipMiddleware`` documents the same risk. Mitigations: don't reflect input
beside secrets, mask tokens per response (the csrf battery does), or leave such
responses uncompressed (set ``Content-Encoding: identity`` on them, which this
middleware leaves alone).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable

from oakling.middleware._headers import add_vary
from oakling.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GZipMiddleware", "accepts_gzip"]

# NOTE: RFC 9110 section 6.4.1: these statuses carry no content.
_NO_BODY_STATUSES = frozenset({204, 205, 304})
_DROPPED_WHEN_COMPRESSING = frozenset({b"content-length"})


@functools.lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str) -> bool:
    """Return whether an ``Accept-Encoding`` value allows a gzip response.

    RFC 9110 section 12.5.3: ``gzip`` (or its alias ``x-gzip``) with a
    non-zero ``q``, or, when gzip is not named, ``*`` with a non-zero ``q``.
    ``gzip;q=0`` refuses gzip even if ``*`` allows everything; a malformed
    ``q`` counts as 0. Cached: browsers send a handful of distinct values.

    Args:
        accept_encoding: The header value, e.g. ``"gzip, deflate, br"``.

    Returns:
        True if a gzip-encoded response is acceptable.
    """
    gzip_q: float | None = None
    star_q: float | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
                if not 0.0 <= quality <= 1.0:  # also rejects nan
                    quality = 0.0
        if coding in ("gzip", "x-gzip"):
            gzip_q = quality if gzip_q is None else max(gzip_q, quality)
        elif coding == "*":
            star_q = quality
    if gzip_q is not None:
        return gzip_q > 0.0
    return star_q is not None and star_q > 0.0


def _media_type(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.partition(b";")[0].strip().lower()
    return b""


class GZipMiddleware:
    """Gzip response bodies for clients that accept it.

    Django's and Starlette's ``GZipMiddleware`` do the same job. A response
    is compressed when the request's ``Accept-Encoding`` allows gzip (see
    :func:`accepts_gzip`), the status has a body (not 1xx, 204, 205, 206,
    304), the response has no ``Content-Encoding`` or ``Content-Range``, its
    media type is not excluded, and its body is at least ``minimum_size``
    bytes:

    - A body sent in one message is compressed whole and gets a new
      ``Content-Length``. If gzip would not make it smaller, it is sent as is.
    - A streamed body (``more_body``) is compressed as it flows, with no
      ``Content-Length``; each chunk is flushed (``Z_SYNC_FLUSH``, ~5 bytes
      extra per chunk) so a stream of events reaches the client as it is
      produced.
    - A ``HEAD`` response gets the headers a ``GET`` would: ``Content-Encoding:
      gzip`` and no ``Content-Length`` (RFC 9110 section 9.3.2 allows leaving
      out what only generating the body would tell).

    Every response that could be compressed for some client gets ``Vary:
    Accept-Encoding`` (RFC 9110 section 12.5.5), compressed or not, so that
    caches keep the two versions apart. A strong ``ETag`` on a compressed
    response is made weak, as Django does, since the bytes differ.

    Args:
        app: The ASGI app to wrap.
        minimum_size: Bodies smaller than this many bytes are sent as is.
        compresslevel: zlib level 1-9. The default 6 is zlib's own: level 9
            costs about twice the CPU for output typically only 1-2% smaller,
            a poor trade on a request path.
        exclude_media_types: Media types never compressed; ``"image/*"``
            excludes a whole type. Server-sent events are excluded by default
            since proxies buffer compressed streams.

    Raises:
        ValueError: ``compresslevel`` is outside 1-9 or ``minimum_size`` is
            negative.
    """

    def __init__(
        self,
        app: ASGIApp,
        minimum_size: int = 500,
        compresslevel: int = 6,
        exclude_media_types: Iterable[str] = ("text/event-stream",),
    ) -> None:
        if not 1 <= compresslevel <= 9:
            raise ValueError("compresslevel must be between 1 and 9")
        if minimum_size < 0:
            raise ValueError("minimum_size must be >= 0 bytes")
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        excluded = [media.strip().lower().encode("latin-1") for media in exclude_media_types]
        self.excluded_types = frozenset(media for media in excluded if not media.endswith(b"/*"))
        self.excluded_prefixes = tuple(media[:-1] for media in excluded if media.endswith(b"/*"))

    def _compressible(self, message: Message) -> bool:
        """Return whether a response start allows compressing its body."""
        status = message["status"]
        if status < 200 or status == 206 or status in _NO_BODY_STATUSES:
            return False
        for name, _ in message.get("headers", ()):
            if name.lower() in (b"content-encoding", b"content-range"):
                return False
        media = _media_type(message.get("headers", ()))
        if media in self.excluded_types:
            return False
        return not (self.excluded_prefixes and media.startswith(self.excluded_prefixes))

    def _compressed_start(
        self, start: Message, content_length: int | None, vary_only: bool
    ) -> Message:
        """Return ``start`` with the headers of a gzip (or a could-be-gzip) body."""
        headers: list[tuple[bytes, bytes]] = []
        for name, value in start.get("headers", ()):
            lowered = name.lower()
            if vary_only:
                headers.append((name, value))
            elif lowered in _DROPPED_WHEN_COMPRESSING:
                continue
            elif lowered == b"etag" and not value.startswith(b"W/"):
                headers.append((name, b"W/" + value))
            else:
                headers.append((name, value))
        if not vary_only:
            headers.append((b"content-encoding", b"gzip"))
            if content_length is not None:
                headers.append((b"content-length", str(content_length).encode()))
        add_vary(headers, b"Accept-Encoding")
        # NOTE: a new message and list: the app's may be a shared Response's.
        return {**start, "headers": headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app for ``scope``, gzipping its response when allowed."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accept = b""
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                accept = value if not accept else accept + b"," + value
        gzip_ok = bool(accept) and accepts_gzip(accept.decode("latin-1"))
        responder = _Responder(self, send, gzip_ok, scope["method"] == "HEAD")
        await self.app(scope, receive, responder.send)


class _Responder:
    """The state of one response: held start, then plain or gzip passage."""

    __slots__ = ("compressor", "gzip_ok", "head", "middleware", "mode", "start", "upstream")

    def __init__(self, middleware: GZipMiddleware, send: Send, gzip_ok: bool, head: bool) -> None:
        self.middleware = middleware
        self.upstream = send
        self.gzip_ok = gzip_ok
        self.head = head
        self.start: Message | None = None
        # "wait": start held until the first body message; "plain"/"gzip" after.
        self.mode = "wait"
        self.compressor: zlib._Compress | None = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if not self.middleware._compressible(message):
                self.mode = "plain"
                await self.upstream(message)
            elif self.head:
                await self._head(message)
            else:
                # NOTE: the decision needs the first body message's size.
                self.start = message
            return
        if self.mode == "wait" and self.start is not None:
            start, self.start = self.start, None
            if kind != "http.response.body":
                # e.g. http.response.pathsend: nothing here to compress.
                self.mode = "plain"
                await self.upstream(start)
            else:
                await self._first_body(start, message)
                return
        if self.mode == "gzip" and kind == "http.response.body":
            await self._gzip_chunk(message)
            return
        await self.upstream(message)

    async def _head(self, start: Message) -> None:
        self.mode = "plain"
        length = self._declared_length(start)
        if length is not None and length < self.middleware.minimum_size:
            await self.upstream(start)
            return
        await self.upstream(
            self.middleware._compressed_start(start, None, vary_only=not self.gzip_ok)
        )

    @staticmethod
    def _declared_length(start: Message) -> int | None:
        for name, value in start.get("headers", ()):
            if name.lower() == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    async def _first_body(self, start: Message, message: Message) -> None:
        middleware = self.middleware
        body = bytes(message.get("body", b""))
        more_body = bool(message.get("more_body", False))
        if not more_body and len(body) < middleware.minimum_size:
            self.mode = "plain"
            await self.upstream(start)
            await self.upstream(message)
            return
        if not self.gzip_ok:
            self.mode = "plain"
            await self.upstream(middleware._compressed_start(start, None, vary_only=True))
            await self.upstream(message)
            return
        compressor = zlib.compressobj(middleware.compresslevel, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        if not more_body:
            self.mode = "plain"
            compressed = compressor.compress(body) + compressor.flush(zlib.Z_FINISH)
            if len(compressed) >= len(body):
                await self.upstream(middleware._compressed_start(start, None, vary_only=True))
                await self.upstream(message)
                return
            await self.upstream(middleware._compressed_start(start, len(compressed), False))
            await self.upstream({"type": "http.response.body", "body": compressed})
            return
        self.mode = "gzip"
        self.compressor = compressor
        await self.upstream(middleware._compressed_start(start, None, vary_only=False))
        await self._gzip_chunk(message)

    async def _gzip_chunk(self, message: Message) -> None:
        compressor = self.compressor
        assert compressor is not None
        body = bytes(message.get("body", b""))
        more_body = bool(message.get("more_body", False))
        if more_body and not body:
            # NOTE: nothing to flush; a sync flush would add 5 useless bytes.
            data = b""
        elif more_body:
            # NOTE: a sync flush ends the chunk on a byte boundary so the
            # client can decode it now; without it zlib keeps up to ~64 KiB.
            data = compressor.compress(body) + compressor.flush(zlib.Z_SYNC_FLUSH)
        else:
            data = compressor.compress(body) + compressor.flush(zlib.Z_FINISH)
            self.compressor = None
            self.mode = "plain"
        await self.upstream({"type": "http.response.body", "body": data, "more_body": more_body})
