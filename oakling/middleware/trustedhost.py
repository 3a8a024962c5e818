"""Host header validation: Django's ``ALLOWED_HOSTS`` as ASGI middleware.

SECURITY: an app that builds absolute URLs (password reset links, redirects,
``url_for(..., _external=True)``) from the ``Host`` header lets anyone who
controls that header poison them, and caches keyed on it. Refusing unknown
hosts closes that door, as Django's ``ALLOWED_HOSTS`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from oakling._sansio.hosts import AllowedHosts, split_host_port, validate_host
from oakling.types import ASGIApp, Receive, Scope, Send

# NOTE: the host matching rules are public here for batteries (security, auth).
__all__ = ["AllowedHosts", "TrustedHostMiddleware", "split_host_port", "validate_host"]

_BODY = b"Invalid host header"
_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_BODY)).encode()),
]
# NOTE: RFC 3986 section 3.3 path characters plus "%", so a raw path keeps
# its escapes and anything else (non-ASCII, spaces) gets percent-encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
# PERF: verdicts per raw Host value; bounded, since clients choose the keys.
_CACHE_SIZE = 512
_ALLOWED = True
_REFUSED = False


class TrustedHostMiddleware:
    """Refuse requests whose ``Host`` header is not an allowed host.

    Django's ``ALLOWED_HOSTS`` rules (see :mod:`oakling._sansio.hosts`):
    ``"example.com"`` exact, ``".example.com"`` the domain and its
    subdomains, ``"*.example.com"`` subdomains only, ``"*"`` any, matched
    case-insensitively with the port stripped (``[::1]:8000`` is ``[::1]``).

    Refused with ``400 Invalid host header`` (plain text): a request with no
    ``Host``, several ``Host`` headers, a malformed one (userinfo ``a@b``, a
    path ``evil.com/x``, spaces, a bad port) even when ``"*"`` is allowed,
    or one that matches no pattern. A refused WebSocket handshake gets the
    same 400 when the server supports the ``websocket.http.response``
    extension, else it is closed with code 1008 (policy violation), which
    servers turn into a 403.

    With ``www_redirect``, a request for ``example.com`` when only
    ``www.example.com`` is allowed is redirected there instead (Starlette's
    behaviour): 301 for GET and HEAD, 308 for other methods so that the
    method and body survive (RFC 9110 section 15.4.9).

    Args:
        app: The ASGI app to wrap.
        allowed_hosts: The patterns; the default ``("*",)`` only checks that
            a single, well-formed ``Host`` is present.
        www_redirect: Redirect a bare domain to its allowed ``www.`` form.

    Raises:
        ValueError: A pattern is not a host name, ``.name``, ``*.name``, a
            bracketed IPv6 address or ``*``.
        TypeError: ``allowed_hosts`` is a single string.
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Iterable[str] = ("*",),
        www_redirect: bool = True,
    ) -> None:
        self.app = app
        self.allowed_hosts = AllowedHosts(allowed_hosts)
        self.www_redirect = www_redirect
        self._www_domains = frozenset(
            name[4:] for name in self.allowed_hosts.exact if name.startswith("www.")
        )
        # Raw Host -> True (allowed), False (refused), or the www authority.
        self._verdicts: dict[bytes, bool | bytes] = {}

    def _verdict(self, host: bytes) -> bool | bytes:
        """Return True, False, or the ``www.`` authority to redirect to."""
        verdict = self._verdicts.get(host)
        if verdict is not None:
            return verdict
        try:
            name, port = split_host_port(host.decode("latin-1"))
        except ValueError:
            verdict = _REFUSED
        else:
            if self.allowed_hosts.match(name):
                verdict = _ALLOWED
            elif self.www_redirect and name in self._www_domains:
                authority = f"www.{name}" if port is None else f"www.{name}:{port}"
                verdict = authority.encode("ascii")
            else:
                verdict = _REFUSED
        if len(self._verdicts) >= _CACHE_SIZE:
            self._verdicts.clear()
        self._verdicts[host] = verdict
        return verdict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app for ``scope`` if its Host is allowed; else refuse or redirect."""
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        host: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"host":
                if host is not None:
                    # SECURITY: which of two Host headers a proxy or cache
                    # used is anyone's guess (RFC 9112 section 3.2: 400).
                    host = None
                    break
                host = value
        verdict = _REFUSED if host is None else self._verdict(host)
        if verdict is True:
            await self.app(scope, receive, send)
        elif verdict is False or kind == "websocket":
            await self._refuse(scope, send)
        else:
            await self._redirect(scope, send, verdict)

    @staticmethod
    async def _refuse(scope: Scope, send: Send) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 400, "headers": _HEADERS})
            await send({"type": "http.response.body", "body": _BODY})
        elif "websocket.http.response" in (scope.get("extensions") or {}):
            await send(
                {"type": "websocket.http.response.start", "status": 400, "headers": _HEADERS}
            )
            await send({"type": "websocket.http.response.body", "body": _BODY})
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": "Invalid host header"})

    @staticmethod
    async def _redirect(scope: Scope, send: Send, authority: bytes) -> None:
        raw_path = scope.get("raw_path")
        if raw_path is None:
            raw_path = (scope.get("root_path", "") + scope["path"]).encode("utf-8")
        location = b"%s://%s%s" % (
            scope.get("scheme", "http").encode("ascii"),
            authority,
            quote(raw_path, safe=_PATH_SAFE).encode("ascii") or b"/",
        )
        if scope.get("query_string"):
            location += b"?" + quote(scope["query_string"], safe=_PATH_SAFE + "?").encode("ascii")
        status = 301 if scope["method"] in ("GET", "HEAD") else 308
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"location", location), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})
