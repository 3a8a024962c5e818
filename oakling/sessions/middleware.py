"""The ASGI middleware putting a :class:`Session` in every request's scope."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oakling.cachecontrol import mark_private, patch_vary_headers
from oakling.requests import parse_cookie_header
from oakling.responses import format_set_cookie

from .session import Session, SessionTooLarge

if TYPE_CHECKING:
    from oakling.types import ASGIApp, Message, Receive, Scope, Send

    from .plugin import Sessions

__all__ = ["MAX_COOKIE_SIZE", "SessionMiddleware"]

#: Bytes of a ``Set-Cookie`` value browsers are sure to keep (RFC 6265
#: section 6.1 asks for at least 4096 per cookie; Werkzeug's limit too).
MAX_COOKIE_SIZE = 4093

_SECURE_SCHEMES = frozenset({"https", "wss"})


def _request_cookie(scope: Scope, name: str) -> str | None:
    """Return the value of cookie ``name`` in the request, or None."""
    # NOTE: HTTP/2 may split Cookie into several fields (RFC 9113 section 8.2.3).
    chunks = [value for key, value in scope["headers"] if key == b"cookie"]
    if not chunks:
        return None
    header = b"; ".join(chunks).decode("latin-1")
    if name not in header:
        return None
    return parse_cookie_header(header).get(name) or None


class SessionMiddleware:
    """Give each HTTP and WebSocket request a session; save it with the response.

    Added by :class:`~oakling.sessions.Sessions`. A request that never
    touches the session costs nothing but a small object: no cookie check,
    no backend round trip (with a server-side backend, one load when the
    request carries a session cookie), no ``Set-Cookie``. A response whose
    request read or wrote the session gets ``Vary: Cookie`` and, unless the
    view set its own, ``Cache-Control: private``; a modified
    session is saved and its cookie set before the response starts, except
    on a 5xx response (Django's rule: a failed request changes nothing).
    Sessions are read-only in WebSocket handlers: their changes are not
    saved (the handshake's response carries no cookie). With
    ``SESSION_EXPIRE_AT_BROWSER_CLOSE`` the cookie has no ``Max-Age``.

    Raises:
        SessionTooLarge: While sending a response whose cookie session
            exceeds :data:`MAX_COOKIE_SIZE`: the app answers 500 and logs it.
    """

    def __init__(self, app: ASGIApp, sessions: Sessions) -> None:
        """Wrap ``app``, using the settings of the ``sessions`` plugin."""
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        config = self.sessions
        cookie = _request_cookie(scope, config.cookie_name)
        session = Session(config.backend, cookie, config.max_age)
        scope["session"] = session
        if cookie is not None and not config.lazy:
            # PERF: a server-side load needs I/O, which a dict access cannot
            # await; it happens only when a session cookie came.
            try:
                await session.load()
            except Exception as ex:  # noqa: BLE001 - raised again when the session is read
                # NOTE: the store is down (a 503 for whoever reads the
                # session); a request that never reads it is still served.
                session.load_error = ex
        if kind == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start" and (session.accessed or session.modified):
                message = await self._finish(scope, session, message)
            await send(message)

        await self.app(scope, receive, send_with_session)

    async def _finish(self, scope: Scope, session: Session, message: Message) -> Message:
        headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
        # SECURITY: a page that read the session depends on who asked: shared
        # caches must neither store it nor serve it to another cookie.
        patch_vary_headers(headers, b"Cookie")
        mark_private(headers)
        if session.modified and message["status"] < 500:
            value = await session.commit()
            if value is not None:
                headers.append((b"set-cookie", self._cookie_header(scope, value)))
        return {**message, "headers": headers}

    def _cookie_header(self, scope: Scope, value: str) -> bytes:
        """Return the ``Set-Cookie`` value setting (or, for ``""``, deleting) the cookie.

        Raises:
            SessionTooLarge: If it is longer than :data:`MAX_COOKIE_SIZE`.
        """
        config = self.sessions
        secure = config.secure or scope.get("scheme") in _SECURE_SCHEMES
        samesite: Any = config.samesite
        # NOTE: deleting is setting an empty value that expires now (Response.delete_cookie).
        max_age: int | None = 0
        if value:
            # NOTE: with neither Max-Age nor Expires the browser drops the
            # cookie when it closes; the backend still enforces the age.
            # Expires is there for clients that ignore Max-Age (Django sends both).
            max_age = None if config.expire_at_browser_close else config.max_age
        header = format_set_cookie(
            config.cookie_name,
            value,
            max_age=max_age,
            expires=max_age,
            path=config.path,
            domain=config.domain,
            secure=secure,
            httponly=config.httponly,
            samesite=samesite,
        )
        if len(header) > MAX_COOKIE_SIZE:
            raise SessionTooLarge(
                f"the session cookie is {len(header)} bytes, over the {MAX_COOKIE_SIZE}-byte "
                "limit browsers keep (they would drop it silently); store less in the "
                "session (ids, not objects) or use the Redis or database backend: "
                "Sessions(backend=RedisBackend()) or Sessions(backend=DatabaseBackend())"
            )
        return header
