"""Conditional requests: validators, HTTP dates and preconditions (RFC 9110 section 13).

Everything here is pure: callers pass header values as text and the
resource's validators (an entity tag and a modification time in whole
seconds), and get back the status to answer with. No parser raises on bad
input: a malformed header is ignored, as RFC 9110 asks of recipients.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime

__all__ = [
    "etag_matches",
    "evaluate_preconditions",
    "format_http_date",
    "if_range_matches",
    "make_etag",
    "parse_http_date",
]

# SECURITY: the longest valid HTTP-date is 33 characters (rfc850-date with a
# long weekday); anything much longer is not a date and is not worth parsing.
_MAX_DATE_LENGTH = 64

_SAFE_METHODS = frozenset(("GET", "HEAD"))


def format_http_date(timestamp: float) -> str:
    """Format a POSIX timestamp as an IMF-fixdate (RFC 9110 section 5.6.7).

    Args:
        timestamp: Seconds since the epoch; the fraction is dropped.

    Returns:
        For example ``"Sun, 06 Nov 1994 08:49:37 GMT"``.
    """
    return formatdate(int(timestamp), usegmt=True)


def parse_http_date(value: str) -> int | None:
    """Parse an HTTP-date into a POSIX timestamp in whole seconds.

    Accepts the three formats RFC 9110 section 5.6.7 obliges recipients to
    read: IMF-fixdate, the obsolete RFC 850 form and ANSI C's ``asctime()``
    form (read as UTC, since it carries no zone).

    Returns:
        The timestamp, or None when ``value`` is not a date; never raises,
        because RFC 9110 section 13.1.3 says an invalid date is ignored.
    """
    if len(value) > _MAX_DATE_LENGTH:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return int(parsed.timestamp())
    except (OverflowError, OSError, ValueError):
        return None


def make_etag(mtime_ns: int, size: int) -> str:
    """Return a strong entity tag for a file, ``"<mtime_ns hex>-<size hex>"``.

    The tag is strong (no ``W/``) so that ``If-Range`` can resume a download
    with it: RFC 9110 section 13.1.5 compares ``If-Range`` tags strongly, so a
    weak tag would turn every resumed download into a full one. nginx makes
    the same choice from the same inputs. The tag changes whenever the
    modification time (in nanoseconds) or the size does; a file rewritten
    with the same size within one tick of the file system's clock keeps its
    tag, a limit every mtime-based validator shares.

    Args:
        mtime_ns: Modification time in nanoseconds (``os.stat_result.st_mtime_ns``).
        size: Size in bytes.
    """
    return f'"{mtime_ns:x}-{size:x}"'


def _iter_etags(value: str) -> Iterator[tuple[bool, str]]:
    """Yield ``(weak, opaque_tag)`` for each entity tag of a list header.

    One left-to-right pass (no regular expression, no backtracking). An
    entity tag may contain commas inside its quotes (RFC 9110 section 8.8.3),
    so the list is scanned, not split. Unquoted garbage up to the next comma
    is skipped: it can match nothing.
    """
    length = len(value)
    pos = 0
    while pos < length:
        char = value[pos]
        if char in " \t,":
            pos += 1
            continue
        weak = value.startswith("W/", pos)
        if weak:
            pos += 2
        if pos < length and value[pos] == '"':
            end = value.find('"', pos + 1)
            if end < 0:
                return  # NOTE: an unterminated tag ends the list.
            yield weak, value[pos : end + 1]
            pos = end + 1
        else:
            comma = value.find(",", pos)
            pos = length if comma < 0 else comma + 1


def etag_matches(header: str, etag: str | None, *, weak: bool) -> bool:
    """Tell whether an ``If-Match``/``If-None-Match`` list matches ``etag``.

    Args:
        header: The field value: ``*`` or a comma-separated list of entity tags.
        etag: The resource's current tag (``'"abc"'`` or ``'W/"abc"'``), or
            None if it has none; ``*`` matches any existing resource anyway.
        weak: Use the weak comparison (RFC 9110 section 8.8.3.2: the opaque
            tags are equal, ``W/`` ignored), as ``If-None-Match`` does; else
            the strong one (both strong and equal), as ``If-Match`` does.
    """
    if header.strip(" \t") == "*":
        return True
    if etag is None:
        return False
    current_weak = etag.startswith("W/")
    current = etag[2:] if current_weak else etag
    if not weak and current_weak:
        return False
    for tag_weak, tag in _iter_etags(header):
        if tag == current and (weak or not tag_weak):
            return True
    return False


def evaluate_preconditions(
    method: str,
    etag: str | None,
    last_modified: int | None,
    *,
    if_match: str | None = None,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
    if_unmodified_since: str | None = None,
) -> int | None:
    """Evaluate a request's preconditions in RFC 9110 section 13.2.2's order.

    Call it only when the response would otherwise be a 2xx (section 13.2.1).

    1. ``If-Match`` (strong comparison) false: 412.
    2. Else ``If-Unmodified-Since`` (a valid date) earlier than the
       modification time: 412.
    3. ``If-None-Match`` (weak comparison) matching: 304 for GET and HEAD,
       412 for other methods.
    4. Else, for GET and HEAD, ``If-Modified-Since`` (a valid date) no
       earlier than the modification time: 304.

    Args:
        method: The request method, upper case.
        etag: The resource's entity tag, or None.
        last_modified: Its modification time, POSIX seconds (the precision of
            ``Last-Modified``), or None.
        if_match: The ``If-Match`` value, or None when absent.
        if_none_match: The ``If-None-Match`` value, or None when absent.
        if_modified_since: The ``If-Modified-Since`` value, or None.
        if_unmodified_since: The ``If-Unmodified-Since`` value, or None.

    Returns:
        304 or 412 to answer with instead, or None to go on.
    """
    if if_match is not None:
        if not etag_matches(if_match, etag, weak=False):
            return 412
    elif if_unmodified_since is not None and last_modified is not None:
        date = parse_http_date(if_unmodified_since)
        if date is not None and last_modified > date:
            return 412
    if if_none_match is not None:
        if etag_matches(if_none_match, etag, weak=True):
            return 304 if method in _SAFE_METHODS else 412
    elif if_modified_since is not None and last_modified is not None:
        if method in _SAFE_METHODS:
            date = parse_http_date(if_modified_since)
            if date is not None and last_modified <= date:
                return 304
    return None


def if_range_matches(value: str, etag: str | None, last_modified: int | None) -> bool:
    """Tell whether an ``If-Range`` value still names the current representation.

    RFC 9110 section 13.1.5: an entity tag matches by the strong comparison
    (a weak tag never matches); a date matches only when it equals the
    ``Last-Modified`` value exactly. Anything else, malformed values
    included, is false, which means "send the whole representation".
    """
    value = value.strip(" \t")
    if value.startswith(('"', 'W/"')):
        if etag is None or value.startswith("W/") or etag.startswith("W/"):
            return False
        return value == etag
    if last_modified is None:
        return False
    return parse_http_date(value) == last_modified
