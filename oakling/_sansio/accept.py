"""Content negotiation on the ``Accept`` header (RFC 9110 section 12.5.1)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["best_match", "parse_accept"]


def parse_accept(header: str) -> list[tuple[str, float]]:
    """Return ``[(media_range, q), ...]`` sorted by preference.

    Ties in ``q`` go to the more specific range (``text/html`` before
    ``text/*`` before ``*/*``), then to header order. Malformed ``q`` values
    count as 0, never an error.
    """
    ranges: list[tuple[float, int, int, str]] = []
    for index, item in enumerate(header.split(",")):
        parts = item.split(";")
        media = parts[0].strip().lower()
        if not media:
            continue
        quality = 1.0
        for param in parts[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
                if not 0.0 <= quality <= 1.0:
                    quality = 0.0
        specificity = 0 if media == "*/*" else 1 if media.endswith("/*") else 2
        ranges.append((quality, specificity, -index, media))
    ranges.sort(reverse=True)
    return [(media, quality) for quality, _, _, media in ranges]


def _matches(media_range: str, offer: str) -> bool:
    if media_range == "*/*":
        return True
    if media_range.endswith("/*"):
        return offer.split("/", 1)[0] == media_range[:-2]
    return media_range == offer


def best_match(header: str | None, offers: Sequence[str]) -> str | None:
    """Pick the offer the client prefers, or None if it accepts none of them.

    A missing or empty ``Accept`` means ``*/*`` and picks the first offer.
    """
    if not offers:
        return None
    if not header:
        return offers[0]
    lowered = [offer.lower() for offer in offers]
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    parsed = parse_accept(header)
    for offer_index, offer in enumerate(lowered):
        # The most specific matching range decides an offer's quality.
        quality = None
        specificity = -1
        for media_range, range_quality in parsed:
            if _matches(media_range, offer):
                spec = 0 if media_range == "*/*" else 1 if media_range.endswith("/*") else 2
                if spec > specificity:
                    specificity, quality = spec, range_quality
        if quality is None or quality <= 0.0:
            continue
        key = (quality, specificity, -offer_index)
        if best is None or key > best:
            best, chosen = key, offers[offer_index]
    return chosen
