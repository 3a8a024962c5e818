"""CSRF secrets and BREACH-masked tokens (Django's scheme), no I/O.

A session holds one secret of :data:`SECRET_LENGTH` alphanumeric characters.
Every token handed out is that secret masked with a fresh random mask of the
same length: ``token = mask + cipher`` where each cipher character is the
secret character shifted by the mask character, modulo the alphabet. The
token therefore differs on every call (no fixed string in compressed HTTPS
responses for a BREACH attacker to guess byte by byte) and unmasks to the
same secret. Django's ``_mask_cipher_secret`` / ``_unmask_cipher_token``.
"""

from __future__ import annotations

import hmac
import secrets
import string
from typing import TypeGuard

__all__ = [
    "ALPHABET",
    "SECRET_LENGTH",
    "TOKEN_LENGTH",
    "InvalidTokenFormat",
    "is_valid_secret",
    "mask_secret",
    "matches_secret",
    "new_secret",
    "unmask_token",
]

ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 32
TOKEN_LENGTH = 2 * SECRET_LENGTH

# PERF: character -> position, built once; str.index would scan the alphabet.
_POSITION = {char: index for index, char in enumerate(ALPHABET)}
_SIZE = len(ALPHABET)


class InvalidTokenFormat(ValueError):
    """A submitted token is not ``TOKEN_LENGTH`` alphanumeric characters.

    Attributes:
        reason: ``"has incorrect length"`` or ``"has invalid characters"``
            (Django's wording), to build the 403 message.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def new_secret() -> str:
    """Return a new random secret: 32 alphanumeric characters (~190 bits)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))


def is_valid_secret(value: object) -> TypeGuard[str]:
    """Return whether ``value`` is a well-formed secret (as stored in a session)."""
    return (
        isinstance(value, str)
        and len(value) == SECRET_LENGTH
        and all(char in _POSITION for char in value)
    )


def mask_secret(secret: str) -> str:
    """Return a new token for ``secret``: 32 mask characters + 32 cipher ones.

    Each call draws a new mask, so two tokens for one secret differ.
    """
    mask = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))
    cipher = "".join(
        ALPHABET[(_POSITION[plain] + _POSITION[key]) % _SIZE]
        for plain, key in zip(secret, mask, strict=True)
    )
    return mask + cipher


def unmask_token(token: str) -> str:
    """Return the secret a token was made from.

    Raises:
        InvalidTokenFormat: If ``token`` is not 64 alphanumeric characters.
    """
    if len(token) != TOKEN_LENGTH:
        raise InvalidTokenFormat("has incorrect length")
    if not all(char in _POSITION for char in token):
        raise InvalidTokenFormat("has invalid characters")
    mask, cipher = token[:SECRET_LENGTH], token[SECRET_LENGTH:]
    return "".join(
        ALPHABET[(_POSITION[char] - _POSITION[key]) % _SIZE]
        for char, key in zip(cipher, mask, strict=True)
    )


def matches_secret(token: str, secret: str) -> bool:
    """Return whether ``token`` unmasks to ``secret`` (constant-time compare).

    Raises:
        InvalidTokenFormat: If ``token`` is malformed.
    """
    # SECURITY: compare_digest, so the time taken tells nothing about how
    # many leading characters of a guess were right.
    return hmac.compare_digest(unmask_token(token).encode(), secret.encode())
