"""The locale middleware: activate the request's language and time zone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oakling.types import ASGIApp, Message, Receive, Scope, Send

from . import translation

if TYPE_CHECKING:
    from .plugin import I18n

__all__ = ["LocaleMiddleware"]


class LocaleMiddleware:
    """Activate the negotiated language and zone around the app (pure ASGI).

    Django's ``LocaleMiddleware``: the language comes from the plugin's chain
    (see :meth:`I18n.select_language`), resolved when first used; every HTTP
    response gets ``Content-Language`` and ``Vary`` (the request headers the
    choice depended on). With ``url_prefix`` on, a path starting with a
    supported language (``/de/tasks``) is served as ``/tasks`` with ``/de``
    added to ``root_path``, so ``url_for`` keeps the prefix.
    """

    def __init__(self, app: ASGIApp, i18n: I18n) -> None:
        self.app = app
        self.i18n = i18n
        # PERF: header bytes built once.
        self._vary = i18n.vary_header.encode("latin-1")
        self._prefixes: dict[str, str] = (
            {tag.lower(): tag for tag in i18n.languages} if i18n.url_prefix else {}
        )
        self._content_language = {
            tag: (b"content-language", tag.encode("latin-1")) for tag in i18n.languages
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection with its language and zone active."""
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        i18n = self.i18n
        prefix = None
        if self._prefixes:
            scope, prefix = self._strip_prefix(scope)
        active = translation._Active(prefix, None, i18n, scope)
        token = translation._active.set(active)
        # NOTE: the core's error pages translate through these keys (no battery import).
        scope["oakling.gettext"] = translation.gettext
        scope["oakling.get_language"] = translation.get_language
        try:
            if kind == "websocket":
                await self.app(scope, receive, send)
                return
            content_language = self._content_language
            vary = self._vary if prefix is None else b""

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    language = active._tag or active.tag
                    headers = [*message.get("headers", ()), content_language[language]]
                    if vary:
                        _add_vary(headers, vary)
                    message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_with_headers)
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
