"""Host header parsing and ``ALLOWED_HOSTS`` matching (RFC 9110 section 7.2).

Sans-I/O: shared by :class:`~oakling.middleware.TrustedHostMiddleware` and
the security battery. The matching rules are Django's ``ALLOWED_HOSTS``:

- ``"example.com"`` matches that name exactly (case-insensitive).
- ``".example.com"`` matches ``example.com`` and every subdomain of it.
- ``"*.example.com"`` (Starlette's spelling) matches subdomains only.
- ``"*"`` matches every well-formed host.
- ``"[::1]"`` matches that IPv6 address, however it is written.

The port is stripped before matching, and one trailing dot (a fully qualified
``example.com.``) is ignored, as Django does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

__all__ = ["AllowedHosts", "split_host_port", "validate_host"]

# NOTE: RFC 1123 host names, lowercase, which is what browsers send (IDNs as
# punycode). Underscores, userinfo (``a@b``), paths, spaces and non-ASCII are
# refused, as by Django's ``host_validation_re``.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PORT = re.compile(r"[0-9]{0,5}")
# SECURITY: caps the work done on a hostile header; DNS names are <= 253.
_MAX_HOST_LENGTH = 260


def _normalize_name(name: str) -> str:
    """Return ``name`` lowercased and checked; raise ValueError if malformed."""
    if name.startswith("["):
        if not name.endswith("]"):
            raise ValueError(f"unterminated IPv6 literal: {name!r}")
        try:
            address = ipaddress.IPv6Address(name[1:-1])
        except ValueError as ex:
            raise ValueError(f"invalid IPv6 literal: {name!r}") from ex
        if address.scope_id is not None:
            # NOTE: zone ids (``fe80::1%eth0``) are meaningless to a peer.
            raise ValueError(f"IPv6 zone id in host: {name!r}")
        return f"[{address.compressed}]"
    name = name.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"invalid host name: {name!r}")
    return name


def split_host_port(host: str) -> tuple[str, int | None]:
    """Split a ``Host`` header value into a normalized name and a port.

    The name is lowercased, loses one trailing dot, and keeps its brackets if
    it is an IPv6 literal (written in compressed form: ``[0::1]`` gives
    ``[::1]``), so it compares directly against ``ALLOWED_HOSTS`` entries.
    An empty port (``example.com:``) counts as none (RFC 3986 section 3.2.3).

    Args:
        host: The header value, e.g. ``"Example.com:8000"`` or ``"[::1]:80"``.

    Returns:
        ``(name, port)``, port an int or None: ``("example.com", 8000)``.

    Raises:
        ValueError: The value is not ``uri-host [":" port]`` (RFC 9110 section
            7.2): empty, too long, with userinfo, a path, spaces, an
            unbracketed IPv6 address, or a port outside 0-65535.
    """
    if not host or len(host) > _MAX_HOST_LENGTH:
        raise ValueError("empty or overlong host")
    if host.startswith("["):
        name, bracket, rest = host.partition("]")
        if not bracket:
            raise ValueError(f"unterminated IPv6 literal: {host!r}")
        name += "]"
        if rest and not rest.startswith(":"):
            raise ValueError(f"junk after IPv6 literal: {host!r}")
        port_text = rest[1:]
        has_port = bool(rest)
    else:
        name, colon, port_text = host.partition(":")
        has_port = bool(colon)
    port: int | None = None
    if has_port:
        if not _PORT.fullmatch(port_text):
            raise ValueError(f"invalid port in host: {host!r}")
        if port_text:
            port = int(port_text)
            if port > 65535:
                raise ValueError(f"port out of range in host: {host!r}")
    return _normalize_name(name), port


class AllowedHosts:
    """A prepared ``ALLOWED_HOSTS`` list; build it once, at startup.

    Args:
        patterns: Django-style entries (see the module docstring). Matching
            is case-insensitive. An entry may not carry a port.

    Raises:
        ValueError: An entry is not a host name, ``.name``, ``*.name``, an
            IPv6 literal in brackets, or ``*``.
        TypeError: ``patterns`` is a single string, not a list of them.
    """

    __slots__ = ("any", "exact", "patterns", "suffixes")

    def __init__(self, patterns: Iterable[str]) -> None:
        if isinstance(patterns, str):
            raise TypeError("allowed hosts must be a list of patterns, not one string")
        self.patterns: tuple[str, ...] = tuple(patterns)
        self.any = False
        exact: set[str] = set()
        # Each suffix is ``(".example.com", include_bare_domain)``.
        suffixes: list[tuple[str, bool]] = []
        for pattern in self.patterns:
            if pattern == "*":
                self.any = True
            elif pattern.startswith("*."):
                suffixes.append(("." + self._checked(pattern[2:], pattern), False))
            elif pattern.startswith("."):
                suffixes.append(("." + self._checked(pattern[1:], pattern), True))
            else:
                exact.add(self._checked(pattern, pattern))
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)

    @staticmethod
    def _checked(name: str, pattern: str) -> str:
        try:
            return _normalize_name(name)
        except ValueError as ex:
            raise ValueError(f"invalid allowed host pattern: {pattern!r}") from ex

    def match(self, name: str) -> bool:
        """Return whether a normalized name (from :func:`split_host_port`) is allowed."""
        if self.any or name in self.exact:
            return True
        for suffix, bare in self.suffixes:
            if name.endswith(suffix) or (bare and name == suffix[1:]):
                return True
        return False

    def __repr__(self) -> str:
        return f"AllowedHosts({list(self.patterns)!r})"


def validate_host(host: str, allowed: AllowedHosts | Iterable[str]) -> bool:
    """Return whether a ``Host`` value is well formed and allowed.

    Django's ``django.http.request.validate_host``, except that ``host`` may
    carry a port (it is stripped) and a malformed value gives False instead
    of an exception: ``validate_host("a.example.com:8000", [".example.com"])``
    is True, ``validate_host("evil.com/x", ["*"])`` is False.

    Args:
        host: The raw ``Host`` header value, or a bare host name.
        allowed: A prepared :class:`AllowedHosts` (the fast path) or the
            patterns themselves (prepared on every call).

    Returns:
        True if the host parses and matches one of the patterns.

    Raises:
        ValueError: ``allowed`` is a list holding an invalid pattern.
    """
    if not isinstance(allowed, AllowedHosts):
        allowed = AllowedHosts(allowed)
    try:
        name, _ = split_host_port(host)
    except ValueError:
        return False
    return allowed.match(name)
