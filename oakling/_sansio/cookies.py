"""Cookie headers: parsing ``Cookie`` and formatting ``Set-Cookie`` (RFC 6265).

``Cookie`` is read leniently, as browsers send it (section 5.4); ``Set-Cookie``
is written with safe defaults (section 4.1).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import unquote

__all__ = ["format_set_cookie", "parse_cookie_header"]


def format_set_cookie(
    key: str,
    value: str = "",
    *,
    max_age: int | None = None,
    expires: datetime | int | None = None,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = True,
    samesite: Literal["lax", "strict", "none"] | None = "lax",
    partitioned: bool = False,
) -> bytes:
    """Return a ``Set-Cookie`` header value (RFC 6265 section 4.1), latin-1 bytes.

    The arguments are :meth:`oakling.responses.Response.set_cookie`'s: the value
    is quoted when it holds characters RFC 6265 forbids, ``expires`` is an
    aware datetime or seconds from now, ``max_age`` is in seconds.

    Raises:
        ValueError: For an unknown ``samesite`` value, or ``none`` without ``secure``.
    """
    import http.cookies
    from email.utils import format_datetime

    cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    cookie[key] = value
    morsel = cookie[key]
    if max_age is not None:
        morsel["max-age"] = max_age
    if expires is not None:
        if isinstance(expires, datetime):
            morsel["expires"] = format_datetime(expires.astimezone(UTC), usegmt=True)
        else:
            morsel["expires"] = format_datetime(
                datetime.fromtimestamp(time.time() + expires, UTC), usegmt=True
            )
    if path:
        morsel["path"] = path
    if domain:
        morsel["domain"] = domain
    if secure:
        morsel["secure"] = True
    if httponly:
        morsel["httponly"] = True
    if samesite is not None:
        if samesite.lower() not in ("lax", "strict", "none"):
            raise ValueError("samesite must be 'lax', 'strict' or 'none'")
        if samesite.lower() == "none" and not secure:
            raise ValueError("samesite='none' requires secure=True (browsers refuse it otherwise)")
        morsel["samesite"] = samesite.capitalize()
    header = morsel.OutputString()
    if partitioned:
        header += "; Partitioned"
    return header.encode("latin-1")


def parse_cookie_header(header: str) -> dict[str, str]:
    """Return the cookies of a ``Cookie`` header as ``{name: value}``.

    Never raises: pairs without ``=`` become a name with an empty value (as
    Chrome does), surrounding quotes are stripped, and on repeated names the
    first wins (RFC 6265 orders more specific paths first).
    """
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        if "=" in chunk:
            name, value = chunk.split("=", 1)
        else:
            name, value = "", chunk
        name = name.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name or value:
            cookies.setdefault(name, unquote(value) if "%" in value else value)
    return cookies
