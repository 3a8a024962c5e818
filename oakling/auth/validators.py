"""Password validators: Django's four, and ``validate_password`` running them.

The common-password list, ``data/common-passwords.txt.gz`` (20,000 passwords,
lowercased and deduplicated, made by Royce Williams), is copied unchanged
from Django (``django/contrib/auth/common-passwords.txt.gz``), which
distributes it under its BSD 3-Clause licence, Copyright (c) Django Software
Foundation and individual contributors. It is data, not code.
"""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Protocol

from oakling.i18n.translation import gettext, gettext_noop, ngettext

from .hashers import MAX_PASSWORD_LENGTH

__all__ = [
    "DEFAULT_PASSWORD_LIST",
    "CommonPasswordValidator",
    "MinimumLengthValidator",
    "NumericPasswordValidator",
    "PasswordValidationError",
    "PasswordValidator",
    "UserAttributeSimilarityValidator",
    "default_validators",
    "validate_password",
]

#: The gzipped list of 20,000 common passwords shipped with oakling (Django's).
DEFAULT_PASSWORD_LIST = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"


class PasswordValidationError(ValueError):
    """A password refused by one or more validators.

    Attributes:
        messages: Every validator's message, in validator order, for display.
    """

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages: list[str] = list(messages)
        super().__init__(" ".join(self.messages))


class PasswordValidator(Protocol):
    """What a validator is: Django's validator interface, less i18n."""

    def validate(self, password: str, user: Any = None) -> None:
        """Raise PasswordValidationError if ``password`` is refused."""

    def help_text(self) -> str:
        """Return a sentence describing the rule, for forms."""


# NOTE: the user attributes the similarity message names, for extraction.
_ATTRIBUTE_LABELS = (
    gettext_noop("username"),
    gettext_noop("first name"),
    gettext_noop("last name"),
    gettext_noop("email"),
)


class MinimumLengthValidator:
    """Refuse passwords shorter than ``min_length`` characters (default 8).

    Also refuses passwords longer than
    :data:`oakling.auth.hashers.MAX_PASSWORD_LENGTH`, which could never verify.
    """

    def __init__(self, min_length: int = 8) -> None:
        self.min_length = min_length

    def validate(self, password: str, user: Any = None) -> None:
        """Raise PasswordValidationError if ``password`` is too short or too long."""
        if len(password) < self.min_length:
            raise PasswordValidationError(
                [
                    ngettext(
                        "This password is too short. It must contain at least "
                        "%(min_length)d character.",
                        "This password is too short. It must contain at least "
                        "%(min_length)d characters.",
                        self.min_length,
                    )
                    % {"min_length": self.min_length}
                ]
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise PasswordValidationError(
                [
                    gettext("This password is too long. It can have at most %(max)d characters.")
                    % {"max": MAX_PASSWORD_LENGTH}
                ]
            )

    def help_text(self) -> str:
        """Return the rule as a sentence."""
        return gettext("Your password must contain at least %(min_length)d characters.") % {
            "min_length": self.min_length
        }


@functools.cache
def _load_list(path: Path) -> frozenset[str]:
    # PERF: 20,000 lines, read once per path (about 10 ms).
    try:
        with gzip.open(path, "rt", encoding="utf-8") as stream:
            return frozenset(line.strip() for line in stream)
    except gzip.BadGzipFile:
        with open(path, encoding="utf-8") as stream:
            return frozenset(line.strip() for line in stream)


class CommonPasswordValidator:
    """Refuse passwords from a list of common ones (Django's validator).

    The comparison is on ``password.lower().strip()``; the list (gzipped or
    plain, one lowercase password a line) is read on first use.

    Args:
        password_list_path: The list to use; default :data:`DEFAULT_PASSWORD_LIST`.
    """

    def __init__(self, password_list_path: str | Path = DEFAULT_PASSWORD_LIST) -> None:
        self.password_list_path = Path(password_list_path)

    @property
    def passwords(self) -> frozenset[str]:
        """The common passwords, lowercased."""
        return _load_list(self.password_list_path)

    def validate(self, password: str, user: Any = None) -> None:
        """Raise PasswordValidationError if ``password`` is in the list."""
        if password.lower().strip() in self.passwords:
            raise PasswordValidationError([gettext("This password is too common.")])

    def help_text(self) -> str:
        """Return the rule as a sentence."""
        return gettext("Your password can't be a commonly used password.")


class NumericPasswordValidator:
    """Refuse passwords made only of digits (Django's validator)."""

    def validate(self, password: str, user: Any = None) -> None:
        """Raise PasswordValidationError if ``password`` is entirely numeric."""
        if password.isdigit():
            raise PasswordValidationError([gettext("This password is entirely numeric.")])

    def help_text(self) -> str:
        """Return the rule as a sentence."""
        return "Your password can't be entirely numeric."


class UserAttributeSimilarityValidator:
    """Refuse passwords too similar to the user's username or email.

    Django's validator: each attribute, and each part of it split on
    non-word characters (``jane``, ``example``, ``com`` of an email), is
    compared with :class:`difflib.SequenceMatcher`'s ``quick_ratio``; a
    ratio of ``max_similarity`` (default 0.7) or more refuses the password.
    Without a user (or attributes) nothing is checked.

    Args:
        user_attributes: The attribute names read from the user object.
        max_similarity: The refusing ratio, at least 0.1.

    Raises:
        ValueError: If ``max_similarity`` is below 0.1.
    """

    DEFAULT_USER_ATTRIBUTES = ("username", "email", "first_name", "last_name")

    def __init__(
        self,
        user_attributes: Iterable[str] = DEFAULT_USER_ATTRIBUTES,
        max_similarity: float = 0.7,
    ) -> None:
        if max_similarity < 0.1:
            raise ValueError("max_similarity must be at least 0.1")
        self.user_attributes = tuple(user_attributes)
        self.max_similarity = max_similarity

    def validate(self, password: str, user: Any = None) -> None:
        """Raise PasswordValidationError if ``password`` resembles an attribute."""
        if user is None:
            return
        lowered = password.lower()
        for attribute in self.user_attributes:
            value = getattr(user, attribute, None)
            if not value or not isinstance(value, str):
                continue
            value = value.lower()
            for part in [*re.split(r"\W+", value), value]:
                if not part or self._too_different_in_length(lowered, part):
                    continue
                ratio = SequenceMatcher(a=lowered, b=part).quick_ratio()
                if ratio >= self.max_similarity:
                    label = attribute.replace("_", " ")
                    raise PasswordValidationError(
                        [
                            gettext("The password is too similar to the %(attribute)s.")
                            % {"attribute": gettext(label)}
                        ]
                    )

    def _too_different_in_length(self, password: str, value: str) -> bool:
        # PERF: Django's exceeds_maximum_length_ratio: with a length ratio of
        # 10 the similarity is below 2/10, so the matcher need not run.
        length_bound = self.max_similarity / 2 * len(password)
        return len(password) >= 10 * len(value) and len(value) < length_bound

    def help_text(self) -> str:
        """Return the rule as a sentence."""
        return "Your password can't be too similar to your other personal information."


def default_validators() -> list[PasswordValidator]:
    """Return Django's default four: length 8, common, numeric, similarity."""
    return [
        UserAttributeSimilarityValidator(),
        MinimumLengthValidator(8),
        CommonPasswordValidator(),
        NumericPasswordValidator(),
    ]


def validate_password(
    password: str, user: Any = None, validators: Sequence[PasswordValidator] | None = None
) -> None:
    """Run every validator and report all their messages at once.

    Django's ``password_validation.validate_password``.

    Args:
        password: The candidate password.
        user: An object with ``username`` and ``email`` (a ``User``, even
            unsaved), for the similarity check; None skips it.
        validators: The validators; default :func:`default_validators`.

    Raises:
        PasswordValidationError: With every message, if any validator refuses.
    """
    if not isinstance(password, str):
        raise PasswordValidationError([gettext("A password must be text.")])
    messages: list[str] = []
    for validator in default_validators() if validators is None else validators:
        try:
            validator.validate(password, user)
        except PasswordValidationError as ex:
            messages.extend(ex.messages)
    if messages:
        raise PasswordValidationError(messages)
