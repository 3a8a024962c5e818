"""Who a request is counted as: by client address, user, API token, or your own.

A key function takes the request and returns a string (the bucket), or None
for "not limited by this key" (an anonymous request under a per-user limit
is then counted by its address instead: see :func:`user_or_ip`).

The client address is the ASGI peer (``request.client``). Behind a reverse
proxy, have the *server* replace it from ``X-Forwarded-For`` for the proxy
addresses you trust (``oakling run --proxy-headers --forwarded-allow-ips
10.0.0.5``, uvicorn's and gunicorn's option of the same name): oakling never
reads a forwarding header itself, so a client cannot pick its own bucket by
sending one.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress

from oakling.requests import HTTPConnection

__all__ = [
    "get_remote_address",
    "ip_key",
    "network_of",
    "token_key",
    "user_key",
    "user_or_ip",
]


@functools.lru_cache(maxsize=4096)
def network_of(ip: str) -> str:
    """Return the bucket of a client address: IPv6 by its /64 network.

    One machine usually holds a whole /64 (django-ratelimit's default
    ``RATELIMIT_IPV6_MASK``): keyed by single address, each of its 2**64
    addresses would get a limit of its own. IPv4-mapped IPv6 addresses count
    as the IPv4 address.

    Returns:
        ``"192.0.2.1"`` or ``"2001:db8:1:2::/64"``; any other text (a Unix
        socket path, a test client's name) as it is.
    """
    # PERF: cached: parsing an address costs about a microsecond.
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def get_remote_address(conn: HTTPConnection) -> str | None:
    """Return the client's address (the ASGI peer), Flask-Limiter's name.

    Returns:
        The host part of ``request.client``, or None when the server gave
        none.
    """
    client = conn.scope.get("client")
    return client[0] if client else None


def ip_key(conn: HTTPConnection) -> str | None:
    """Key by client address, IPv6 by /64 (the default key)."""
    client = conn.scope.get("client")
    return network_of(client[0]) if client else None


def user_key(conn: HTTPConnection) -> str | None:
    """Key by logged-in user (the auth battery's ``request.user``); None if anonymous."""
    user = conn.scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return f"user:{user.id}"


def token_key(conn: HTTPConnection) -> str | None:
    """Key by API token (``Authorization: Bearer``); None without one.

    With the auth battery, the token's database id (a revoked token's
    replacement starts afresh); otherwise a SHA-256 digest of the header's
    token, so the storage never holds a usable token.
    """
    auth = conn.scope.get("auth")
    token = getattr(auth, "token", None)
    if token is not None:
        return f"token:{token.id}"
    for name, value in conn.scope["headers"]:
        if name == b"authorization":
            scheme, _, raw = value.partition(b" ")
            if scheme.lower() == b"bearer" and raw.strip():
                # SECURITY: digested: the storage holds no credentials.
                return "token:" + hashlib.sha256(raw.strip()).hexdigest()[:32]
            return None
    return None


def user_or_ip(conn: HTTPConnection) -> str | None:
    """Key by token, else by user, else by client address (DRF's ``UserRateThrottle``)."""
    return token_key(conn) or user_key(conn) or ip_key(conn)
