"""Password-reset links: signed, expiring and single-use (Django's token generator).

A token is the user's id signed with itsdangerous' ``URLSafeTimedSerializer``
(HMAC-SHA1 over the payload and a timestamp, keyed by ``SECRET_KEY``). The
signature's salt also covers a digest of the user's password hash, last
login and e-mail address, which never appear in the link: once the link
has been used (the password changed), or the user logged in meanwhile, or
changed address, the signature no longer verifies. The timestamp bounds
its life (``PASSWORD_RESET_TIMEOUT``, three days by default, Django's).

Keys in ``SECRET_KEY_FALLBACKS`` still verify tokens; new ones are signed
with ``SECRET_KEY`` only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

__all__ = [
    "DEFAULT_RESET_TIMEOUT",
    "InvalidResetToken",
    "make_reset_token",
    "reset_token_user_id",
    "verify_reset_token",
]

#: Seconds a reset link stays valid: three days (Django's PASSWORD_RESET_TIMEOUT).
DEFAULT_RESET_TIMEOUT = 259_200

_SALT = "oakling.auth.password-reset"


class InvalidResetToken(ValueError):
    """A reset token that is malformed, forged, used, or expired.

    Attributes:
        expired: True when the signature was valid but the link is too old.
    """

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def _state(user: Any) -> str:
    """Digest of what a reset or a login changes; kept out of the link."""
    last_login = user.last_login.isoformat() if user.last_login is not None else ""
    parts = [str(user.id), user.password or "", last_login, user.email or "", str(user.is_active)]
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def _signer_at(timestamp: int) -> type[TimestampSigner]:
    class _FixedTime(TimestampSigner):
        def get_timestamp(self) -> int:
            return timestamp

    return _FixedTime


def _serializer(
    keys: Sequence[str], user: Any | None, issued_at: int | None = None
) -> URLSafeTimedSerializer:
    salt = _SALT if user is None else f"{_SALT}:{_state(user)}"
    # NOTE: itsdangerous signs with the last key and verifies with any.
    ordered = [*reversed(keys[1:]), keys[0]]
    if issued_at is None:
        return URLSafeTimedSerializer(ordered, salt=salt)
    return URLSafeTimedSerializer(ordered, salt=salt, signer=_signer_at(issued_at))


def make_reset_token(user: Any, keys: Sequence[str], *, issued_at: int | None = None) -> str:
    """Return a URL-safe reset token for ``user``.

    Args:
        user: The user (``id``, ``password``, ``last_login``, ``email``).
        keys: ``[SECRET_KEY, *SECRET_KEY_FALLBACKS]``; the first signs.
        issued_at: The token's time (Unix seconds); now by default. Tests
            pass an old one to check that links expire.
    """
    return _serializer(keys, user, issued_at).dumps(user.id)


def reset_token_user_id(token: str, keys: Sequence[str]) -> Any:
    """Return the user id a token names, WITHOUT trusting it (to load the user).

    Call :func:`verify_reset_token` with the loaded user before acting.

    Raises:
        InvalidResetToken: If the token does not even decode.
    """
    try:
        _, payload = _serializer(keys, None).loads_unsafe(token)
    except Exception as ex:  # noqa: BLE001 - any garbage is just an invalid link
        raise InvalidResetToken(f"malformed reset token: {type(ex).__name__}") from None
    if isinstance(payload, bool) or not isinstance(payload, (int, str)):
        raise InvalidResetToken("malformed reset token")
    return payload


def verify_reset_token(token: str, user: Any, keys: Sequence[str], max_age: int) -> None:
    """Check that ``token`` was made for ``user`` as it is now, within ``max_age`` seconds.

    Raises:
        InvalidResetToken: If the signature does not match (forged, made
            for another user, or made before the password, last login or
            e-mail changed: used already), or if it is older than
            ``max_age`` (``.expired`` is then True).
    """
    try:
        user_id = _serializer(keys, user).loads(token, max_age=max_age)
    except SignatureExpired:
        raise InvalidResetToken("the reset link has expired", expired=True) from None
    except BadSignature:
        raise InvalidResetToken("the reset link is invalid or was already used") from None
    if user_id != user.id:
        raise InvalidResetToken("the reset link is invalid or was already used")
