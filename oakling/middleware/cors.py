"""Cross-Origin Resource Sharing: the Fetch standard's CORS protocol.

See https://fetch.spec.whatwg.org/#http-cors-protocol. The browser enforces
CORS; the server only says which origins may read its responses. A refused
origin therefore gets a normal response with no CORS headers (the browser then
hides it from the page), except for a preflight, which is answered with 400.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from oakling.middleware._headers import add_vary
from oakling.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CORSMiddleware"]

# NOTE: CORS-safelisted request headers (Fetch section 2.2.2) may appear in a
# preflight's Access-Control-Request-Headers when their value is not a safe
# one (``Content-Type: application/json``); they are always allowed, as by
# Starlette and django-cors-headers.
_SAFELISTED_HEADERS = ("accept", "accept-language", "content-language", "content-type")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 section 5.6.2
# SECURITY: an origin is ``scheme://host[:port]`` (RFC 6454 section 6.1), as
# browsers serialize it: lowercase, punycode. Anything else is no browser's and
# never reaches a regex (whose ``.*`` could then span a path) or the echo.
_ORIGIN_SHAPE = re.compile(
    rb"[a-z][a-z0-9+.\-]*://(?:[a-z0-9.\-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?"
)
_SET_BY_US = frozenset(
    {
        b"access-control-allow-origin",
        b"access-control-allow-credentials",
        b"access-control-expose-headers",
    }
)


def _check_origin(origin: str) -> bytes:
    """Return a configured origin as bytes, lowercased; raise ValueError if malformed."""
    if origin == "null":
        return b"null"
    parts = urlsplit(origin)
    if (
        not parts.scheme
        or not parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or origin != origin.strip()
    ):
        raise ValueError(
            f"CORS origin must be 'scheme://host[:port]' with no path or trailing slash, "
            f"as browsers send it: {origin!r}"
        )
    return origin.lower().encode("latin-1")


def _check_tokens(names: Iterable[str], what: str) -> tuple[str, ...]:
    checked = tuple(names)
    for name in checked:
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid CORS {what}: {name!r}")
    return checked


class CORSMiddleware:
    r"""Answer CORS preflights and add CORS headers to responses.

    Preflights (``OPTIONS`` with ``Origin`` and
    ``Access-Control-Request-Method``) never reach the app: they get 200 with
    ``Access-Control-Allow-Origin``, ``-Methods``, ``-Headers``, ``-Max-Age``
    (and ``-Credentials``), or 400 with a plain-text reason naming what was
    refused (origin, method, headers). Other requests go to the app; if their
    origin is allowed the response gets ``Access-Control-Allow-Origin``,
    ``-Credentials`` and ``-Expose-Headers`` (replacing any the app set).
    ``Vary: Origin`` is merged into every response whose CORS headers depend
    on the origin, including responses to requests without one, as the Fetch
    standard advises for caches (section 3.2.5). With ``allow_origins=["*"]``
    and no credentials the headers are the same for everyone, so every
    response gets ``Access-Control-Allow-Origin: *`` and no ``Vary``.

    WebSocket handshakes pass through untouched: browsers apply no CORS to
    them. SECURITY: check a WebSocket's ``Origin`` yourself (cross-site
    WebSocket hijacking) if it relies on cookies.

    Args:
        app: The ASGI app to wrap.
        allow_origins: Origins allowed to read responses, exactly as browsers
            send them (``"https://example.com:8443"``: scheme, host, port, no
            path), or ``"*"`` for any. ``"null"`` (sandboxed frames, ``file:``
            pages) is allowed only if listed.
        allow_origin_regex: A pattern the whole origin must match
            (``re.fullmatch``), e.g. ``r"https://[a-z0-9-]+\.example\.com"``.
            Only well-formed origins (``scheme://host[:port]``, lowercase)
            are tried against it or echoed for ``"*"`` with credentials.
        allow_methods: Methods a preflight may ask for, or ``"*"`` for any.
        allow_headers: Request headers a preflight may ask for, or ``"*"``;
            the CORS-safelisted ones (Accept, Accept-Language,
            Content-Language, Content-Type) are always allowed.
        allow_credentials: Let pages send cookies and read the responses.
            The origin is then always echoed, never ``*`` (Fetch section 3.2.5
            forbids ``*`` with credentials).
        expose_headers: Response headers scripts may read beyond the
            safelisted ones.
        max_age: Seconds browsers may cache a preflight answer.

    Raises:
        ValueError: An origin has a path or is not ``scheme://host[:port]``,
            a method or header name is not an HTTP token, or ``max_age`` is
            negative.
    """

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Iterable[str] = (),
        allow_origin_regex: str | re.Pattern[str] | None = None,
        allow_methods: Iterable[str] = ("GET",),
        allow_headers: Iterable[str] = (),
        allow_credentials: bool = False,
        expose_headers: Iterable[str] = (),
        max_age: int = 600,
    ) -> None:
        self.app = app
        origins = tuple(allow_origins)
        methods = tuple(allow_methods)
        headers = tuple(allow_headers)
        if max_age < 0:
            raise ValueError("max_age must be >= 0 seconds")
        self.any_origin = "*" in origins
        self.origins = frozenset(_check_origin(origin) for origin in origins if origin != "*")
        self.origin_regex = (
            re.compile(allow_origin_regex)
            if isinstance(allow_origin_regex, str)
            else allow_origin_regex
        )
        self.allow_credentials = allow_credentials
        self.any_method = "*" in methods
        self.methods = frozenset(
            method.upper() for method in _check_tokens(methods, "method") if method != "*"
        )
        self.any_header = "*" in headers
        self.headers = frozenset(
            name.lower() for name in _check_tokens(headers, "header") if name != "*"
        ) | frozenset(_SAFELISTED_HEADERS)
        # NOTE: the origin is echoed when credentials are on ("*" is refused
        # by browsers then) and whenever the answer depends on the origin.
        self.static = self.any_origin and not allow_credentials

        # PERF: every header value is prepared here, none per request.
        expose = ", ".join(_check_tokens(expose_headers, "exposed header"))
        self._actual_extra: list[tuple[bytes, bytes]] = []
        if allow_credentials:
            self._actual_extra.append((b"access-control-allow-credentials", b"true"))
        if expose:
            self._actual_extra.append((b"access-control-expose-headers", expose.encode()))
        self._static_headers = [(b"access-control-allow-origin", b"*"), *self._actual_extra]
        self._methods_value = ", ".join(dict.fromkeys(m.upper() for m in methods)).encode()
        self._headers_value = ", ".join(sorted(self.headers)).encode()
        self._preflight_extra: list[tuple[bytes, bytes]] = [
            (b"access-control-max-age", str(max_age).encode()),
            (b"vary", b"Origin"),
            (b"content-type", b"text/plain; charset=utf-8"),
        ]
        if allow_credentials:
            self._preflight_extra.append((b"access-control-allow-credentials", b"true"))

    def is_allowed_origin(self, origin: bytes) -> bool:
        """Return whether ``origin`` (the raw header value) may read responses."""
        if origin in self.origins:
            return True
        if origin == b"null":
            # SECURITY: "null" is shared by every sandboxed frame and file:
            # page; it is never allowed by "*" or a regex, only by name.
            return False
        if not _ORIGIN_SHAPE.fullmatch(origin):
            return False
        if self.any_origin:
            return True
        if self.origin_regex is not None:
            return self.origin_regex.fullmatch(origin.decode("latin-1")) is not None
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app for ``scope``, answering preflights and adding CORS headers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin: bytes | None = None
        origins_seen = 0
        request_method: bytes | None = None
        request_headers: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
                origins_seen += 1
            elif name == b"access-control-request-method":
                request_method = value
            elif name == b"access-control-request-headers":
                request_headers = (
                    value if request_headers is None else request_headers + b"," + value
                )
        # SECURITY: several Origin headers are no browser's doing: refuse them.
        allowed = origin is not None and origins_seen == 1 and self.is_allowed_origin(origin)
        if scope["method"] == "OPTIONS" and origin is not None and request_method is not None:
            await self._preflight(send, origin, allowed, request_method, request_headers)
            return

        if self.static:
            extra = self._static_headers
        elif allowed:
            assert origin is not None
            extra = [(b"access-control-allow-origin", origin), *self._actual_extra]
        else:
            extra = []
        vary = not self.static

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                # NOTE: a new list: the app's may be a shared Response's own.
                if extra:
                    names = {name for name, _ in extra}
                    headers = [
                        (name, value)
                        for name, value in message.get("headers", ())
                        if name.lower() not in names
                    ]
                    headers.extend(extra)
                else:
                    headers = list(message.get("headers", ()))
                if vary:
                    add_vary(headers, b"Origin")
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(
        self,
        send: Send,
        origin: bytes,
        allowed: bool,
        request_method: bytes,
        request_headers: bytes | None,
    ) -> None:
        refused: list[str] = []
        if not allowed:
            refused.append("origin")
        method = request_method.decode("latin-1").strip()
        if not _TOKEN.fullmatch(method) or not (self.any_method or method in self.methods):
            refused.append("method")
        requested = [
            item.strip().lower()
            for item in (request_headers or b"").decode("latin-1").split(",")
            if item.strip()
        ]
        if any(
            not _TOKEN.fullmatch(name) or not (self.any_header or name in self.headers)
            for name in requested
        ):
            refused.append("headers")

        if refused:
            body = f"Disallowed CORS {', '.join(refused)}".encode()
            status = 400
            headers = [(b"vary", b"Origin"), (b"content-type", b"text/plain; charset=utf-8")]
        else:
            body = b"OK"
            status = 200
            # NOTE: "*" as a method or header list is ignored by browsers on
            # credentialed requests, so a wildcard is answered by echoing what
            # was asked (values checked as tokens above).
            headers = [
                (
                    b"access-control-allow-origin",
                    b"*" if self.static else origin,
                ),
                (
                    b"access-control-allow-methods",
                    method.encode() if self.any_method else self._methods_value,
                ),
                *self._preflight_extra,
            ]
            if self.any_header:
                if requested:
                    headers.append((b"access-control-allow-headers", ", ".join(requested).encode()))
            else:
                headers.append((b"access-control-allow-headers", self._headers_value))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
