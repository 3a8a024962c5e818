"""Patch ``Vary`` and ``Cache-Control`` on raw ASGI headers (Django's names).

Middleware sees a response as ``http.response.start`` with a list of
``(name, value)`` byte pairs; these helpers edit that list in place, as
``django.utils.cache.patch_vary_headers`` and ``patch_cache_control`` edit a
Django response. The sessions and auth batteries use them so that a page
that depends on who asked is never stored by a shared cache.
"""

from __future__ import annotations

__all__ = ["mark_private", "patch_vary_headers"]

Headers = list[tuple[bytes, bytes]]


def patch_vary_headers(headers: Headers, *names: bytes) -> None:
    """Add ``names`` to the ``Vary`` header unless present (RFC 9110 section 12.5.5).

    Args:
        headers: The response's raw header list, edited in place.
        names: Request header names such as ``b"Cookie"``.
    """
    for index, (key, value) in enumerate(headers):
        if key.lower() == b"vary":
            tokens = {token.strip().lower() for token in value.split(b",")}
            if b"*" in tokens:
                return
            missing = [name for name in names if name.lower() not in tokens]
            if missing:
                headers[index] = (key, b", ".join([value, *missing]))
            return
    headers.append((b"vary", b", ".join(names)))


def mark_private(headers: Headers) -> None:
    """Add ``Cache-Control: private`` unless the response set its own.

    RFC 9111 section 5.2.2.7: a shared cache (a CDN, a proxy) must not
    store the response. A view that chose its own policy (``no-store``,
    ``public, max-age=60``) keeps it.
    """
    for key, _value in headers:
        if key.lower() == b"cache-control":
            return
    headers.append((b"cache-control", b"private"))
