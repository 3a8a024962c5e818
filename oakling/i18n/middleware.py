"""The URL-prefix middleware, and the helper merging ``Vary``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oakling.types import ASGIApp, Receive, Scope, Send

from . import translation

if TYPE_CHECKING:
    from .plugin import I18n

__all__ = ["LocaleMiddleware"]


class LocaleMiddleware:
    """Serve ``/de/tasks`` as ``/tasks`` in German (pure ASGI; ``url_prefix`` only).

    Django's ``i18n_patterns``: a path starting with a supported language is
    served with the prefix moved to ``root_path`` (so ``url_for`` keeps it)
    and that language active. Without ``url_prefix`` the plugin adds no
    middleware at all: the request's language is made on first use from the
    app's request context, and ``Content-Language``/``Vary`` come from a
    response start hook (:meth:`I18n.add_response_headers`).
    """

    def __init__(self, app: ASGIApp, i18n: I18n) -> None:
        self.app = app
        self.i18n = i18n
        self._prefixes: dict[str, str] = {tag.lower(): tag for tag in i18n.languages}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection, with the prefix's language active if it has one."""
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        scope, prefix = self._strip_prefix(scope)
        if prefix is None:
            await self.app(scope, receive, send)
            return
        active = translation._Active(prefix, None, self.i18n, scope, prefixed=True)
        token = translation._active.set(active)
        try:
            await self.app(scope, receive, send)
        finally:
            translation._active.reset(token)

    def _strip_prefix(self, scope: Scope) -> tuple[Scope, str | None]:
        path: str = scope["path"]
        end = path.find("/", 1)
        segment = path[1:] if end == -1 else path[1:end]
        language = self._prefixes.get(segment.lower())
        if language is None:
            return scope, None
        rest = "/" if end == -1 else path[end:]
        scope = dict(scope)
        scope["path"] = rest
        scope["root_path"] = scope.get("root_path", "") + "/" + segment
        raw = scope.get("raw_path")
        if raw:
            scope["raw_path"] = raw[len(segment) + 1 :] or b"/"
        return scope, language


def _add_vary(headers: list[tuple[bytes, bytes]], vary: bytes) -> None:
    """Merge ``vary`` into the response's ``Vary`` (RFC 9110 section 12.5.5)."""
    for index, (name, value) in enumerate(headers):
        # PERF: only a 4-byte name can be Vary; most are never lowercased.
        if len(name) == 4 and name.lower() == b"vary":
            present = {part.strip().lower() for part in value.split(b",")}
            if b"*" in present:
                return
            missing = [part for part in vary.split(b", ") if part.lower() not in present]
            if missing:
                headers[index] = (name, value + b", " + b", ".join(missing))
            return
    headers.append((b"vary", vary))
