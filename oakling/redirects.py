"""Which redirect targets are safe (Django's ``url_has_allowed_host_and_scheme``)."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

__all__ = ["is_safe_redirect"]

_MAX_URL = 2048


def is_safe_redirect(url: str) -> bool:
    r"""Return whether ``url`` is a path on this site, safe to redirect to.

    Django's ``url_has_allowed_host_and_scheme`` with no allowed hosts: only
    a relative path starting with one ``/`` passes. Refused: absolute URLs
    (``https://evil.example``), scheme-relative ones (``//evil.example``),
    backslash tricks browsers read as ``//`` (``/\evil.example``), other
    schemes (``javascript:``), control characters, which browsers strip
    (``/\t/evil.example`` would become ``//evil.example``), and anything over
    2,048 characters.
    """
    if not url or len(url) > _MAX_URL or not url.startswith("/"):
        return False
    if any(unicodedata.category(char) == "Cc" for char in url):
        return False
    # NOTE: Chrome and others treat "\" as "/" in the authority part.
    normalized = url.replace("\\", "/")
    if normalized.startswith("//"):
        return False
    parts = urlsplit(normalized)
    return not parts.scheme and not parts.netloc
