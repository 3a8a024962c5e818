"""The ``RateLimit`` and ``RateLimit-Policy`` response fields.

As defined by the IETF HTTPAPI working group's
draft-ietf-httpapi-ratelimit-headers-10 (the syntax has been the same since
-08): both are Structured Field Lists (RFC 9651) whose members are quoted
policy names with parameters::

    RateLimit-Policy: "10-per-minute";q=10;w=60
    RateLimit: "10-per-minute";r=0;t=42

``q`` is the quota (requests allowed), ``w`` the window in seconds, ``r``
the requests remaining and ``t`` the seconds until the quota frees up.
"""

from __future__ import annotations

import re

from limits import RateLimitItem

__all__ = ["policy_item", "policy_name", "ratelimit_item"]

_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def policy_name(item: RateLimitItem) -> str:
    """Return a readable policy name for a limit: ``"10-per-minute"``, ``"3-per-2-hour"``."""
    granularity = item.GRANULARITY.name
    if item.multiples == 1:
        return f"{item.amount}-per-{granularity}"
    return f"{item.amount}-per-{item.multiples}-{granularity}"


def _quoted(name: str) -> str:
    # NOTE: an sf-string holds printable ASCII; names are made of [A-Za-z0-9._-].
    return '"' + _NAME_RE.sub("-", name) + '"'


def policy_item(name: str, item: RateLimitItem) -> str:
    """Return one ``RateLimit-Policy`` member: ``"name";q=10;w=60``."""
    return f"{_quoted(name)};q={item.amount};w={item.get_expiry()}"


def ratelimit_item(name: str, remaining: int, reset: int) -> str:
    """Return one ``RateLimit`` member: ``"name";r=3;t=42`` (``t`` in seconds)."""
    return f"{_quoted(name)};r={max(0, remaining)};t={max(0, reset)}"
