"""Locale negotiation with no I/O: ``Accept-Language`` parsing and matching.

``Accept-Language`` (RFC 9110 section 12.5.4) is a list of language ranges
(RFC 4647 section 2.1) with q-values; :class:`LanguageMatcher` picks the
first supported language by the client's preference, by RFC 4647 section 3.4
"lookup" (``de-AT-1996`` → ``de-AT`` → ``de``) and, as Django does, a
supported regional variant for a bare base language (``de`` → ``de-CH`` when
only that is offered). ``*`` means the default. Work is bounded: a header
over :data:`MAX_HEADER_LENGTH` characters or with more than
:data:`MAX_RANGES` ranges is read no further than those limits, ranges that
are not valid tags are skipped, and answers are cached for short headers only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["MAX_HEADER_LENGTH", "MAX_RANGES", "LanguageMatcher", "parse_accept_language"]

#: Characters of ``Accept-Language`` read; the rest is ignored (browsers send < 100).
MAX_HEADER_LENGTH = 1024
#: Language ranges read from one header.
MAX_RANGES = 32

# RFC 4647 section 2.1 "extended" ranges are accepted as basic ones: ALPHA
# primary subtag of 1-8, then 1-8 alphanumerics per subtag.
_RANGE = re.compile(r"(?:\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)\Z")
_QVALUE = re.compile(r"[qQ]\s*=\s*(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\Z")
_CACHE_SIZE = 512
_CACHEABLE_LENGTH = 256


def parse_accept_language(header: str) -> list[tuple[str, float]]:
    """Return the header's ranges as ``(lowercase range, q)``, best first.

    Ranges with ``q=0`` (not acceptable), an invalid tag or an invalid
    q-value are dropped; ties keep the header's order (RFC 9110 leaves it
    open; browsers list in preference order). At most
    :data:`MAX_HEADER_LENGTH` characters and :data:`MAX_RANGES` ranges are read.

    Returns:
        A list such as ``[("de-at", 1.0), ("de", 0.8), ("*", 0.1)]``.
    """
    if len(header) > MAX_HEADER_LENGTH:
        # SECURITY: a 1 MB header costs one slice, not a million-item split.
        header = header[:MAX_HEADER_LENGTH].rsplit(",", 1)[0]
    ranges: list[tuple[str, float]] = []
    for index, item in enumerate(header.split(",", MAX_RANGES)):
        if index == MAX_RANGES:
            break
        tag, _, params = item.partition(";")
        tag = tag.strip()
        if not _RANGE.match(tag):
            continue
        quality = 1.0
        if params:
            # NOTE: only q is defined; another parameter makes the range invalid.
            match = _QVALUE.match(params.strip())
            if match is None:
                continue
            quality = float(match.group(1))
        if quality > 0:
            ranges.append((tag.lower(), quality))
    ranges.sort(key=lambda pair: -pair[1])
    return ranges


class LanguageMatcher:
    """Match ``Accept-Language`` headers against the supported languages.

    Args:
        supported: Language tags the app offers (``LANGUAGES``), first is not
            special; compared case-insensitively.
        default: The tag answered when nothing matches (``LANGUAGE_CODE``).

    Attributes:
        supported: ``{lowercase tag: tag as configured}``.
        default: The default tag.
    """

    def __init__(self, supported: Iterable[str], default: str) -> None:
        self.supported: dict[str, str] = {tag.lower(): tag for tag in supported}
        self.default = default
        # NOTE: base language -> first supported variant, for "de" -> "de-CH".
        self._variants: dict[str, str] = {}
        for lowered, tag in self.supported.items():
            self._variants.setdefault(lowered.split("-", 1)[0], tag)
        self._cache: dict[str, str] = {}

    def match_tag(self, tag: str) -> str | None:
        """Return the supported language for one tag or range, or None.

        Exact match first, then RFC 4647 lookup by dropping subtags from the
        end, then a supported variant of the base language.
        """
        lowered = tag.lower()
        found = self.supported.get(lowered)
        if found is not None:
            return found
        while "-" in lowered:
            lowered = lowered.rsplit("-", 1)[0]
            found = self.supported.get(lowered)
            if found is not None:
                return found
        return self._variants.get(lowered)

    def best(self, ranges: Sequence[tuple[str, float]]) -> str | None:
        """Return the best supported language for parsed ranges, or None."""
        for tag, _quality in ranges:
            if tag == "*":
                return self.default
            found = self.match_tag(tag)
            if found is not None:
                return found
        return None

    def from_header(self, header: str) -> str | None:
        """Return the supported language a raw ``Accept-Language`` asks for, or None.

        Results for headers up to 256 characters are cached (512 of them; the
        cache is emptied when full), so the usual browser header costs one
        dict lookup after the first request.
        """
        cached = self._cache.get(header)
        if cached is not None:
            return cached or None
        found = self.best(parse_accept_language(header))
        if len(header) <= _CACHEABLE_LENGTH:
            if len(self._cache) >= _CACHE_SIZE:
                # SECURITY: bounded memory whatever headers clients invent.
                self._cache.clear()
            self._cache[header] = found or ""
        return found
