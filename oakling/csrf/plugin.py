"""The CSRF plugin: the per-request check, tokens, exemptions, template helpers."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from markupsafe import Markup

from oakling.exceptions import ImproperlyConfigured
from oakling.requests import HTTPConnection, Request

from ._origins import TrustedOrigins, normalise_netloc, origin_of, split_origin
from ._tokens import InvalidTokenFormat, is_valid_secret, mask_secret, matches_secret, new_secret
from .errors import (
    REASON_BAD_ORIGIN,
    REASON_BAD_REFERER,
    REASON_BAD_TOKEN,
    REASON_CROSS_SITE,
    REASON_FIELD_TOKEN_CHARACTERS,
    REASON_FIELD_TOKEN_LENGTH,
    REASON_HEADER_TOKEN_CHARACTERS,
    REASON_HEADER_TOKEN_LENGTH,
    REASON_INSECURE_REFERER,
    REASON_MALFORMED_REFERER,
    REASON_NO_REFERER,
    REASON_NO_SECRET,
    REASON_NO_TOKEN,
    CSRFError,
    csrf_failure,
)

if TYPE_CHECKING:
    from oakling.applications import App
    from oakling.checks import CheckMessage

__all__ = [
    "CSRF",
    "DEFAULT_FIELD_NAME",
    "DEFAULT_HEADER_NAME",
    "SAFE_METHODS",
    "SESSION_KEY",
    "csrf_exempt",
    "get_token",
    "rotate_token",
    "verify_token",
]

logger = logging.getLogger("oakling.csrf")

SESSION_KEY = "_csrf_secret"
DEFAULT_FIELD_NAME = "csrf_token"
DEFAULT_HEADER_NAME = "X-CSRFToken"
# NOTE: accepted as well as the configured header: the other common spelling
# (Rails, Angular-style clients), so either works without configuration.
_ALTERNATE_HEADER = "X-CSRF-Token"
# RFC 9110 section 9.2.1: methods defined as safe (read-only), Django's list.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class _UnsafeMethods:
    """Every method but the safe ones (RFC 9110 section 9.2.1), as a container."""

    def __contains__(self, method: object) -> bool:
        return method not in SAFE_METHODS


_UNSAFE_METHODS = _UnsafeMethods()
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_HTTP_METHOD_NAMES = ("get", "post", "put", "patch", "delete", "head", "options")
# A header value echoed in a 403 reason is cut to this many characters.
_SHOWN = 200
_EXEMPT = "csrf_exempt"

_F = TypeVar("_F", bound=Callable[..., Any])


# -- tokens -----------------------------------------------------------------------


def _session_of(conn: HTTPConnection) -> Any:
    session = conn.scope.get("session")
    if session is None:
        raise RuntimeError(
            "CSRF tokens live in the session: install the sessions battery "
            "(App(plugins=[Sessions(), CSRF()]) with `from oakling.sessions import Sessions`)"
        )
    return session


def get_token(conn: HTTPConnection) -> str:
    """Return a CSRF token for this session, masked anew on every call.

    Creates the session's secret on first use (so the session is saved).
    Every returned string is different and every one is valid until the
    secret is rotated: Django's ``get_token``. Put it in a form field named
    ``csrf_token`` or send it in the ``X-CSRFToken`` header.

    Returns:
        A 64-character alphanumeric token.

    Raises:
        RuntimeError: If the request has no session (sessions battery missing).
    """
    session = _session_of(conn)
    secret = session.get(SESSION_KEY)
    if not is_valid_secret(secret):
        secret = session[SESSION_KEY] = new_secret()
    return mask_secret(secret)


def rotate_token(conn: HTTPConnection) -> None:
    """Give the session a new CSRF secret; tokens issued before stop working.

    Call it at login (Django's ``rotate_token``; oakling's auth battery does),
    so a token planted before the login cannot be used after it.

    Raises:
        RuntimeError: If the request has no session (sessions battery missing).
    """
    _session_of(conn)[SESSION_KEY] = new_secret()


def verify_token(conn: HTTPConnection, token: str | None) -> bool:
    """Return whether ``token`` is valid for this request's session.

    False for a missing, malformed or foreign token and when the session
    has no secret (never got a token, or expired). Use it to check a token
    sent another way, e.g. in the first message of a WebSocket.
    """
    session = conn.scope.get("session")
    secret = session.get(SESSION_KEY) if session is not None else None
    if not token or not is_valid_secret(secret):
        return False
    try:
        return matches_secret(token, secret)
    except InvalidTokenFormat:
        return False


def csrf_exempt(handler: _F) -> _F:
    """Mark a handler (or every method of a ``View``) as not CSRF-checked.

    Django's ``csrf_exempt``. The mark is an attribute on the function,
    so the decorator may sit above or below the route decorator. Use it
    for endpoints that authenticate another way (webhooks checking a
    signature); a bearer-token request is never checked anyway.

    Returns:
        ``handler`` itself.
    """
    if inspect.isclass(handler):
        for name in _HTTP_METHOD_NAMES:
            method = vars(handler).get(name)
            if callable(method):
                setattr(method, _EXEMPT, True)
    setattr(handler, _EXEMPT, True)
    return handler


def _header_name(name: str) -> str:
    # NOTE: Django writes the header as its WSGI key (HTTP_X_CSRFTOKEN); take both.
    if name.upper().startswith("HTTP_"):
        name = name[5:].replace("_", "-")
    return name


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "..."


# -- the plugin -------------------------------------------------------------------


class CSRF:
    """Cross-site request forgery protection: the ``oakling.csrf`` plugin.

    Installed after the sessions battery
    (``App(plugins=[Sessions(), CSRF()])``), it checks every request with
    an unsafe method (anything but GET, HEAD, OPTIONS, TRACE), whatever its
    content type, in an app-level ``before_request`` hook, except requests
    authenticated by a bearer token and handlers marked
    :func:`csrf_exempt`. In order, as Django's ``CsrfViewMiddleware`` (plus
    Fetch Metadata):

    1. ``Sec-Fetch-Site: cross-site`` is refused;
    2. an ``Origin`` header must be the request's own origin
       (``scheme://host[:port]``) or a trusted one; ``Origin: null`` never is;
    3. without ``Origin``, over HTTPS, the ``Referer`` must be an https URL
       of this host or of a trusted origin;
    4. the token from the ``X-CSRFToken`` (or ``X-CSRF-Token``) header, else
       the ``csrf_token`` form field, must unmask to the session's secret.

    WebSocket handshakes from a foreign ``Origin`` are refused too
    (:meth:`protect_websocket`).

    A failure raises :class:`~oakling.csrf.CSRFError` (403) with the reason,
    logged at warning on ``oakling.csrf``. Templates get ``csrf_token()``
    and ``csrf_input()``. It is ``app.extensions["csrf"]``.

    Args:
        trusted_origins: Origins allowed to post here besides the app's own,
            e.g. ``["https://admin.example.com", "https://*.example.com"]``.
            Default: the ``CSRF_TRUSTED_ORIGINS`` setting (Django's).
        header_name: The token header; default the ``CSRF_HEADER_NAME``
            setting, else ``X-CSRFToken``. ``X-CSRF-Token`` is also read.
        field_name: The form field; default the ``CSRF_FIELD_NAME`` setting,
            else ``csrf_token``.
    """

    name = "csrf"

    def __init__(
        self,
        *,
        trusted_origins: Sequence[str] | None = None,
        header_name: str | None = None,
        field_name: str | None = None,
    ) -> None:
        self._trusted_arg = list(trusted_origins) if trusted_origins is not None else None
        self._header_arg = header_name
        self._field_arg = field_name
        self.trusted_origins = TrustedOrigins(self._trusted_arg or ())
        self.header_name = _header_name(header_name or DEFAULT_HEADER_NAME)
        self.field_name = field_name or DEFAULT_FIELD_NAME
        self._header_names: tuple[str, ...] = (self.header_name, _ALTERNATE_HEADER)

    def install(self, app: App) -> None:
        """Add the check hook, the 403 page, template helpers and deploy checks.

        Raises:
            ImproperlyConfigured: If the sessions battery is not installed
                yet, or another CSRF plugin is.
        """
        if "sessions" not in app.extensions:
            raise ImproperlyConfigured(
                "the CSRF battery keeps its secret in the session: install the sessions "
                "battery before it, App(plugins=[Sessions(), CSRF()]) with "
                "`from oakling.sessions import Sessions`"
            )
        existing = app.extensions.get(self.name)
        if existing is not None and existing is not self:
            raise ImproperlyConfigured("the app already has a CSRF plugin installed")
        settings = app.settings
        trusted = self._trusted_arg
        if trusted is None:
            trusted = settings.get("CSRF_TRUSTED_ORIGINS", None, cast=list[str]) or []
        self.trusted_origins = TrustedOrigins(trusted)
        header = self._header_arg or settings.get("CSRF_HEADER_NAME", None, cast=str)
        self.header_name = _header_name(header or DEFAULT_HEADER_NAME)
        self.field_name = self._field_arg or settings.get(
            "CSRF_FIELD_NAME", DEFAULT_FIELD_NAME, cast=str
        )
        names = [self.header_name]
        if self.header_name.lower() != _ALTERNATE_HEADER.lower():
            names.append(_ALTERNATE_HEADER)
        self._header_names = tuple(names)
        app.extensions[self.name] = self
        # PERF: registered for unsafe methods only, so GET routes keep the
        # core's fast path; protect() still skips safe methods itself.
        app.before_request(self.protect, methods=_UNSAFE_METHODS)
        app.before_websocket(self.protect_websocket)
        app.add_error_handler(CSRFError, csrf_failure)
        app.context_processor(self.template_context)
        app.add_check(self.deploy_checks, deploy=True)

    # -- the check ----------------------------------------------------------------

    async def protect(self, request: Request) -> None:
        """Check one request (the ``before_request`` hook).

        Raises:
            CSRFError: 403 with the reason, when the request fails a check.
        """
        if request.method in SAFE_METHODS:
            return
        if request.scope.get("oakling.enforce_csrf_checks", True) is False:
            # SECURITY: only oakling's test clients set this key (Django's
            # enforce_csrf_checks=False); no server does, so real requests
            # are always checked.
            return
        if getattr(request.endpoint, _EXEMPT, False):
            return
        auth = request.scope.get("auth")
        # NOTE: a bearer token is not sent by a browser on its own, so a
        # token-authenticated request cannot be forged cross-site.
        if auth is not None and getattr(auth, "method", None) == "token":
            return
        reason = self._origin_problem(request)
        if reason is None:
            reason = await self._token_problem(request)
        if reason is not None:
            logger.warning("Forbidden (%s): %s", reason, request.path)
            raise CSRFError(reason)

    def protect_websocket(self, websocket: HTTPConnection) -> None:
        """Refuse a cross-site WebSocket handshake (the ``before_websocket`` hook).

        A browser sends cookies with a WebSocket handshake from any site
        and the same-origin policy does not apply to WebSockets, so without
        this check another site's page could open a socket as the logged-in
        user (cross-site WebSocket hijacking). Browsers always send
        ``Origin`` on a handshake: it must be this app's origin
        (``ws``/``wss`` compared as ``http``/``https``) or a trusted one,
        and ``Origin: null`` never is. A handshake without ``Origin`` comes
        from a non-browser client, which sends no ambient cookies, and is
        let through, as are handlers marked :func:`csrf_exempt`. Django
        Channels' ``OriginValidator``, on by default here.

        Raises:
            CSRFError: 403, so the handshake is refused (servers answer
                HTTP 403) before the handler runs.
        """
        if getattr(websocket.scope.get("endpoint"), _EXEMPT, False):
            return
        origin = websocket.headers.get("origin")
        if origin is None:
            return
        scheme = "https" if websocket.scope.get("scheme") in ("wss", "https") else "http"
        if self._origin_allowed(origin, scheme, websocket.host):
            return
        reason = REASON_BAD_ORIGIN.format(_shown(origin))
        logger.warning("Forbidden (%s): WebSocket %s", reason, websocket.url.path)
        raise CSRFError(reason)

    def _origin_allowed(self, origin: str, scheme: str, host: str) -> bool:
        """Return whether ``origin`` is this app's own (``scheme://host``) or trusted."""
        split = split_origin(origin)
        if split is not None and f"{split[0]}://{split[1]}" == origin_of(scheme, host):
            return True
        return self.trusted_origins.allows_origin(origin)

    def _origin_problem(self, request: Request) -> str | None:
        headers = request.headers
        site = headers.get("sec-fetch-site")
        if site is not None and site.strip().lower() == "cross-site":
            return REASON_CROSS_SITE
        scheme = str(request.scope.get("scheme", "http")).lower()
        origin = headers.get("origin")
        if origin is not None:
            if self._origin_allowed(origin, scheme, request.host):
                return None
            return REASON_BAD_ORIGIN.format(_shown(origin))
        if scheme != "https":
            return None
        # SECURITY: over HTTPS a browser that sends no Origin still sends a
        # Referer (same-origin policy; Referrer-Policy same-origin keeps it
        # for this site), so a missing one is treated as forged.
        referer = headers.get("referer")
        if not referer:
            return REASON_NO_REFERER
        split = split_origin(referer)
        if split is None:
            return REASON_MALFORMED_REFERER
        if split[0] != "https":
            return REASON_INSECURE_REFERER
        if split[1] == normalise_netloc("https", request.host):
            return None
        if self.trusted_origins.allows_host(split[1]):
            return None
        return REASON_BAD_REFERER.format(_shown(referer))

    async def _token_problem(self, request: Request) -> str | None:
        session = request.scope.get("session")
        secret = session.get(SESSION_KEY) if session is not None else None
        if not is_valid_secret(secret):
            return REASON_NO_SECRET
        token, source = await self._submitted_token(request)
        if not token:
            return REASON_NO_TOKEN
        try:
            valid = matches_secret(token, secret)
        except InvalidTokenFormat as ex:
            length = ex.reason == "has incorrect length"
            if source[0] == "header":
                template = REASON_HEADER_TOKEN_LENGTH if length else REASON_HEADER_TOKEN_CHARACTERS
            else:
                template = REASON_FIELD_TOKEN_LENGTH if length else REASON_FIELD_TOKEN_CHARACTERS
            return template.format(source[1])
        return None if valid else REASON_BAD_TOKEN

    async def _submitted_token(self, request: Request) -> tuple[str | None, tuple[str, str]]:
        headers = request.headers
        for name in self._header_names:
            value = headers.get(name)
            if value:
                return value.strip(), ("header", repr(name))
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type in _FORM_TYPES:
            # NOTE: the form is cached on the request, so the handler reads
            # the same parsed form (files included) without the body again.
            # PERF: a multipart body is parsed here, before the handler, as
            # Django's middleware reads request.POST.
            form = await request.form()
            value = form.get(self.field_name)
            if isinstance(value, str) and value:
                return value.strip(), ("field", repr(self.field_name))
        return None, ("", "")

    # -- templates and checks ---------------------------------------------------

    def template_context(self, request: HTTPConnection) -> dict[str, Callable[[], Any]]:
        """Return ``csrf_token()`` and ``csrf_input()`` bound to ``request``.

        Registered as a context processor; the secret is only created when
        a template calls one of them.
        """
        field = self.field_name

        def csrf_token() -> str:
            return get_token(request)

        def csrf_input() -> Markup:
            return Markup('<input type="hidden" name="{}" value="{}">').format(
                field, get_token(request)
            )

        return {"csrf_token": csrf_token, "csrf_input": csrf_input}

    def deploy_checks(self, app: App) -> list[CheckMessage]:
        """Report ``CSRF_TRUSTED_ORIGINS`` entries without a scheme (``csrf.E001``)."""
        from oakling.checks import CheckMessage

        return [
            CheckMessage(
                "csrf.E001",
                f"CSRF_TRUSTED_ORIGINS entry {entry!r} has no scheme, so it never matches "
                "an Origin header.",
                hint=f"Write it as a full origin, e.g. 'https://{entry}' "
                "(Django 4 requires the same).",
                level="error",
            )
            for entry in self.trusted_origins.without_scheme()
        ]
