"""The security battery's configuration, resolved once from settings and arguments."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from oakling.exceptions import ImproperlyConfigured
from oakling.middleware.trustedhost import AllowedHosts
from oakling.security.csp import CompiledPolicy, compile_policy

if TYPE_CHECKING:
    from oakling.config import Settings

__all__ = ["DEBUG_ALLOWED_HOSTS", "REFERRER_POLICIES", "SecurityConfig"]

# NOTE: Django's defaults when DEBUG is on and ALLOWED_HOSTS is empty, plus
# "testserver", which oakling's TestClient sends (Django's test runner adds it).
DEBUG_ALLOWED_HOSTS = (".localhost", "127.0.0.1", "[::1]", "testserver")

# W3C Referrer Policy section 3, the values Django's check accepts.
REFERRER_POLICIES = frozenset(
    {
        "no-referrer",
        "no-referrer-when-downgrade",
        "origin",
        "origin-when-cross-origin",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
        "unsafe-url",
    }
)
# HTML's Cross-Origin-Opener-Policy values (Django's check accepts these).
_OPENER_POLICIES = frozenset(
    {"same-origin", "same-origin-allow-popups", "unsafe-none", "noopener-allow-popups"}
)
_FRAME_OPTIONS = frozenset({"DENY", "SAMEORIGIN"})

Policy = Mapping[str, Any] | str


@dataclasses.dataclass(frozen=True, kw_only=True)
class SecurityConfig:
    """What the security middleware does; every field has Django's default.

    Build it with :meth:`from_settings` (what ``Security()`` does) or
    directly. A header value of None turns that header off.

    Attributes:
        allowed_hosts: ``ALLOWED_HOSTS`` patterns (see
            :mod:`oakling.middleware.trustedhost`); an empty list allows
            :data:`DEBUG_ALLOWED_HOSTS` in debug and nothing otherwise.
        debug: Whether refusals explain themselves in the response body.
        x_frame_options: ``X_FRAME_OPTIONS``: ``"DENY"`` or ``"SAMEORIGIN"``.
        content_type_nosniff: ``SECURE_CONTENT_TYPE_NOSNIFF``.
        referrer_policy: ``SECURE_REFERRER_POLICY``, one value or several
            (a fallback list, comma-separated in the header).
        cross_origin_opener_policy: ``SECURE_CROSS_ORIGIN_OPENER_POLICY``.
        hsts_seconds: ``SECURE_HSTS_SECONDS``; 0 sends no
            ``Strict-Transport-Security``.
        hsts_include_subdomains: ``SECURE_HSTS_INCLUDE_SUBDOMAINS``.
        hsts_preload: ``SECURE_HSTS_PRELOAD``.
        ssl_redirect: ``SECURE_SSL_REDIRECT``: redirect http to https.
        ssl_host: ``SECURE_SSL_HOST``: the host (with an optional port)
            https redirects go to; None keeps the request's (validated) host.
        redirect_exempt: ``SECURE_REDIRECT_EXEMPT``: regexes searched in the
            path without its leading ``/``; a match is not redirected.
        csp: ``SECURE_CSP``: the enforced Content-Security-Policy.
        csp_report_only: ``SECURE_CSP_REPORT_ONLY``: a policy only reported.
    """

    allowed_hosts: tuple[str, ...] = ()
    debug: bool = False
    x_frame_options: str | None = "DENY"
    content_type_nosniff: bool = True
    referrer_policy: str | tuple[str, ...] | None = "same-origin"
    cross_origin_opener_policy: str | None = "same-origin"
    hsts_seconds: int = 0
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False
    ssl_redirect: bool = False
    ssl_host: str | None = None
    redirect_exempt: tuple[str, ...] = ()
    csp: Policy | None = None
    csp_report_only: Policy | None = None

    def __post_init__(self) -> None:
        """Check every value, so a typo fails at startup, not in a browser.

        Raises:
            ImproperlyConfigured: Naming the setting and what it accepts.
        """
        if isinstance(self.allowed_hosts, str):
            raise ImproperlyConfigured(
                f"ALLOWED_HOSTS must be a list of host names, not the string {self.allowed_hosts!r}"
            )
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        try:
            AllowedHosts(self.allowed_hosts)
        except ValueError as ex:
            raise ImproperlyConfigured(f"ALLOWED_HOSTS: {ex}") from ex
        object.__setattr__(self, "redirect_exempt", tuple(self.redirect_exempt))
        if self.x_frame_options is not None:
            value = self.x_frame_options.upper()
            if value not in _FRAME_OPTIONS:
                raise ImproperlyConfigured(
                    f"X_FRAME_OPTIONS must be 'DENY' or 'SAMEORIGIN' (or None to send "
                    f"none), not {self.x_frame_options!r}"
                )
            object.__setattr__(self, "x_frame_options", value)
        for value in self.referrer_values:
            if value not in REFERRER_POLICIES:
                raise ImproperlyConfigured(
                    f"SECURE_REFERRER_POLICY: unknown value {value!r}; "
                    f"expected some of {sorted(REFERRER_POLICIES)}"
                )
        coop = self.cross_origin_opener_policy
        if coop is not None and coop not in _OPENER_POLICIES:
            raise ImproperlyConfigured(
                f"SECURE_CROSS_ORIGIN_OPENER_POLICY: unknown value {coop!r}; "
                f"expected one of {sorted(_OPENER_POLICIES)} or None"
            )
        if isinstance(self.hsts_seconds, bool) or self.hsts_seconds < 0:
            raise ImproperlyConfigured(
                f"SECURE_HSTS_SECONDS must be a number of seconds >= 0, not {self.hsts_seconds!r}"
            )
        if self.ssl_host is not None and not re.fullmatch(
            r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?", self.ssl_host
        ):
            raise ImproperlyConfigured(
                f"SECURE_SSL_HOST must be a host name with an optional port, not {self.ssl_host!r}"
            )
        for pattern in self.redirect_exempt:
            try:
                re.compile(pattern)
            except re.error as ex:
                raise ImproperlyConfigured(
                    f"SECURE_REDIRECT_EXEMPT: invalid regex {pattern!r}: {ex}"
                ) from ex
        for name in ("csp", "csp_report_only"):
            try:
                self.compiled_policy(name)
            except (TypeError, ValueError) as ex:
                setting = "SECURE_CSP" if name == "csp" else "SECURE_CSP_REPORT_ONLY"
                raise ImproperlyConfigured(f"{setting}: {ex}") from ex

    @property
    def referrer_values(self) -> tuple[str, ...]:
        """The Referrer-Policy values, one or more, lowercased and stripped."""
        policy = self.referrer_policy
        if policy is None:
            return ()
        items = policy.split(",") if isinstance(policy, str) else policy
        return tuple(item.strip().lower() for item in items if item.strip())

    @property
    def effective_allowed_hosts(self) -> tuple[str, ...]:
        """The patterns enforced: ``allowed_hosts``, or the debug defaults."""
        if not self.allowed_hosts and self.debug:
            return DEBUG_ALLOWED_HOSTS
        return self.allowed_hosts

    def compiled_policy(self, name: Literal["csp", "csp_report_only"]) -> CompiledPolicy | None:
        """Return the compiled ``csp`` or ``csp_report_only`` policy, or None."""
        policy = getattr(self, name)
        if policy is None or policy == "" or policy == {}:
            return None
        return compile_policy(policy, report_only=name == "csp_report_only")

    @classmethod
    def from_settings(cls, settings: Settings, *, debug: bool, **overrides: Any) -> SecurityConfig:
        """Read the Django-named settings; ``overrides`` (not None) win.

        Settings come from ``OAKLING_<NAME>`` variables, ``.env`` or
        ``Settings(extra={...})``. From text, an empty value turns a header
        off, booleans take ``1/0/true/false/on/off``, lists are
        comma-separated or JSON, and ``SECURE_CSP`` is a JSON object or the
        header text.

        Raises:
            ImproperlyConfigured: A value does not convert or is invalid.
        """
        get = settings.get
        values: dict[str, Any] = {
            "allowed_hosts": tuple(settings.ALLOWED_HOSTS),
            "debug": debug,
            "x_frame_options": _text(get("X_FRAME_OPTIONS", "DENY")),
            "content_type_nosniff": get("SECURE_CONTENT_TYPE_NOSNIFF", True, cast=bool),
            "referrer_policy": _referrer(get("SECURE_REFERRER_POLICY", "same-origin")),
            "cross_origin_opener_policy": _text(
                get("SECURE_CROSS_ORIGIN_OPENER_POLICY", "same-origin")
            ),
            "hsts_seconds": get("SECURE_HSTS_SECONDS", 0, cast=int),
            "hsts_include_subdomains": get("SECURE_HSTS_INCLUDE_SUBDOMAINS", False, cast=bool),
            "hsts_preload": get("SECURE_HSTS_PRELOAD", False, cast=bool),
            "ssl_redirect": get("SECURE_SSL_REDIRECT", False, cast=bool),
            "ssl_host": _text(get("SECURE_SSL_HOST", None)),
            "redirect_exempt": tuple(get("SECURE_REDIRECT_EXEMPT", [], cast=list[str]) or ()),
            "csp": _policy(get("SECURE_CSP", None), "SECURE_CSP"),
            "csp_report_only": _policy(
                get("SECURE_CSP_REPORT_ONLY", None), "SECURE_CSP_REPORT_ONLY"
            ),
        }
        for name, value in overrides.items():
            if name not in values:
                raise TypeError(f"unknown security option {name!r}")
            if value is None:
                continue
            if value is False and name in _OFF_WITH_FALSE:
                value = None
            values[name] = value
        return cls(**values)


# Options whose argument False means "send no such header".
_OFF_WITH_FALSE = frozenset(
    {
        "x_frame_options",
        "referrer_policy",
        "cross_origin_opener_policy",
        "ssl_host",
        "csp",
        "csp_report_only",
    }
)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _referrer(value: Any) -> str | tuple[str, ...] | None:
    if value is None or isinstance(value, str):
        return _text(value)
    if isinstance(value, Sequence):
        return tuple(str(item) for item in value) or None
    raise ImproperlyConfigured(
        f"SECURE_REFERRER_POLICY: expected a string or a list, got {value!r}"
    )


def _policy(value: Any, setting: str) -> Policy | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                decoded = msgspec.json.decode(text, type=dict[str, Any])
            except msgspec.DecodeError as ex:
                raise ImproperlyConfigured(f"{setting}: invalid JSON object: {ex}") from ex
            return decoded
        return text or None
    raise ImproperlyConfigured(f"{setting}: expected a mapping of directives or a string")
