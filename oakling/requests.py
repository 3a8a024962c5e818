"""The incoming request: lazy headers, cookies, query, body, form and JSON."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec

from oakling._sansio.accept import best_match
from oakling._sansio.cookies import parse_cookie_header
from oakling.datastructures import URL, Address, FormData, Headers, QueryParams, State
from oakling.exceptions import ClientDisconnect, HTTPException
from oakling.types import Message, Receive, Scope

if TYPE_CHECKING:
    from oakling.applications import App
    from oakling.responses import Response

# NOTE: parse_cookie_header is public here for batteries (sessions).
__all__ = ["HTTPConnection", "Limits", "Request", "parse_cookie_header"]

# SECURITY: a Host header is a name or IP literal with an optional port. Anything
# else ("evil.example/x", "a@b", spaces) could rewrite absolute URLs built from it.
_HOST_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-._]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class Limits(msgspec.Struct, frozen=True):
    """Caps on what a request may send; defaults follow Django's settings.

    Attributes:
        max_body_size: Bytes of a body read whole (``body()``, ``json()``,
            urlencoded forms); more is answered 413. Django's
            ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MiB).
        max_multipart_size: Bytes of a whole multipart body, files included;
            more is answered 413. 100 MiB.
        max_fields: Form fields per request; more is answered 400. Django's
            ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` (1000).
        max_files: File parts per request; more is answered 400. Django's
            ``DATA_UPLOAD_MAX_NUMBER_FILES`` (100).
        max_part_size: Bytes of one non-file multipart field; more is 413.
        max_part_header_size: Bytes of one part's headers; more is 400.
        file_memory_size: Bytes of an upload kept in memory before it is
            spooled to disk. Django's ``FILE_UPLOAD_MAX_MEMORY_SIZE``.
    """

    max_body_size: int = 2_621_440
    max_multipart_size: int = 104_857_600
    max_fields: int = 1000
    max_files: int = 100
    max_part_size: int = 1_048_576
    max_part_header_size: int = 8192
    file_memory_size: int = 2_621_440


DEFAULT_LIMITS = Limits()


class HTTPConnection:
    """What HTTP requests and WebSocket connections share: URL, headers, cookies.

    Args:
        scope: The ASGI connection scope.
    """

    __slots__ = ("_cookies", "_headers", "_query_params", "_url", "scope")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._headers: Headers | None = None
        self._query_params: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._url: URL | None = None

    @property
    def app(self) -> App:
        """The application serving this connection."""
        return self.scope["app"]  # type: ignore[no-any-return]

    @property
    def path(self) -> str:
        """The percent-decoded path, without the mount's root path."""
        return self.scope["path"]  # type: ignore[no-any-return]

    @property
    def endpoint(self) -> Any:
        """The handler function serving this request, once routed (else None).

        Set before dependencies run, so a dependency can read marks a
        decorator put on the handler (``oakling.db``'s ``no_transaction``).
        """
        return self.scope.get("endpoint")

    @property
    def path_params(self) -> dict[str, Any]:
        """The converted path parameters of the matched route."""
        return self.scope.get("path_params", {})  # type: ignore[no-any-return]

    @property
    def headers(self) -> Headers:
        """The request headers: case-insensitive, multi-valued."""
        if self._headers is None:
            self._headers = Headers(raw=self.scope["headers"])
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        """The query string's parameters (``getlist`` for repeated keys)."""
        if self._query_params is None:
            self._query_params = QueryParams.from_bytes(self.scope.get("query_string", b""))
        return self._query_params

    @property
    def cookies(self) -> dict[str, str]:
        """The request cookies, ``{name: value}``; empty when none were sent."""
        if self._cookies is None:
            cookies: dict[str, str] = {}
            for value in self.headers.getlist("cookie"):
                for name, item in parse_cookie_header(value).items():
                    cookies.setdefault(name, item)
            self._cookies = cookies
        return self._cookies

    @property
    def client(self) -> Address | None:
        """The peer's address, or None when the server does not say."""
        client = self.scope.get("client")
        return Address(*client) if client else None

    @property
    def state(self) -> State:
        """Per-request values (``request.state.user = ...``), over the lifespan state.

        As in Starlette, it starts with what the ``lifespan`` yielded
        (``yield {"pool": pool}`` -> ``request.state.pool``): the ASGI
        server gives each request a shallow copy of that state in
        ``scope["state"]``, so values set here stay with this request.
        """
        values = self.scope.get("oakling.state")
        if values is None:
            lifespan_state = self.scope.get("state")
            values = self.scope["oakling.state"] = State(
                lifespan_state if isinstance(lifespan_state, dict) else None
            )
        return values

    @property
    def session(self) -> Any:
        """The session (a dict-like ``oakling.sessions.Session``), Flask's ``session``.

        Raises:
            RuntimeError: If the sessions battery is not installed
                (``App(plugins=[Sessions()])``).
        """
        try:
            return self.scope["session"]
        except KeyError:
            raise RuntimeError(
                "request.session needs the sessions battery: "
                "App(plugins=[Sessions()]) with `from oakling.sessions import Sessions`"
            ) from None

    @property
    def user(self) -> Any:
        """The user making the request (Django's ``request.user``).

        An anonymous user (``is_authenticated`` false) when nobody is logged in.

        Raises:
            RuntimeError: If the auth battery is not installed
                (``App(plugins=[..., Auth()])``).
        """
        try:
            return self.scope["user"]
        except KeyError:
            raise RuntimeError(
                "request.user needs the auth battery: "
                "App(plugins=[Database(), Sessions(), Auth()]) with `from oakling.auth import Auth`"
            ) from None

    @property
    def auth(self) -> Any:
        """How the request was authenticated (``.method``, ``.scopes``), or None."""
        return self.scope.get("auth")

    @property
    def host(self) -> str:
        """The ``Host`` the client asked for (``example.com:8000``).

        Raises:
            HTTPException: 400 when the header is not a host name or address
                with an optional port 0..65535 (it could otherwise rewrite
                absolute URLs), or is sent twice (RFC 9112 section 3.2).
        """
        hosts = self.headers.getlist("host")
        if len(hosts) > 1:
            raise HTTPException(400, "Invalid Host header: sent more than once")
        host = hosts[0] if hosts else None
        if host is None:
            server = self.scope.get("server")
            if not server:
                return "localhost"
            name, port = server
            scheme = self.scope.get("scheme", "http")
            return name if _DEFAULT_PORTS.get(scheme) == port else f"{name}:{port}"
        if _HOST_RE.fullmatch(host) is None:
            raise HTTPException(400, "Invalid Host header")
        port = host.rpartition(":")[2] if not host.endswith("]") else ""
        if port.isdigit() and int(port) > 65535:
            raise HTTPException(400, "Invalid Host header: port out of range")
        return str(host)

    @property
    def url(self) -> URL:
        """The full URL the client asked for.

        Raises:
            HTTPException: 400 on an invalid ``Host`` header.
        """
        if self._url is None:
            scope = self.scope
            path = scope.get("root_path", "") + scope["path"]
            raw_path = scope.get("raw_path")
            if raw_path is not None:
                path = raw_path.decode("latin-1")
            url = f"{scope.get('scheme', 'http')}://{self.host}{path}"
            query = scope.get("query_string", b"")
            if query:
                url += "?" + query.decode("latin-1")
            self._url = URL(url)
        return self._url

    @property
    def base_url(self) -> URL:
        """The app's root URL (scheme, host and root path), ending in ``/``."""
        root = self.scope.get("root_path", "")
        return URL(f"{self.scope.get('scheme', 'http')}://{self.host}{root}/")

    def url_for(
        self,
        name: str,
        /,
        *,
        _external: bool = True,
        _anchor: str | None = None,
        _scheme: str | None = None,
        **params: Any,
    ) -> str:
        """Return the absolute URL of the route ``name`` (Starlette's ``url_for``).

        Absolute, as Starlette users expect: scheme, ``Host`` and
        ``root_path`` of this request, then the route's path (Flask's
        ``url_for(..., _external=True)``). ``_external=False`` gives the
        path with the ``root_path``, as Flask's default; ``_anchor`` adds a
        ``#fragment``; ``_scheme`` replaces the request's scheme.

        Raises:
            NoMatchFound: If no route has that name or the params don't fit.
            HTTPException: 400 on an invalid ``Host`` header.
        """
        path = self.app.url_for(name, _anchor=_anchor, **params)
        root = self.scope.get("root_path", "")
        if not _external:
            return str(root + path)
        scheme = _scheme or self.scope.get("scheme", "http")
        return f"{scheme}://{self.host}{root}{path}"

    def accepts(self, *media_types: str) -> str | None:
        """Return the media type the client prefers among ``media_types``.

        Follows RFC 9110's ``Accept`` rules (q-values, wildcards); None when
        the client accepts none of them. No ``Accept`` means the first one.
        """
        return best_match(self.headers.get("accept"), media_types)


class Request(HTTPConnection):
    """An HTTP request, passed to handlers that ask for it by annotation.

    Reading the body is lazy and limited (see :class:`Limits`): ``body()``
    caches the bytes; ``stream()`` yields chunks without keeping them.

    Attributes:
        response: The handler's response once it returned, so the cleanup
            of a ``yield`` dependency can see its status (None before).
    """

    __slots__ = ("_body", "_form", "_json", "_receive", "_stream_consumed", "limits", "response")

    def __init__(self, scope: Scope, receive: Receive = None, limits: Limits | None = None) -> None:  # type: ignore[assignment]
        # PERF: plain attribute setup, no parsing; everything else is lazy.
        self.scope = scope
        self._headers = None
        self._query_params = None
        self._cookies = None
        self._url = None
        self._receive = receive
        self._body: bytes | None = None
        self._json: Any = _MISSING
        self._form: FormData | None = None
        self._stream_consumed = False
        self.limits = limits if limits is not None else DEFAULT_LIMITS
        # The handler's response, set before ``yield`` dependencies clean up.
        self.response: Response | None = None

    @property
    def method(self) -> str:
        """The HTTP method, upper case (``GET``)."""
        return self.scope["method"]  # type: ignore[no-any-return]

    @property
    def receive(self) -> Receive:
        """The ASGI receive callable."""
        return self._receive

    def _check_declared_length(self, limit: int) -> None:
        length = self.headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise HTTPException(400, "Invalid Content-Length header") from None
            if declared > limit:
                raise HTTPException(413, f"Request body is larger than {limit} bytes")

    async def stream(self, limit: int | None = None) -> AsyncIterator[bytes]:
        """Yield the body's chunks as they arrive, keeping none of them.

        Args:
            limit: Bytes allowed in all; None for no cap.

        Raises:
            HTTPException: 413 once more than ``limit`` bytes arrived.
            ClientDisconnect: If the client leaves before the body ends.
            RuntimeError: If the body was already consumed by another reader.
        """
        if self._body is not None:
            yield self._body
            return
        if self._stream_consumed:
            raise RuntimeError("The request body was already consumed")
        self._stream_consumed = True
        if limit is not None:
            self._check_declared_length(limit)
        received = 0
        while True:
            message: Message = await self._receive()
            kind = message["type"]
            if kind == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    received += len(chunk)
                    if limit is not None and received > limit:
                        raise HTTPException(413, f"Request body is larger than {limit} bytes")
                    yield chunk
                if not message.get("more_body", False):
                    return
            elif kind == "http.disconnect":
                raise ClientDisconnect()

    async def body(self) -> bytes:
        """Return the whole body (cached), at most ``limits.max_body_size`` bytes.

        Raises:
            HTTPException: 413 when the body is larger than the limit.
            ClientDisconnect: If the client leaves before the body ends.
        """
        if self._body is None:
            self._body = await self._read_whole(self.limits.max_body_size)
        return self._body

    async def _read_whole(self, limit: int) -> bytes:
        # PERF: stream()'s rules without an async generator (which asyncio
        # registers and finalises per request): most bodies are one message.
        if self._stream_consumed:
            raise RuntimeError("The request body was already consumed")
        self._stream_consumed = True
        self._check_declared_length(limit)
        chunks: list[bytes] = []
        received = 0
        while True:
            message: Message = await self._receive()
            kind = message["type"]
            if kind == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    received += len(chunk)
                    if received > limit:
                        raise HTTPException(413, f"Request body is larger than {limit} bytes")
                    if not message.get("more_body", False) and not chunks:
                        return chunk  # type: ignore[no-any-return]
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
            elif kind == "http.disconnect":
                raise ClientDisconnect()

    async def json(self) -> Any:
        """Return the body decoded as JSON.

        Raises:
            HTTPException: 400 on malformed JSON, 413 on an oversized body.
        """
        if self._json is _MISSING:
            body = await self.body()
            try:
                self._json = msgspec.json.decode(body)
            except JSON_ERRORS as ex:
                raise HTTPException(
                    400, f"Malformed JSON body: {json_error_message(ex, body)}"
                ) from None
        return self._json

    async def form(self) -> FormData:
        """Return the parsed form (urlencoded or multipart), cached.

        Uploads are :class:`~oakling.datastructures.UploadFile` values, kept in
        memory up to ``limits.file_memory_size`` and spooled to disk above.

        Raises:
            HTTPException: 400 on a malformed body or too many fields/files,
                413 on oversized bodies or parts, 415 on another content type.
        """
        if self._form is None:
            from oakling.formparsers import parse_form

            self._form = await parse_form(self)
        return self._form

    async def close(self) -> None:
        """Release uploaded files' storage (called by the app after the response)."""
        if self._form is not None:
            await self._form.close()

    async def is_disconnected(self) -> bool:
        """Return whether the client has gone (only checks without waiting)."""
        import asyncio

        try:
            message = await asyncio.wait_for(self._receive(), timeout=0.0001)
        except TimeoutError:
            return False
        return bool(message.get("type") == "http.disconnect")


_MISSING: Any = object()

# NOTE: msgspec raises DecodeError on bad syntax, but UnicodeDecodeError on
# invalid UTF-8 inside strings and RecursionError on deep nesting it skips.
JSON_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


# NOTE: a high surrogate escape (\ud800-\udbff) not followed by a low one
# (\udc00-\udfff), and not itself escaped (an even run of backslashes before it).
_LONE_SURROGATE = re.compile(
    rb"(?<!\\)(?:\\\\)*(\\u[dD][89abAB][0-9a-fA-F]{2})(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
)


def json_error_message(ex: BaseException, body: bytes | str | None = None) -> str:
    """Describe why a body is not valid JSON, for a 4xx answer.

    Args:
        ex: What the decoder raised.
        body: The text decoded, if at hand: msgspec reports a lone UTF-16
            surrogate escape (``"\ud800"``, invalid per RFC 8259 section 8.2)
            as "Input data was truncated"; with the body the message names
            the escape and its byte offset instead.
    """
    if isinstance(ex, UnicodeDecodeError):
        return "invalid UTF-8 in a string"
    if isinstance(ex, RecursionError):
        return "nested too deeply"
    message = str(ex)
    if body is not None and message == "Input data was truncated":
        data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        found = _LONE_SURROGATE.search(data)
        # NOTE: an escape at the very end is a truncated body, not a lone surrogate.
        if found is not None and found.end(1) < len(data.rstrip()):
            escape = found.group(1).decode("ascii")
            return (
                f"lone surrogate {escape} at byte {found.start(1)} (a \\uD800-\\uDBFF "
                "escape must be followed by a \\uDC00-\\uDFFF one)"
            )
    return message
