"""Raw ASGI header list helpers shared by the shipped middleware."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["add_vary", "header_values"]

RawHeaders = list[tuple[bytes, bytes]]


def header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    """Return every value of the lowercase header ``name``, in order."""
    return [value for key, value in headers if key.lower() == name]


def add_vary(headers: RawHeaders, token: bytes) -> None:
    """Add ``token`` to ``Vary`` in place, unless listed already or ``Vary: *``.

    Every ``Vary`` line counts (RFC 9110 section 12.5.5 allows several); the
    token is appended to the first one, or a new line is added.
    """
    wanted = token.lower()
    first: int | None = None
    for index, (key, value) in enumerate(headers):
        if key.lower() != b"vary":
            continue
        if first is None:
            first = index
        for item in value.split(b","):
            item = item.strip().lower()
            if item == wanted or item == b"*":
                return
    if first is None:
        headers.append((b"vary", token))
    else:
        key, value = headers[first]
        headers[first] = (key, value + b", " + token if value.strip() else token)
