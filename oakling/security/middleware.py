"""SecurityMiddleware: allowed hosts, HTTPS redirect and security headers.

Django's ``SecurityMiddleware``, ``XFrameOptionsMiddleware``,
``ContentSecurityPolicyMiddleware`` and ``ALLOWED_HOSTS`` check in one pure
ASGI layer, installed outermost by :class:`~oakling.security.Security`.

SECURITY: the Host check runs before anything else sees the request, for
HTTP and WebSocket alike, so no handler, hook or other middleware ever runs
for a forged ``Host`` (password-reset poisoning, cache poisoning).
"""

from __future__ import annotations

import logging
import os
import re
from base64 import urlsafe_b64encode
from urllib.parse import quote

from oakling.applications import App
from oakling.i18n.translation import gettext
from oakling.middleware.trustedhost import AllowedHosts, split_host_port
from oakling.requests import Request
from oakling.security.config import SecurityConfig
from oakling.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityMiddleware"]

logger = logging.getLogger("oakling.security")

# NOTE: RFC 3986 section 3.3 path characters plus "%", as the core's
# TrustedHostMiddleware uses: a raw path keeps its escapes.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
# PERF: verdicts per raw Host value; bounded, since clients choose the keys.
_CACHE_SIZE = 512
_TEXT = b"text/plain; charset=utf-8"
_SHOWN_HOST_LENGTH = 100


class _Refusal:
    """Why a Host was refused: the body sent in debug and outside it."""

    __slots__ = ("debug_text", "log_text")

    def __init__(self, debug_text: str, log_text: str) -> None:
        self.debug_text = debug_text
        self.log_text = log_text


class SecurityMiddleware:
    """Check the Host, redirect to HTTPS and add security headers.

    Per HTTP request, in order:

    1. ``Host``: one header, well formed (RFC 9110 section 7.2), matching
       ``allowed_hosts`` (Django's rules); else 400 and the app never runs.
       An empty list allows localhost names in debug and nothing outside.
    2. HTTPS redirect (``ssl_redirect``): an ``http`` request gets a 301
       (308 for methods other than GET and HEAD, so the body survives) to
       ``https://`` on the validated host, same path and query, unless its
       path matches ``redirect_exempt``. The scheme is ``scope["scheme"]``:
       behind a TLS-terminating proxy run the server with proxy headers on
       (``uvicorn --proxy-headers --forwarded-allow-ips=...``).
    3. A per-request CSP nonce in ``scope["csp_nonce"]`` when a policy uses
       ``CSP.NONCE``.
    4. On the response: ``X-Frame-Options``, ``X-Content-Type-Options``,
       ``Referrer-Policy``, ``Cross-Origin-Opener-Policy``, the CSP headers
       and, over https only, ``Strict-Transport-Security`` (RFC 6797 section
       7.2: a browser ignores it over http). A header the response already
       has is never replaced, and a handler marked with
       :func:`~oakling.security.frame_options_exempt` gets no
       ``X-Frame-Options``.

    A WebSocket handshake gets the Host check only; a refused one gets the
    400 answer when the server supports the ``websocket.http.response``
    extension, else a close with code 1008 before it is accepted.

    Args:
        app: The ASGI app to wrap.
        config: What to do; ``SecurityConfig()`` has Django's defaults.

    Raises:
        ImproperlyConfigured: From :class:`SecurityConfig`, for an invalid
            setting (checked when the config is built).
    """

    #: Read by ``App.add_middleware``: middleware added later goes inside this
    #: one, so the Host is checked before any other middleware runs.
    outermost = True

    def __init__(self, app: ASGIApp, config: SecurityConfig | None = None) -> None:
        self.app = app
        self.config = config = config if config is not None else SecurityConfig()
        self.debug = config.debug
        self.allowed_hosts = AllowedHosts(config.effective_allowed_hosts)
        self._no_hosts_configured = not config.allowed_hosts
        # Raw Host -> normalized name (allowed) or why it was refused.
        self._verdicts: dict[bytes, bytes | _Refusal] = {}
        # PERF: every static header is built once here; per response the
        # send wrapper only appends these tuples.
        common: list[tuple[bytes, bytes]] = []
        if config.x_frame_options is not None:
            common.append((b"x-frame-options", config.x_frame_options.encode("ascii")))
        if config.content_type_nosniff:
            common.append((b"x-content-type-options", b"nosniff"))
        if config.referrer_values:
            common.append((b"referrer-policy", ",".join(config.referrer_values).encode("ascii")))
        if config.cross_origin_opener_policy is not None:
            common.append(
                (b"cross-origin-opener-policy", config.cross_origin_opener_policy.encode("ascii"))
            )
        policies = [
            policy
            for policy in (config.compiled_policy("csp"), config.compiled_policy("csp_report_only"))
            if policy is not None
        ]
        for policy in policies:
            if policy.static is not None:
                common.append(policy.static)
        self._nonce_policies = tuple(policy for policy in policies if policy.uses_nonce)
        self._http_headers = tuple(common)
        secure = list(common)
        if config.hsts_seconds:
            value = f"max-age={config.hsts_seconds}"
            if config.hsts_include_subdomains:
                value += "; includeSubDomains"
            if config.hsts_preload:
                value += "; preload"
            secure.append((b"strict-transport-security", value.encode("ascii")))
        self._https_headers = tuple(secure)
        # PERF: the spellings of our header names a response may use, each
        # mapped to the lowercase name, so no per-header lower() is needed.
        # ASGI names are lowercase; the Title-Case form covers raw ASGI apps.
        self._spellings: dict[bytes, bytes] = {}
        for name in [name for name, _ in secure] + [p.header for p in self._nonce_policies]:
            self._spellings[name] = name
            self._spellings[b"-".join(part.capitalize() for part in name.split(b"-"))] = name
        self._frame_header = b"x-frame-options" if config.x_frame_options is not None else None
        self._ssl_redirect = config.ssl_redirect
        self._ssl_host = config.ssl_host.encode("ascii") if config.ssl_host else None
        self._exempt = tuple(re.compile(pattern) for pattern in config.redirect_exempt)

    # -- hosts ------------------------------------------------------------------

    def _verdict(self, host: bytes) -> bytes | _Refusal:
        verdict = self._verdicts.get(host)
        if verdict is not None:
            return verdict
        shown = host[:_SHOWN_HOST_LENGTH].decode("latin-1")
        try:
            name, _ = split_host_port(host.decode("latin-1"))
        except ValueError:
            verdict = _Refusal(
                f"Invalid Host header: {shown!r} is not a host name or IP address "
                "with an optional port.",
                f"malformed Host header {shown!r}",
            )
        else:
            if self.allowed_hosts.match(name):
                verdict = name.encode("ascii")
            elif self._no_hosts_configured:
                verdict = _Refusal(
                    f"Invalid Host header: {shown!r}. ALLOWED_HOSTS is empty; outside "
                    "debug no host is allowed: set OAKLING_ALLOWED_HOSTS.",
                    f"Host {shown!r} refused: ALLOWED_HOSTS is empty (set OAKLING_ALLOWED_HOSTS)",
                )
            else:
                verdict = _Refusal(
                    f"Invalid Host header: {shown!r}. Add it to ALLOWED_HOSTS.",
                    f"Host {shown!r} is not in ALLOWED_HOSTS",
                )
        if len(self._verdicts) >= _CACHE_SIZE:
            self._verdicts.clear()
        self._verdicts[host] = verdict
        return verdict

    def _check_host(self, scope: Scope) -> bytes | _Refusal:
        """Return the normalized allowed host name, or why it is refused."""
        host: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"host":
                if host is not None:
                    # SECURITY: which of two Host headers a proxy or cache
                    # used is anyone's guess (RFC 9112 section 3.2: 400).
                    return _DUPLICATE
                host = value
        if host is None:
            return _MISSING
        return self._verdict(host)

    # -- ASGI -------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (lifespan passes through untouched)."""
        kind = scope["type"]
        if kind == "http":
            host = self._check_host(scope)
            if type(host) is _Refusal:
                await self._refuse(scope, send, host)
                return
            scheme = scope.get("scheme", "http")
            if self._ssl_redirect and scheme == "http" and not self._is_exempt(scope):
                assert isinstance(host, bytes)
                await self._redirect(scope, send, host)
                return
            await self._serve(scope, receive, send, scheme == "https")
        elif kind == "websocket":
            host = self._check_host(scope)
            if type(host) is _Refusal:
                await self._refuse(scope, send, host)
                return
            await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, secure: bool) -> None:
        """Run the app with a send that appends the prepared headers."""
        static = self._https_headers if secure else self._http_headers
        spellings = self._spellings
        frame_header = self._frame_header
        nonce: bytes | None = None
        if self._nonce_policies:
            # PERF: a nonce only when a policy uses one; secrets.token_urlsafe(16)
            # without its str round trip (the header wants bytes).
            nonce = urlsafe_b64encode(os.urandom(16)).rstrip(b"=")
            scope["csp_nonce"] = nonce.decode("ascii")
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] != "http.response.start":
                await send(message)
                return
            started = True
            raw = message.get("headers") or ()
            if type(raw) is not list and type(raw) is not tuple:
                raw = list(raw)  # NOTE: any iterable is allowed; it is read twice.
            present: set[bytes] | None = None
            for name, _ in raw:
                if name in spellings:
                    if present is None:
                        present = set()
                    present.add(spellings[name])
            if frame_header is not None and getattr(
                scope.get("endpoint"), "frame_options_exempt", False
            ):
                present = {frame_header} if present is None else present | {frame_header}
            if present is None:
                headers = [*raw, *static]
            else:
                headers = [*raw, *[item for item in static if item[0] not in present]]
            if nonce is not None:
                for policy in self._nonce_policies:
                    if present is None or policy.header not in present:
                        headers.append((policy.header, policy.value(nonce)))
            message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as ex:
            oakling_app = scope.get("app")
            if started or not isinstance(oakling_app, App):
                raise
            # NOTE: an error raised by inner middleware (routes answer their
            # own): answered here, as the app's outer layer would, so that
            # the 500 page carries the security headers too.
            request = Request(scope, receive, oakling_app.limits)
            response, reraise = await oakling_app.error_response(
                request, ex, [oakling_app.error_handlers]
            )
            await response(scope, receive, send_with_headers)
            if reraise is not None:
                raise

    def _is_exempt(self, scope: Scope) -> bool:
        if not self._exempt:
            return False
        path = scope["path"].lstrip("/")
        return any(pattern.search(path) for pattern in self._exempt)

    async def _refuse(self, scope: Scope, send: Send, refusal: _Refusal) -> None:
        logger.warning("Refused %s: %s", scope["type"], refusal.log_text)
        # NOTE: translated when the i18n battery is installed: it reads the
        # request context the app sets outside every middleware.
        body = (refusal.debug_text if self.debug else gettext("Invalid Host header")).encode(
            "utf-8"
        )
        headers = [
            (b"content-type", _TEXT),
            (b"content-length", str(len(body)).encode("ascii")),
            *self._http_headers,
        ]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", "status": 400, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            # NOTE: 1008 is "policy violation" (RFC 6455 section 7.4.1); a
            # close before accept makes the server answer the handshake 403.
            await send({"type": "websocket.close", "code": 1008, "reason": "Invalid Host header"})

    async def _redirect(self, scope: Scope, send: Send, host: bytes) -> None:
        # SECURITY: the location's host is the validated, normalized name
        # (or SECURE_SSL_HOST), never the raw header; the port is dropped
        # since https has its own.
        authority = self._ssl_host or host
        raw_path = scope.get("raw_path")
        if raw_path is None:
            raw_path = (scope.get("root_path", "") + scope["path"]).encode("utf-8")
        location = (
            b"https://" + authority + (quote(raw_path, safe=_PATH_SAFE).encode("ascii") or b"/")
        )
        query = scope.get("query_string")
        if query:
            location += b"?" + quote(query, safe=_PATH_SAFE + "?").encode("ascii")
        status = 301 if scope.get("method") in ("GET", "HEAD") else 308
        headers = [(b"location", location), (b"content-length", b"0"), *self._http_headers]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


_DUPLICATE = _Refusal(
    "Invalid Host header: sent more than once (RFC 9112 section 3.2).", "several Host headers"
)
_MISSING = _Refusal("Invalid Host header: the request has none.", "no Host header")
