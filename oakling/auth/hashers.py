"""Password hashing: argon2id by default; Django's and Werkzeug's hashes verified.

New hashes are argon2id (argon2-cffi's ``PasswordHasher`` with its default,
RFC 9106-derived parameters), stored in Django's ``argon2$argon2id$...``
format so a hash written by oakling also verifies in Django. Hashes made by
Django (``pbkdf2_sha256$...``, ``pbkdf2_sha1$...``, ``argon2$...``) and by
Werkzeug/Flask (``pbkdf2:sha256:<iterations>$...``, ``scrypt:<n>:<r>:<p>$...``)
verify too; :func:`needs_rehash` is true for them, so
:func:`oakling.auth.services.authenticate` upgrades them to argon2id at the
next successful login and users move over without a password reset.

Every function here takes any string: a garbage, truncated or unknown hash
verifies as False, never raises.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets

try:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
except ImportError as ex:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"oakling.auth needs argon2-cffi ({ex}); install it with: pip install 'oakling[auth]'"
    ) from ex

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "UNUSABLE_PASSWORD_PREFIX",
    "check_password",
    "dummy_verify",
    "identify_hasher",
    "is_password_usable",
    "make_password",
    "make_unusable_password",
    "needs_rehash",
]

#: Longest password accepted, in characters. Longer ones never verify.
#: SECURITY: bounds the work one login attempt can cost (Django capped
#: passwords at 4096 characters for the same reason, CVE-2013-1443).
MAX_PASSWORD_LENGTH = 4096

#: Django's marker for a password that can never match (``set_unusable_password``).
UNUSABLE_PASSWORD_PREFIX = "!"

# SECURITY: a hash read from the database is trusted data, but a crafted or
# corrupted one must not make one verification take minutes or gigabytes.
_MAX_PBKDF2_ITERATIONS = 50_000_000
_MAX_SCRYPT_N = 2**20
_MAX_SCRYPT_R = 32
_MAX_SCRYPT_P = 16
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024  # bytes
_PBKDF2_DIGESTS = frozenset({"sha1", "sha256", "sha512"})
_DJANGO_ARGON2 = "argon2"

_hasher = PasswordHasher()


def make_password(raw: str) -> str:
    """Hash ``raw`` with argon2id and a random salt.

    Returns:
        Django's format, ``argon2$argon2id$v=19$m=...,t=...,p=...$<salt>$<hash>``.

    Raises:
        ValueError: If ``raw`` is longer than :data:`MAX_PASSWORD_LENGTH`.
    """
    if len(raw) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"passwords are at most {MAX_PASSWORD_LENGTH} characters")
    return _DJANGO_ARGON2 + _hasher.hash(raw)


def make_unusable_password() -> str:
    """Return a value no password matches: ``"!"`` and 40 random characters (Django's)."""
    return UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(30)


def is_password_usable(encoded: str | None) -> bool:
    """Return False for None and unusable passwords (Django's ``is_password_usable``)."""
    return encoded is not None and not encoded.startswith(UNUSABLE_PASSWORD_PREFIX)


def identify_hasher(encoded: str) -> str:
    """Name the scheme of a stored hash without verifying anything.

    Returns:
        ``"argon2"`` (Django's ``argon2$...`` and argon2-cffi's bare
        ``$argon2id$...``), ``"pbkdf2_sha256"``, ``"pbkdf2_sha1"`` (Django),
        ``"werkzeug_pbkdf2"``, ``"werkzeug_scrypt"``, ``"unusable"`` (``!...``),
        or ``"unknown"``.
    """
    if not isinstance(encoded, str) or not encoded:
        return "unknown"
    if encoded.startswith(UNUSABLE_PASSWORD_PREFIX):
        return "unusable"
    if encoded.startswith(("argon2$argon2", "$argon2")):
        return "argon2"
    if encoded.startswith("pbkdf2_sha256$"):
        return "pbkdf2_sha256"
    if encoded.startswith("pbkdf2_sha1$"):
        return "pbkdf2_sha1"
    if encoded.startswith("pbkdf2:"):
        return "werkzeug_pbkdf2"
    if encoded.startswith("scrypt:"):
        return "werkzeug_scrypt"
    return "unknown"


def check_password(raw: str, encoded: str | None) -> bool:
    """Return whether ``raw`` matches the stored hash ``encoded``.

    Verifies every format :func:`identify_hasher` names; digests are
    compared with :func:`hmac.compare_digest`. Django's ``check_password``
    and Werkzeug's ``check_password_hash`` in one.

    Returns:
        True on a match; False on a mismatch, an unusable or unknown hash, a
        malformed or truncated one, out-of-bounds parameters, or a password
        longer than :data:`MAX_PASSWORD_LENGTH`. Never raises.
    """
    if not isinstance(raw, str) or not isinstance(encoded, str):
        return False
    if len(raw) > MAX_PASSWORD_LENGTH:
        return False
    scheme = identify_hasher(encoded)
    try:
        if scheme == "argon2":
            return _check_argon2(raw, encoded)
        if scheme in ("pbkdf2_sha256", "pbkdf2_sha1"):
            return _check_django_pbkdf2(raw, encoded)
        if scheme == "werkzeug_pbkdf2":
            return _check_werkzeug_pbkdf2(raw, encoded)
        if scheme == "werkzeug_scrypt":
            return _check_werkzeug_scrypt(raw, encoded)
    except (ValueError, TypeError, OverflowError, MemoryError, UnicodeError):
        return False
    return False


def needs_rehash(encoded: str) -> bool:
    """Return whether a hash should be replaced by :func:`make_password`'s.

    True for every non-argon2 scheme (Django's and Werkzeug's), for argon2
    hashes not in Django's ``argon2$`` format, and for argon2 hashes made
    with other parameters than the current defaults (argon2-cffi's
    ``check_needs_rehash``). False for unusable and unknown values: they
    cannot have verified.
    """
    scheme = identify_hasher(encoded)
    if scheme in ("unknown", "unusable"):
        return False
    if scheme != "argon2" or not encoded.startswith(_DJANGO_ARGON2 + "$"):
        return True
    try:
        return _hasher.check_needs_rehash(encoded[len(_DJANGO_ARGON2) :])
    except (InvalidHashError, ValueError):
        return True


@functools.cache
def _dummy_hash() -> str:
    # NOTE: made once per process, with the current parameters, so a dummy
    # verification costs what a real one costs.
    return _hasher.hash(secrets.token_urlsafe(16))


def dummy_verify(raw: str = "") -> None:
    """Spend the time of one real argon2id verification, then return.

    Call it when there is no user to check the password against, so that an
    unknown username and a wrong password take the same time (Django's
    ``ModelBackend`` hashes the password for the same reason). The first
    call also makes the dummy hash; an app may call it once at startup.
    """
    candidate = raw if isinstance(raw, str) and len(raw) <= MAX_PASSWORD_LENGTH else ""
    try:
        _hasher.verify(_dummy_hash(), candidate)
    except VerificationError:
        pass


def _check_argon2(raw: str, encoded: str) -> bool:
    native = encoded[len(_DJANGO_ARGON2) :] if encoded.startswith(_DJANGO_ARGON2) else encoded
    try:
        return _hasher.verify(native, raw)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        return False


def _iterations(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError("iterations must be a decimal number")
    iterations = int(text)
    if not 1 <= iterations <= _MAX_PBKDF2_ITERATIONS:
        raise ValueError("iterations out of bounds")
    return iterations


def _check_django_pbkdf2(raw: str, encoded: str) -> bool:
    # Django: "<algorithm>$<iterations>$<salt>$<base64 of the derived key>".
    parts = encoded.split("$")
    if len(parts) != 4:
        return False
    algorithm, iterations_text, salt, b64_hash = parts
    digest = "sha256" if algorithm == "pbkdf2_sha256" else "sha1"
    try:
        expected = base64.b64decode(b64_hash.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeError):
        return False
    if not salt or len(expected) != hashlib.new(digest).digest_size:
        return False
    derived = hashlib.pbkdf2_hmac(
        digest, raw.encode("utf-8"), salt.encode("utf-8"), _iterations(iterations_text)
    )
    return hmac.compare_digest(derived, expected)


def _check_werkzeug_pbkdf2(raw: str, encoded: str) -> bool:
    # Werkzeug >= 2.3: "pbkdf2:<digest>:<iterations>$<salt>$<hex of the key>".
    parts = encoded.split("$")
    if len(parts) != 3:
        return False
    method, salt, hex_hash = parts
    fields = method.split(":")
    # NOTE: Werkzeug always records the iterations it used; a hash without
    # them cannot be verified reliably (its default changed over versions).
    if len(fields) != 3 or fields[1] not in _PBKDF2_DIGESTS or not salt:
        return False
    expected = bytes.fromhex(hex_hash)
    if len(expected) != hashlib.new(fields[1]).digest_size:
        return False
    derived = hashlib.pbkdf2_hmac(
        fields[1], raw.encode("utf-8"), salt.encode("utf-8"), _iterations(fields[2])
    )
    return hmac.compare_digest(derived, expected)


def _check_werkzeug_scrypt(raw: str, encoded: str) -> bool:
    # Werkzeug >= 2.3: "scrypt:<n>:<r>:<p>$<salt>$<hex of the 64-byte key>".
    parts = encoded.split("$")
    if len(parts) != 3:
        return False
    method, salt, hex_hash = parts
    fields = method.split(":")
    if len(fields) != 4 or not salt or not all(f.isascii() and f.isdigit() for f in fields[1:]):
        return False
    cost, block_size, parallel = (int(field) for field in fields[1:])
    if not (
        2 <= cost <= _MAX_SCRYPT_N
        and 1 <= block_size <= _MAX_SCRYPT_R
        and 1 <= parallel <= _MAX_SCRYPT_P
        and cost & (cost - 1) == 0
        and 128 * cost * block_size <= _MAX_SCRYPT_MEMORY
    ):
        return False
    expected = bytes.fromhex(hex_hash)
    if len(expected) != 64:
        return False
    derived = hashlib.scrypt(
        raw.encode("utf-8"),
        salt=salt.encode("utf-8"),
        n=cost,
        r=block_size,
        p=parallel,
        # NOTE: Werkzeug's own bound; OpenSSL needs a little over 128*n*r*p.
        maxmem=132 * cost * block_size * parallel,
        dklen=64,
    )
    return hmac.compare_digest(derived, expected)
