"""Usernames: length-checked, NFKC-normalised, and a key that look-alikes share.

Two steps, both pure functions:

- :func:`normalize_username` is what is stored in ``User.username``: the raw
  input is length-checked first (NFKC can expand a character up to 18
  times), then NFKC-normalised (fullwidth ``ａｄｍｉｎ`` becomes ``admin``, as
  Django's ``AbstractBaseUser.normalize_username`` does), then checked again:
  1 to 150 characters of letters, digits and ``@ . + - _`` (Django's
  ``UnicodeUsernameValidator``).
- :func:`username_key` is stored in the unique ``User.username_key`` column:
  NFKC, ``casefold()``, then every character of another script that Unicode's
  confusables list (TR39 ``confusables.txt``, shipped by the
  ``confusable-homoglyphs`` package) maps to a Latin look-alike is replaced
  by it. ``admin``, ``Admin``, ``ADMIN``, ``аdmin`` (Cyrillic а) and
  ``ａｄｍｉｎ`` then share the key ``admin``: the second to register is
  refused, and logins look users up by key.

The key only folds letters of other scripts onto Latin ones; Latin look-alikes
within one script (``l`` and ``I``, ``rn`` and ``m``) stay distinct, as they
do on Django and most sites.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

from oakling.i18n.translation import gettext

__all__ = ["MAX_USERNAME_LENGTH", "InvalidUsername", "normalize_username", "username_key"]

#: Longest username, in characters, after normalisation (Django's 150).
MAX_USERNAME_LENGTH = 150

# SECURITY: checked before any normalisation, so a megabyte of input costs
# nothing: 4 is the most UTF-8 bytes one character takes.
_MAX_RAW_BYTES = MAX_USERNAME_LENGTH * 4

# Django's UnicodeUsernameValidator: r"^[\w.@+-]+\Z".
_ALLOWED = re.compile(r"[\w.@+-]+\Z")

_LATIN = "LATIN"


class InvalidUsername(ValueError):
    """A username that is empty, too long, or has characters not allowed."""


def normalize_username(raw: str) -> str:
    """Check and NFKC-normalise a username as typed.

    Returns:
        The NFKC form, to store in ``User.username``.

    Raises:
        InvalidUsername: If ``raw`` is not a string, is empty, longer than
            150 characters (or 600 UTF-8 bytes) before or after
            normalisation, has leading or trailing whitespace, or holds a
            character other than letters, digits and ``@ . + - _``.
    """
    if not isinstance(raw, str):
        raise InvalidUsername(gettext("A username must be text."))
    # SECURITY: len() first: encoding a huge string is itself work.
    if len(raw) > MAX_USERNAME_LENGTH or len(raw.encode("utf-8", "replace")) > _MAX_RAW_BYTES:
        raise InvalidUsername(
            gettext("A username has at most %(max)d characters.") % {"max": MAX_USERNAME_LENGTH}
        )
    if not raw:
        raise InvalidUsername(gettext("A username is required."))
    if raw != raw.strip():
        raise InvalidUsername(gettext("A username cannot start or end with spaces."))
    name = unicodedata.normalize("NFKC", raw)
    if not name:
        raise InvalidUsername(gettext("A username is required."))
    if len(name) > MAX_USERNAME_LENGTH:
        raise InvalidUsername(
            gettext("A username has at most %(max)d characters.") % {"max": MAX_USERNAME_LENGTH}
        )
    if not _ALLOWED.match(name):
        raise InvalidUsername(
            gettext("A username may contain only letters, digits and the characters @ . + - _")
        )
    return name


def username_key(name: str) -> str:
    """Return the look-alike key of a username (see the module docstring).

    Two usernames with the same key are the same account for sign-up (the
    second is refused) and for login. Works on any string; call
    :func:`normalize_username` first to validate.

    Returns:
        NFKC + casefold, with letters of other scripts replaced by their
        Latin look-alikes.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    if folded.isascii():
        return folded  # PERF: the common case needs no table
    mapping = _latin_lookalikes()
    return unicodedata.normalize(
        "NFKC", "".join(mapping.get(char, char) for char in folded)
    ).casefold()


@functools.cache
def _latin_lookalikes() -> dict[str, str]:
    """Map each non-Latin character to a Latin look-alike, from TR39's list.

    PERF: built once, on the first non-ASCII username (about 0.2 s).
    """
    try:
        # NOTE: the package ships no type information (no py.typed).
        from confusable_homoglyphs import (  # type: ignore[import-untyped]
            categories,
            confusables,
        )
    except ImportError as ex:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"look-alike usernames need confusable-homoglyphs ({ex}); "
            "install it with: pip install 'oakling[auth]'"
        ) from ex
    alias = categories.alias
    data: dict[str, list[dict[str, Any]]] = confusables.confusables_data
    mapping: dict[str, str] = {}
    for char, homoglyphs in data.items():
        if len(char) != 1 or alias(char) == _LATIN:
            continue
        for glyph in homoglyphs:
            target = glyph.get("c", "")
            # NOTE: a single Latin character, or Latin letters with digits or
            # punctuation: ``ɑ`` -> ``a``, ``Ꮃ`` -> ``W``.
            if (
                target
                and all(alias(part) in (_LATIN, "COMMON") for part in target)
                and any(alias(part) == _LATIN for part in target)
            ):
                mapping[char] = target.casefold()
                break
    return mapping
