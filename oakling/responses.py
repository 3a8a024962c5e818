"""Responses: the objects a handler returns, each an ASGI app of its own."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import msgspec

from oakling._sansio.cookies import format_set_cookie
from oakling.background import BackgroundTask
from oakling.concurrency import iterate_in_threadpool
from oakling.datastructures import MutableHeaders
from oakling.types import Receive, Scope, Send

__all__ = [
    "EventSourceResponse",
    "FileResponse",
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "ServerSentEvent",
    "StreamingResponse",
    "format_set_cookie",
    "json_dumps",
    "to_response",
]


def _enc_hook(obj: Any) -> Any:
    # NOTE: msgspec encodes Structs, dataclasses, TypedDicts, datetimes, UUIDs
    # and Decimals itself; this only catches what it cannot.
    dump = getattr(obj, "model_dump", None)
    if dump is not None:  # a pydantic v2 model
        return dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
json_dumps = _encoder.encode
"""Encode a value to JSON bytes (msgspec, with pydantic models supported)."""


class Response:
    """A complete response with its body in memory.

    Args:
        content: ``bytes``, or ``str`` encoded with :attr:`charset`, or None
            for an empty body. Subclasses accept more (see :meth:`render`).
        status_code: The HTTP status.
        headers: Extra headers; ``Content-Type`` and ``Content-Length`` are
            filled in unless given.
        media_type: Overrides the class's media type (``text/plain`` ...).
        background: Awaited after the body is sent.
    """

    media_type: str | None = None
    charset = "utf-8"
    # PERF: the class's Content-Type pair, built once per class.
    _type_header: tuple[bytes, bytes] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._type_header = (
            _content_type(cls.media_type, cls.charset) if cls.media_type is not None else None
        )

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.status_code = status_code
        self.background = background
        if media_type is not None:
            self.media_type = media_type
        self.body = body = self.render(content)
        if headers is None and media_type is None and 200 <= status_code not in (204, 304):
            # PERF: the common case, the class's media type and no header
            # given: two prepared pairs, no loop.
            type_header = self._type_header
            length = (b"content-length", b"%d" % len(body))
            self.raw_headers = [length, type_header] if type_header is not None else [length]
            return
        self.raw_headers = self._init_headers(headers)

    def render(self, content: Any) -> bytes:
        """Turn ``content`` into body bytes."""
        if type(content) is str:
            return content.encode(self.charset)
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        if isinstance(content, (bytearray, memoryview)):
            return bytes(content)
        return str(content).encode(self.charset)

    def _init_headers(self, headers: Mapping[str, str] | None) -> list[tuple[bytes, bytes]]:
        body = getattr(self, "body", None)
        status = self.status_code
        if not headers:
            # PERF: the common case, no header given: two prepared pairs.
            raw: list[tuple[bytes, bytes]] = []
            if body is not None and status >= 200 and status != 204 and status != 304:
                raw.append((b"content-length", b"%d" % len(body)))
            if self.media_type is not None:
                raw.append(_content_type(self.media_type, self.charset))
            return raw
        raw = []
        has_length = has_type = False
        for key, value in headers.items():
            name = key.lower().encode("latin-1")
            if name == b"content-length":
                has_length = True
            elif name == b"content-type":
                has_type = True
            raw.append((name, value.encode("latin-1")))
        if body is not None and not has_length and status >= 200 and status not in (204, 304):
            raw.append((b"content-length", str(len(body)).encode()))
        if self.media_type is not None and not has_type:
            raw.append(_content_type(self.media_type, self.charset))
        return raw

    @property
    def headers(self) -> MutableHeaders:
        """The headers, editable in place (``response.headers["x-a"] = "b"``)."""
        return MutableHeaders(self.raw_headers)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime | int | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` header (RFC 6265).

        Defaults are the safe ones: ``HttpOnly`` and ``SameSite=Lax``, unlike
        Flask's and Django's ``set_cookie``, which leave both off.

        Args:
            key: Cookie name.
            value: Cookie value; quoted when it holds characters RFC 6265 forbids.
            max_age: Lifetime in seconds; 0 deletes the cookie.
            expires: Absolute expiry as an aware datetime, or seconds from now.
            path: Path scope.
            domain: Domain scope; None keeps it host-only.
            secure: Send only over HTTPS.
            httponly: Hide from JavaScript.
            samesite: ``lax``, ``strict``, ``none`` (requires ``secure``) or None.
            partitioned: Add ``Partitioned`` (CHIPS).

        Raises:
            ValueError: For an unknown ``samesite`` value, or ``none`` without ``secure``.
        """
        header = format_set_cookie(
            key,
            value,
            max_age=max_age,
            expires=expires,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
            partitioned=partitioned,
        )
        self.raw_headers.append((b"set-cookie", header))

    def delete_cookie(
        self,
        key: str,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        """Expire cookie ``key`` in the browser (same path and domain as it was set)."""
        self.set_cookie(
            key,
            max_age=0,
            expires=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        # NOTE: RFC 9110 section 9.3.2: HEAD gets the GET headers and no body.
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else self.body}
        )
        if self.background is not None:
            await self.background()


@functools.lru_cache(maxsize=64)
def _content_type(media_type: str, charset: str) -> tuple[bytes, bytes]:
    if media_type.startswith("text/") and "charset=" not in media_type:
        media_type = f"{media_type}; charset={charset}"
    return (b"content-type", media_type.encode("latin-1"))


class HTMLResponse(Response):
    """An HTML page, ``text/html; charset=utf-8``."""

    media_type = "text/html"


class PlainTextResponse(Response):
    """Plain text, ``text/plain; charset=utf-8``."""

    media_type = "text/plain"


class JSONResponse(Response):
    """A JSON body encoded by msgspec.

    ``content`` may be any value msgspec encodes: dict, list, str, numbers,
    None, msgspec Structs, dataclasses, TypedDicts, datetimes, UUIDs, and
    pydantic models.
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as JSON bytes."""
        return _encoder.encode(content)


class RedirectResponse(Response):
    """Redirect to ``url`` (302 by default, like Flask's and Django's redirect).

    Use 303 after a form POST when the next request must be a GET, 307/308 to
    keep the method.
    """

    def __init__(
        self,
        url: str,
        status_code: int = 302,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(b"", status_code=status_code, headers=headers, background=background)
        # SECURITY: percent-encode anything that could split the header.
        self.raw_headers.append(
            (b"location", quote(str(url), safe=":/%#?=@[]!$&'()*+,;~").encode("latin-1"))
        )


class StreamingResponse(Response):
    """A body produced piece by piece from an iterator.

    Args:
        content: An async iterable, or a sync iterable (iterated in the
            thread pool), yielding ``bytes`` or ``str``.

    The stream stops when the client disconnects, so endless streams (SSE)
    end with their connection.
    """

    body_iterator: AsyncIterable[bytes | str]

    def __init__(
        self,
        content: AsyncIterable[bytes | str] | Iterable[bytes | str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.background = background
        if isinstance(content, AsyncIterable):
            self.body_iterator = content
        else:
            self.body_iterator = iterate_in_threadpool(content)
        self.raw_headers = self._init_headers(headers)

    async def _stream(self, send: Send) -> None:
        charset = self.charset
        async for chunk in self.body_iterator:
            if isinstance(chunk, str):
                chunk = chunk.encode(charset)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        import asyncio

        from oakling._shutdown import shutdown_future

        stream = asyncio.ensure_future(self._stream(send))
        watch = asyncio.ensure_future(_wait_disconnect(receive))
        # NOTE: the shared shutdown future ends the stream when the server
        # stops (SIGTERM), so it does not hold the graceful shutdown.
        stopping = shutdown_future()
        try:
            done, _ = await asyncio.wait(
                (stream, watch, stopping), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (stream, watch):
                if not task.done():
                    task.cancel()
            await asyncio.gather(stream, watch, return_exceptions=True)
        if stopping in done and stream not in done:
            # End the body cleanly: the client sees a complete response.
            with contextlib.suppress(OSError, RuntimeError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        if stream in done:
            stream.result()  # re-raise an error from the iterator
            if self.background is not None:
                await self.background()


@dataclasses.dataclass
class ServerSentEvent:
    """One event of an ``text/event-stream`` (WHATWG HTML, server-sent events).

    Attributes:
        data: The payload; a non-str value is sent as JSON.
        event: The event type (``addEventListener(event, ...)``); None for ``message``.
        id: The event id the browser sends back as ``Last-Event-ID``.
        retry: Reconnection delay in milliseconds.
    """

    data: Any = ""
    event: str | None = None
    id: str | None = None
    retry: int | None = None

    def encode(self) -> bytes:
        """Return the event in wire format, ending with a blank line."""
        data = self.data if isinstance(self.data, str) else _encoder.encode(self.data).decode()
        lines = []
        if self.event is not None:
            lines.append(f"event: {_one_line(self.event)}")
        if self.id is not None:
            lines.append(f"id: {_one_line(self.id)}")
        if self.retry is not None:
            lines.append(f"retry: {int(self.retry)}")
        lines.extend(f"data: {line}" for line in data.splitlines() or [""])
        return ("\n".join(lines) + "\n\n").encode()


async def _wait_disconnect(receive: Receive) -> None:
    """Return once the client has disconnected (an ``http.disconnect`` message)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _one_line(value: str) -> str:
    # SECURITY: a newline in a field would let a value inject its own events.
    return value.replace("\r", " ").replace("\n", " ")


class EventSourceResponse(StreamingResponse):
    """Server-sent events: iterate :class:`ServerSentEvent` s, dicts or strings.

    Args:
        content: Yields ``ServerSentEvent``, or ``str`` (sent as ``data``),
            or a value sent as JSON ``data``.
        ping: Seconds between keep-alive comments; None sends none.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        ping: float | None = 15.0,
        background: BackgroundTask | None = None,
    ) -> None:
        base_headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
        base_headers.update(headers or {})
        source = content if isinstance(content, AsyncIterable) else iterate_in_threadpool(content)
        super().__init__(
            self._events(source, ping), status_code, base_headers, background=background
        )

    @staticmethod
    async def _events(source: AsyncIterable[Any], ping: float | None) -> AsyncIterable[bytes]:
        import asyncio

        iterator = source.__aiter__()
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(iterator.__anext__())
                done, _ = await asyncio.wait((pending,), timeout=ping)
                if not done:
                    yield b": ping\n\n"
                    continue
                try:
                    item = pending.result()
                except StopAsyncIteration:
                    return
                finally:
                    pending = None
                if not isinstance(item, ServerSentEvent):
                    item = ServerSentEvent(data=item)
                yield item.encode()
        finally:
            if pending is not None:
                pending.cancel()


def to_response(
    value: Any, status_code: int | None = None, response_class: type[Response] | None = None
) -> Response:
    """Coerce a handler's return value into a Response (done for every handler).

    - a :class:`Response`: as is;
    - ``dict``, ``list``, msgspec Struct, dataclass, pydantic model: JSON;
    - ``str``: HTML when it starts with ``<`` (after whitespace), else plain text;
    - ``bytes``: ``application/octet-stream``;
    - ``None``: an empty body, 204 unless the route sets ``status_code``;
    - a tuple ``(body, status)``, ``(body, headers)`` or
      ``(body, status, headers)``, as Flask accepts.

    Args:
        value: What the handler returned.
        status_code: The route's default status for non-Response values.
        response_class: The route's class for non-Response values; it gets
            ``(value, status_code=...)``.

    Raises:
        TypeError: For a value none of the rules cover.
    """
    if isinstance(value, Response):
        return value
    headers: Mapping[str, str] | None = None
    if type(value) is tuple:
        if len(value) == 3:
            value, status_code, headers = value
        elif len(value) == 2:
            if isinstance(value[1], int):
                value, status_code = value
            else:
                value, headers = value
        else:
            raise TypeError(
                "a tuple returned by a handler must be (body, status), (body, headers) "
                "or (body, status, headers)"
            )
        if isinstance(value, Response):
            if status_code is not None:
                value.status_code = status_code
            if headers:
                for key, item in dict(headers).items():
                    value.headers[key] = item
            return value
    status = 200 if status_code is None else status_code
    if response_class is not None:
        return response_class(value, status_code=status, headers=headers)
    kind = type(value)
    if kind is dict or kind is list:
        return JSONResponse(value, status, headers)
    if kind is str:
        if value.lstrip()[:1] == "<":
            return HTMLResponse(value, status, headers)
        return PlainTextResponse(value, status, headers)
    if value is None:
        return Response(None, 204 if status_code is None else status_code, headers)
    if kind is bytes:
        return Response(value, status, headers, media_type="application/octet-stream")
    if (
        isinstance(value, (msgspec.Struct, dict, list, tuple))
        or dataclasses.is_dataclass(value)
        or hasattr(value, "model_dump")
    ):
        return JSONResponse(value, status, headers)
    raise TypeError(
        f"a handler returned {kind.__name__}, which oakling cannot turn into a response; "
        "return a Response, str, bytes, dict, list, a Struct/dataclass/pydantic model, or None"
    )


if TYPE_CHECKING:
    from oakling._fileresponse import FileResponse


def __getattr__(name: str) -> object:
    # PERF: the file machinery (email, secrets, asyncio) loads on first use.
    if name == "FileResponse":
        from oakling._fileresponse import FileResponse

        return FileResponse
    raise AttributeError(f"module 'oakling.responses' has no attribute {name!r}")
