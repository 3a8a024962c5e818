"""Cookie header parsing (RFC 6265 section 5.4, read leniently as browsers send)."""

from __future__ import annotations

from urllib.parse import unquote

__all__ = ["parse_cookie_header"]


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
