"""The ``Security`` plugin, the CSP nonce helper and the frame-options exemption."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from oakling.exceptions import ImproperlyConfigured
from oakling.security.config import SecurityConfig
from oakling.security.middleware import SecurityMiddleware

if TYPE_CHECKING:
    from oakling.applications import App
    from oakling.requests import HTTPConnection

__all__ = ["Security", "csp_nonce", "frame_options_exempt"]

logger = logging.getLogger("oakling.security")

_F = TypeVar("_F", bound=Callable[..., Any])


class Security:
    """The security battery: allowed hosts, HTTPS and security headers.

    ``App(plugins=[..., Security()])``. Its middleware stays the outermost
    even when other middleware is added after it (see
    :class:`SecurityMiddleware`). Each
    argument overrides the Django-named setting beside it; None (the
    default) reads the setting, False turns a header off.

    Args:
        allowed_hosts: ``ALLOWED_HOSTS``.
        x_frame_options: ``X_FRAME_OPTIONS`` (``"DENY"``, ``"SAMEORIGIN"``).
        content_type_nosniff: ``SECURE_CONTENT_TYPE_NOSNIFF`` (True).
        referrer_policy: ``SECURE_REFERRER_POLICY`` (``"same-origin"``).
        cross_origin_opener_policy: ``SECURE_CROSS_ORIGIN_OPENER_POLICY``
            (``"same-origin"``).
        hsts_seconds: ``SECURE_HSTS_SECONDS`` (0: no HSTS).
        hsts_include_subdomains: ``SECURE_HSTS_INCLUDE_SUBDOMAINS`` (False).
        hsts_preload: ``SECURE_HSTS_PRELOAD`` (False).
        ssl_redirect: ``SECURE_SSL_REDIRECT`` (False).
        ssl_host: ``SECURE_SSL_HOST`` (None: the request's host).
        redirect_exempt: ``SECURE_REDIRECT_EXEMPT`` (no exemptions).
        csp: ``SECURE_CSP``: a directive mapping or the header text.
        csp_report_only: ``SECURE_CSP_REPORT_ONLY``, same format.

    Attributes:
        config: The resolved :class:`SecurityConfig`, once installed.
    """

    name = "security"

    def __init__(
        self,
        *,
        allowed_hosts: Sequence[str] | None = None,
        x_frame_options: str | Literal[False] | None = None,
        content_type_nosniff: bool | None = None,
        referrer_policy: str | Sequence[str] | Literal[False] | None = None,
        cross_origin_opener_policy: str | Literal[False] | None = None,
        hsts_seconds: int | None = None,
        hsts_include_subdomains: bool | None = None,
        hsts_preload: bool | None = None,
        ssl_redirect: bool | None = None,
        ssl_host: str | Literal[False] | None = None,
        redirect_exempt: Sequence[str] | None = None,
        csp: Mapping[str, Any] | str | Literal[False] | None = None,
        csp_report_only: Mapping[str, Any] | str | Literal[False] | None = None,
    ) -> None:
        self._overrides: dict[str, Any] = {
            "allowed_hosts": None if allowed_hosts is None else tuple(allowed_hosts),
            "x_frame_options": x_frame_options,
            "content_type_nosniff": content_type_nosniff,
            "referrer_policy": (
                referrer_policy
                if referrer_policy is None or isinstance(referrer_policy, str | bool)
                else tuple(referrer_policy)
            ),
            "cross_origin_opener_policy": cross_origin_opener_policy,
            "hsts_seconds": hsts_seconds,
            "hsts_include_subdomains": hsts_include_subdomains,
            "hsts_preload": hsts_preload,
            "ssl_redirect": ssl_redirect,
            "ssl_host": ssl_host,
            "redirect_exempt": None if redirect_exempt is None else tuple(redirect_exempt),
            "csp": csp,
            "csp_report_only": csp_report_only,
        }
        if isinstance(allowed_hosts, str):
            raise TypeError("allowed_hosts must be a list of host names, not one string")
        self.config: SecurityConfig | None = None

    def install(self, app: App) -> None:
        """Add the middleware (outermost), the ``csp_nonce()`` template helper and checks.

        Raises:
            ImproperlyConfigured: A setting is invalid, or the app already
                has another ``security`` extension.
        """
        existing = app.extensions.get(self.name)
        if existing is not None and existing is not self:
            raise ImproperlyConfigured("the app already has a Security battery installed")
        config = SecurityConfig.from_settings(app.settings, debug=app.debug, **self._overrides)
        self.config = config
        app.extensions[self.name] = self
        app.add_middleware(SecurityMiddleware, config)
        app.context_processor(_csp_context)
        from oakling.security.checks import security_deploy_checks

        app.add_check(security_deploy_checks, deploy=True)
        if not config.allowed_hosts and not config.debug:
            app.on_startup(_warn_no_hosts)


def csp_nonce(request: HTTPConnection) -> str:
    """Return this request's CSP nonce, or ``""`` when no policy uses one.

    Templates call ``{{ csp_nonce() }}`` instead:
    ``<script nonce="{{ csp_nonce() }}">``. The value is also in
    ``request.scope["csp_nonce"]`` (Django's ``request.csp_nonce``).
    """
    return str(request.scope.get("csp_nonce", ""))


def frame_options_exempt(func: _F) -> _F:
    """Send no ``X-Frame-Options`` for this handler (Django's ``xframe_options_exempt``).

    Use it for a page meant to be embedded in other sites' frames. To send
    another value (``SAMEORIGIN``) set the header in the response instead:
    a header the response already has is never replaced.

    Returns:
        ``func`` itself, marked.
    """
    func.frame_options_exempt = True  # type: ignore[attr-defined]  # NOTE: a mark read by the middleware
    return func


def _csp_context(request: HTTPConnection) -> dict[str, Any]:
    nonce = str(request.scope.get("csp_nonce", ""))

    def template_csp_nonce() -> str:
        return nonce

    return {"csp_nonce": template_csp_nonce}


def _warn_no_hosts() -> None:
    logger.warning(
        "ALLOWED_HOSTS is empty and DEBUG is off: every request is refused with 400. "
        "Set OAKLING_ALLOWED_HOSTS to the host names this app serves."
    )
