"""Origin and Referer checks against the request's host and trusted origins, no I/O.

The rules are Django 4's (``CsrfViewMiddleware._origin_verified`` and
``_check_referer``): trusted origins are full ``scheme://host[:port]``
strings, and ``scheme://*.example.com`` trusts every subdomain of
``example.com`` (and ``example.com`` itself) for that scheme.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["TrustedOrigins", "is_same_domain", "normalise_netloc", "origin_of", "split_origin"]

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def normalise_netloc(scheme: str, netloc: str) -> str:
    """Return ``netloc`` lower-cased, without the scheme's default port.

    ``Example.COM:443`` over https becomes ``example.com``, so a Host header
    naming the default port still matches an Origin that leaves it out.
    """
    netloc = netloc.lower()
    default = _DEFAULT_PORTS.get(scheme.lower())
    if default is not None and netloc.endswith(":" + default) and not netloc.endswith("]"):
        netloc = netloc[: -len(default) - 1]
    return netloc


def origin_of(scheme: str, netloc: str) -> str:
    """Return the serialised origin ``scheme://host[:port]``, normalised."""
    scheme = scheme.lower()
    return f"{scheme}://{normalise_netloc(scheme, netloc)}"


def split_origin(value: str) -> tuple[str, str] | None:
    """Return ``(scheme, netloc)`` of an origin or URL, or None when malformed."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return parts.scheme.lower(), normalise_netloc(parts.scheme, parts.netloc)


def is_same_domain(host: str, pattern: str) -> bool:
    """Return whether ``host`` matches ``pattern`` (Django's ``is_same_domain``).

    A pattern starting with ``.`` matches the domain and every subdomain
    (``.example.com`` matches ``example.com`` and ``a.b.example.com``);
    anything else must match exactly. Both are compared lower-case.
    """
    if not pattern:
        return False
    host = host.lower()
    pattern = pattern.lower()
    if pattern[0] == ".":
        return host.endswith(pattern) or host == pattern[1:]
    return host == pattern


class TrustedOrigins:
    """``CSRF_TRUSTED_ORIGINS``, compiled once for the per-request checks.

    Args:
        entries: Origins such as ``https://app.example.com`` or
            ``https://*.example.com``; entries without a scheme can never
            match (the deploy check ``csrf.E001`` reports them).
    """

    __slots__ = ("entries", "exact", "hosts", "wildcards")

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = [entry.strip() for entry in entries if entry.strip()]
        self.exact: set[str] = set()
        # scheme -> [".example.com[:port]"]
        self.wildcards: dict[str, list[str]] = {}
        # For the Referer check, where the scheme is https anyway: netloc patterns.
        self.hosts: list[str] = []
        for entry in self.entries:
            if "://" not in entry:
                continue
            scheme, _, netloc = entry.partition("://")
            scheme = scheme.lower()
            netloc = normalise_netloc(scheme, netloc.rstrip("/"))
            if netloc.startswith("*."):
                pattern = netloc[1:]
                self.wildcards.setdefault(scheme, []).append(pattern)
                self.hosts.append(pattern)
            else:
                self.exact.add(f"{scheme}://{netloc}")
                self.hosts.append(netloc)

    def allows_origin(self, origin: str) -> bool:
        """Return whether the ``Origin`` header value is trusted."""
        split = split_origin(origin)
        if split is None:
            return False
        scheme, netloc = split
        if f"{scheme}://{netloc}" in self.exact:
            return True
        return any(is_same_domain(netloc, pattern) for pattern in self.wildcards.get(scheme, ()))

    def allows_host(self, netloc: str) -> bool:
        """Return whether a Referer's (normalised) host is trusted."""
        return any(is_same_domain(netloc, pattern) for pattern in self.hosts)

    def without_scheme(self) -> list[str]:
        """Return the entries lacking ``scheme://`` (never trusted)."""
        return [entry for entry in self.entries if "://" not in entry]
