"""Deployment checks of the security battery (Django's ``security.W0xx``).

Added by :meth:`Security.install <oakling.security.Security.install>` with
``app.add_check(security_deploy_checks, deploy=True)``, so
``oakling check --deploy`` reports them. The ids are Django's where Django
has the same check; ``security.W030`` and ``W031`` are oakling's own::

    security.W004  SECURE_HSTS_SECONDS is not set
    security.W005  HSTS without SECURE_HSTS_INCLUDE_SUBDOMAINS
    security.W006  SECURE_CONTENT_TYPE_NOSNIFF is off
    security.W008  SECURE_SSL_REDIRECT is off
    security.W019  X_FRAME_OPTIONS is not DENY
    security.W021  HSTS without SECURE_HSTS_PRELOAD
    security.W022  SECURE_REFERRER_POLICY is not set
    security.W030  no Content-Security-Policy (SECURE_CSP)
    security.W031  a report-only policy but no enforced one
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from oakling.checks import CheckMessage
from oakling.security.config import SecurityConfig

if TYPE_CHECKING:
    from oakling.applications import App

__all__ = ["config_checks", "security_deploy_checks"]


def security_deploy_checks(app: App) -> Iterator[CheckMessage]:
    """Report what the installed security battery leaves open in production.

    Reads the configuration the battery resolved at install time (settings
    and ``Security(...)`` arguments), from ``app.extensions["security"]``.
    Reports nothing when the battery is not installed (the core's
    ``oakling.W004`` says so).
    """
    battery = app.extensions.get("security")
    config = getattr(battery, "config", None)
    if isinstance(config, SecurityConfig):
        yield from config_checks(config)


def config_checks(config: SecurityConfig) -> Iterator[CheckMessage]:
    """Yield the deployment warnings for one security configuration."""
    if not config.hsts_seconds:
        yield CheckMessage(
            "security.W004",
            "SECURE_HSTS_SECONDS is not set: browsers may still use plain http for this "
            "site, where a network attacker can read and change the traffic.",
            "Once the whole site works over https, set OAKLING_SECURE_HSTS_SECONDS "
            "(start small, e.g. 3600, then 31536000). Careful: browsers remember it.",
        )
    else:
        if not config.hsts_include_subdomains:
            yield CheckMessage(
                "security.W005",
                "SECURE_HSTS_INCLUDE_SUBDOMAINS is off: subdomains may still be reached "
                "over plain http.",
                "If every subdomain is served over https, set "
                "OAKLING_SECURE_HSTS_INCLUDE_SUBDOMAINS=1.",
            )
        if not config.hsts_preload:
            yield CheckMessage(
                "security.W021",
                "SECURE_HSTS_PRELOAD is off: the site cannot be submitted to the browser "
                "preload list, so a first visit may still use http.",
                "Set OAKLING_SECURE_HSTS_PRELOAD=1 and submit the domain at hstspreload.org.",
            )
    if not config.content_type_nosniff:
        yield CheckMessage(
            "security.W006",
            "SECURE_CONTENT_TYPE_NOSNIFF is off: browsers may guess content types and run "
            "an uploaded file as a script.",
            "Leave OAKLING_SECURE_CONTENT_TYPE_NOSNIFF unset (it defaults to on).",
        )
    if not config.ssl_redirect:
        yield CheckMessage(
            "security.W008",
            "SECURE_SSL_REDIRECT is off: requests over plain http are served instead of "
            "redirected to https.",
            "Set OAKLING_SECURE_SSL_REDIRECT=1 (unless a proxy redirects already); behind "
            "a TLS proxy run uvicorn with --proxy-headers.",
        )
    if config.x_frame_options != "DENY":
        shown = "not sent" if config.x_frame_options is None else repr(config.x_frame_options)
        yield CheckMessage(
            "security.W019",
            f"X_FRAME_OPTIONS is {shown}: other sites can frame your pages "
            "(clickjacking) unless you need that.",
            "Leave OAKLING_X_FRAME_OPTIONS unset (DENY), and exempt the few pages meant "
            "to be framed with @frame_options_exempt.",
        )
    if not config.referrer_values:
        yield CheckMessage(
            "security.W022",
            "SECURE_REFERRER_POLICY is not set: full URLs (with their query strings) "
            "leak to other sites in the Referer header.",
            "Leave OAKLING_SECURE_REFERRER_POLICY unset (same-origin) or choose another "
            "policy such as strict-origin-when-cross-origin.",
        )
    if config.compiled_policy("csp") is None:
        if config.compiled_policy("csp_report_only") is None:
            yield CheckMessage(
                "security.W030",
                "No Content-Security-Policy (SECURE_CSP): an injected script runs with "
                "the page's rights.",
                "Set SECURE_CSP, e.g. {'default-src': [CSP.SELF], 'script-src': "
                '[CSP.SELF, CSP.NONCE]}, with nonce="{{ csp_nonce() }}" on inline scripts.',
            )
        else:
            yield CheckMessage(
                "security.W031",
                "Only a report-only Content-Security-Policy is set: violations are "
                "reported, not blocked.",
                "Once the reports are clean, move the policy to SECURE_CSP.",
            )
