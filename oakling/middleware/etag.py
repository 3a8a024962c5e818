"""Conditional GET for any response: ETags from the body, 304 and 412 (RFC 9110 section 13).

:class:`ETagMiddleware` is Django's ``ConditionalGetMiddleware``: app-wide,
it gives a complete (not streamed) 200 response to GET or HEAD an ``ETag``
computed from its body, then answers a matching ``If-None-Match`` or
``If-Modified-Since`` with ``304 Not Modified``. :class:`ConditionalMiddleware`
wraps one route for :func:`oakling.cachecontrol.condition`. Both use the
precondition evaluation of static files (``oakling._sansio.conditional``).
"""

from __future__ import annotations

import hashlib
import inspect
from typing import TYPE_CHECKING, Any

from oakling._sansio.conditional import evaluate_preconditions, format_http_date, parse_http_date
from oakling.requests import Request

if TYPE_CHECKING:
    from oakling.cachecontrol import Condition
    from oakling.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ConditionalMiddleware", "ETagMiddleware"]

# NOTE: RFC 9110 section 15.4.5: a 304 carries the headers a 200 would have
# needed for caching; the body's own headers go.
_DROPPED_ON_304 = frozenset(
    (b"content-length", b"content-type", b"content-encoding", b"content-range")
)


def _request_headers(scope: Scope) -> dict[str, str]:
    wanted = {b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since"}
    found: dict[str, str] = {}
    for key, value in scope["headers"]:
        if key in wanted:
            name = key.decode("latin-1").replace("-", "_")
            text = value.decode("latin-1")
            found[name] = f"{found[name]}, {text}" if name in found else text
    return found


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _no_store(headers: list[tuple[bytes, bytes]]) -> bool:
    value = _header(headers, b"cache-control")
    return value is not None and "no-store" in value.lower()


def _evaluate(
    scope: Scope, etag: str | None, last_modified: int | None, conditions: dict[str, str]
) -> int | None:
    if not conditions:
        return None
    return evaluate_preconditions(str(scope["method"]), etag, last_modified, **conditions)


async def _send_status(
    send: Send, status: int, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    kept = [(key, value) for key, value in (headers or []) if key.lower() not in _DROPPED_ON_304]
    if status == 412:
        kept = [(key, value) for key, value in kept if key.lower() != b"etag"]
        kept.append((b"content-length", b"0"))
    await send({"type": "http.response.start", "status": status, "headers": kept})
    await send({"type": "http.response.body", "body": b""})


class _Buffered:
    """Hold a response's start and body messages until they can be judged."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: Message | None = None
        self.body: list[bytes] = []
        self.passthrough = False

    async def flush(self) -> None:
        if self.start is not None:
            await self.send(self.start)
            self.start = None


class ETagMiddleware:
    """Add an ``ETag`` to complete GET/HEAD 200 responses and answer 304s.

    Django's ``ConditionalGetMiddleware``. The tag is strong, a SHA-256 of
    the body (the same bytes give the same tag in every worker). A response
    that already has an ``ETag`` keeps it; HEAD responses (no body to hash),
    a streamed response, one with
    ``Cache-Control: no-store`` or another status is sent untouched. Any
    response with an ``ETag`` or ``Last-Modified`` has its request's
    preconditions evaluated (RFC 9110 section 13.2.2): a match is a 304.
    Add it with ``App(middleware=[Middleware(ETagMiddleware)])``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        conditions = _request_headers(scope)
        held = _Buffered(send)

        async def hold(message: Message) -> None:
            if held.passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                held.start = message
                if message["status"] != 200 or _no_store(list(message.get("headers", ()))):
                    held.passthrough = True
                    await held.flush()
                return
            if message["type"] != "http.response.body" or held.start is None:
                await send(message)
                return
            if message.get("more_body", False):
                # NOTE: a streamed body is never buffered: sent as it comes.
                held.passthrough = True
                await held.flush()
                await send(message)
                return
            await self._finish(scope, held.start, message, conditions, send)
            held.start = None
            held.passthrough = True

        await self.app(scope, receive, hold)
        await held.flush()

    @staticmethod
    async def _finish(
        scope: Scope,
        start: Message,
        message: Message,
        conditions: dict[str, str],
        send: Send,
    ) -> None:
        headers = list(start.get("headers", ()))
        body: bytes = message.get("body", b"")
        etag = _header(headers, b"etag")
        # NOTE: a HEAD response has no body to hash (only its own ETag counts).
        if etag is None and scope["method"] == "GET":
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            headers.append((b"etag", etag.encode("latin-1")))
        modified = _header(headers, b"last-modified")
        last_modified = parse_http_date(modified) if modified else None
        status = _evaluate(scope, etag, last_modified, conditions)
        if status is not None:
            await _send_status(send, status, headers)
            return
        await send({**start, "headers": headers})
        await send(message)


class ConditionalMiddleware:
    """Evaluate one route's preconditions (built by :func:`~oakling.cachecontrol.condition`)."""

    def __init__(self, app: ASGIApp, policy: Condition) -> None:
        self.app = app
        self.policy = policy

    async def _call(self, func: Any, request: Request) -> Any:
        if func is None:
            return None
        value = func(request)
        if inspect.isawaitable(value):
            value = await value
        return value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request: 304/412 before the handler, or check its response."""
        from oakling.cachecontrol import _quote_etag, _timestamp

        conditions = _request_headers(scope)
        policy = self.policy
        etag: str | None = None
        last_modified: int | None = None
        if policy.etag_func is not None or policy.last_modified_func is not None:
            request = Request(scope, receive)
            raw_etag = await self._call(policy.etag_func, request)
            etag = None if raw_etag is None else _quote_etag(str(raw_etag))
            last_modified = _timestamp(await self._call(policy.last_modified_func, request))
            status = _evaluate(scope, etag, last_modified, conditions)
            if status is not None:
                headers: list[tuple[bytes, bytes]] = []
                if etag is not None:
                    headers.append((b"etag", etag.encode("latin-1")))
                if last_modified is not None:
                    headers.append(
                        (b"last-modified", format_http_date(last_modified).encode("latin-1"))
                    )
                await _send_status(send, status, headers)
                return

        async def check(message: Message) -> None:
            if message["type"] != "http.response.start":
                if not replaced:
                    await send(message)
                return
            headers = list(message.get("headers", ()))
            status_code = int(message["status"])
            # NOTE: an unsafe method's preconditions were evaluated before it
            # ran (above); after its side effects a 412 would be a lie.
            if 200 <= status_code < 300 and scope["method"] in ("GET", "HEAD"):
                if etag is not None and _header(headers, b"etag") is None:
                    headers.append((b"etag", etag.encode("latin-1")))
                if last_modified is not None and _header(headers, b"last-modified") is None:
                    headers.append(
                        (b"last-modified", format_http_date(last_modified).encode("latin-1"))
                    )
                own_etag = _header(headers, b"etag")
                own_modified = _header(headers, b"last-modified")
                status = _evaluate(
                    scope,
                    own_etag,
                    parse_http_date(own_modified) if own_modified else None,
                    conditions,
                )
                if status is not None:
                    replaced.append(status)
                    await _send_status(send, status, headers)
                    return
            await send({**message, "headers": headers})

        replaced: list[int] = []
        await self.app(scope, receive, check)
