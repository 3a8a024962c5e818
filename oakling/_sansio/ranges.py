"""Range requests: the ``Range`` header and ``multipart/byteranges`` (RFC 9110 section 14).

SECURITY: a ``Range`` header is attacker-controlled work. Parsing here is one
pass over a header of at most :data:`MAX_RANGE_HEADER` characters, then one
sort of the (so at most a couple of thousand) ranges to merge overlapping and
adjacent ones; a header that still names more than :data:`MAX_RANGES` ranges
is ignored and the whole file is sent, as RFC 9110 section 14.2 allows for
"many small ranges". This closes both the slow-parsing attack (Starlette's
CVE-2025-62727 was quadratic range parsing) and the amplification attack
(``bytes=0-,0-,0-,...`` making the server send a file a thousand times).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "MAX_RANGES",
    "MAX_RANGE_HEADER",
    "content_range",
    "multipart_byteranges",
    "parse_range_header",
]

MAX_RANGE_HEADER = 4096
"""Longest ``Range`` value read, in characters; longer ones are ignored."""

MAX_RANGES = 16
"""Most ranges served in one response, counted after merging."""

# NOTE: 18 digits is under 2**63; longer numbers are only "very large" here,
# which spares int() a long conversion and keeps sizes in a machine word.
_MAX_DIGITS = 18
_HUGE = 10**_MAX_DIGITS


def _to_int(digits: str) -> int | None:
    """Return the value of ``1*DIGIT`` (ASCII only), or None for anything else."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    digits = digits.lstrip("0") or "0"
    return _HUGE if len(digits) > _MAX_DIGITS else int(digits)


def parse_range_header(header: str, size: int) -> list[tuple[int, int]] | None:
    """Parse a ``Range`` header against a representation of ``size`` bytes.

    Implements RFC 9110 section 14.1.1: ``bytes=0-499``, ``bytes=500-``,
    ``bytes=-500`` (the last 500 bytes), and lists of them. Last positions
    past the end are clamped; ranges starting past the end (or empty
    suffixes) are unsatisfiable and dropped. Overlapping and adjacent ranges
    are merged (section 14.2 allows it), and the merged ranges keep the order
    the client asked for them in (section 15.3.7.2).

    Args:
        header: The ``Range`` field value.
        size: The representation's length in bytes.

    Returns:
        - ``None`` to ignore the header and send the whole representation
          (200): a unit other than ``bytes``, any malformed range (section
          14.2 says to ignore it), a header longer than
          :data:`MAX_RANGE_HEADER`, or more than :data:`MAX_RANGES` ranges
          after merging;
        - ``[]`` when no range is satisfiable (answer 416);
        - otherwise ``[(first, last), ...]``, inclusive byte positions as
          ``Content-Range`` writes them, with ``0 <= first <= last < size``.
    """
    if len(header) > MAX_RANGE_HEADER:
        return None
    unit, equals, range_set = header.partition("=")
    if not equals or unit.strip(" \t").lower() != "bytes":
        return None
    # (first, last, position in the header)
    ranges: list[tuple[int, int, int]] = []
    specs = 0
    for item in range_set.split(","):
        item = item.strip(" \t")
        if not item:
            continue  # NOTE: RFC 9110 section 5.6.1.2: empty list elements are ignored.
        specs += 1
        first_text, dash, last_text = item.partition("-")
        if not dash:
            return None
        if not first_text:
            suffix = _to_int(last_text)
            if suffix is None:
                return None
            if suffix == 0 or size == 0:
                continue
            ranges.append((max(size - suffix, 0), size - 1, specs))
            continue
        first = _to_int(first_text)
        if first is None:
            return None
        if last_text:
            last = _to_int(last_text)
            if last is None or last < first:
                return None
        else:
            last = size - 1
        if first >= size:
            continue
        ranges.append((first, min(last, size - 1), specs))
    if specs == 0:
        return None
    if not ranges:
        return []
    if len(ranges) == 1:
        return [(ranges[0][0], ranges[0][1])]
    ranges.sort()
    merged: list[list[int]] = []
    for first, last, order in ranges:
        if merged and first <= merged[-1][1] + 1:
            previous = merged[-1]
            previous[1] = max(previous[1], last)
            previous[2] = min(previous[2], order)
        else:
            merged.append([first, last, order])
    if len(merged) > MAX_RANGES:
        return None
    merged.sort(key=lambda item: item[2])
    return [(first, last) for first, last, _ in merged]


def content_range(first: int, last: int, size: int) -> str:
    """Return a ``Content-Range`` value: ``"bytes 0-499/1234"`` (RFC 9110 section 14.4)."""
    return f"bytes {first}-{last}/{size}"


def multipart_byteranges(
    ranges: Sequence[tuple[int, int]], size: int, content_type: str | None, boundary: str
) -> tuple[list[bytes], bytes, int]:
    """Frame several ranges as a ``multipart/byteranges`` body (RFC 9110 section 14.6).

    The body is, for each range, its head (boundary line, ``Content-Type``,
    ``Content-Range``, blank line) then its bytes, and at the end the closing
    delimiter. Each head after the first starts with the CRLF that ends the
    previous part's bytes (RFC 2046 section 5.1.1).

    Args:
        ranges: Inclusive ``(first, last)`` byte positions.
        size: The representation's length in bytes.
        content_type: The representation's type, repeated in each part, or None.
        boundary: The delimiter, 1 to 70 characters that never occur in the
            data (a random hex string does).

    Returns:
        ``(heads, tail, content_length)``: one head per range, the closing
        bytes, and the whole body's length in bytes.
    """
    heads: list[bytes] = []
    length = 0
    for index, (first, last) in enumerate(ranges):
        lines = "\r\n" if index else ""
        lines += f"--{boundary}\r\n"
        if content_type is not None:
            lines += f"Content-Type: {content_type}\r\n"
        lines += f"Content-Range: {content_range(first, last, size)}\r\n\r\n"
        head = lines.encode("latin-1")
        heads.append(head)
        length += len(head) + last - first + 1
    tail = f"\r\n--{boundary}--\r\n".encode("latin-1")
    return heads, tail, length + len(tail)
