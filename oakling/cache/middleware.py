"""The page cache's outer middleware: it shows ``cache_page`` the final headers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .page import FINAL_HEADERS

if TYPE_CHECKING:
    from oakling.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CacheMiddleware", "record_final_headers"]


def record_final_headers(scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
    """Hand ``cache_page`` the headers the client gets (an app response start hook).

    The ``Cache`` plugin adds it with ``last=True``: it runs outside every
    middleware and after the other hooks (the i18n battery's
    ``Content-Language`` and ``Vary``), so a page that set a cookie, read
    the session or varies on the language is judged by what leaves the app.
    """
    slot = scope.get(FINAL_HEADERS)
    if slot is not None:
        slot["headers"] = list(headers)


class CacheMiddleware:
    """Record the response headers as they leave the app, for ``cache_page``.

    ``cache_page`` runs around the handler, inside the sessions, CSRF and
    auth middleware, which add ``Set-Cookie``, ``Vary: Cookie`` and
    ``Cache-Control: private`` on the way out. This middleware sits
    outside them (``outermost``) and, for a request the page cache is
    computing, hands it the headers the client gets, so a page that set a
    cookie or read the session is never stored. The ``Cache`` plugin uses
    :func:`record_final_headers` as a response start hook instead, which
    also sees the hooks' headers; this class is for ASGI stacks built by
    hand around an app without the plugin.
    """

    #: Stays outside the middleware added after it (see ``App.add_middleware``).
    outermost = True

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_final(message: Message) -> None:
            if message["type"] == "http.response.start":
                slot = scope.get(FINAL_HEADERS)
                if slot is not None:
                    slot["headers"] = list(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_final)
