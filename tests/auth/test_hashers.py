"""Password hashing: argon2id by default, Django's and Werkzeug's hashes verified.

Hashes come from the real producers (Django's ``make_password``, Werkzeug's
``generate_password_hash``), from a literal Django-made hash, and from an
independent PBKDF2 written from RFC 8018 here; garbage never raises.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import statistics
import time
from typing import Any

import pytest
from argon2 import PasswordHasher
from werkzeug.security import generate_password_hash

from oakling.auth.hashers import (
    MAX_PASSWORD_LENGTH,
    check_password,
    dummy_verify,
    identify_hasher,
    is_password_usable,
    make_password,
    make_unusable_password,
    needs_rehash,
)

PASSWORD = "correct horse battery staple"
# Made by Django 5.2's make_password(PASSWORD, hasher="pbkdf2_sha256"): 1,000,000 iterations.
DJANGO_PBKDF2 = (
    "pbkdf2_sha256$1000000$lFBRJwiKaLkTJLe5x3UWvK$WQIuL36Xw5A1qTUZbmFDVvueRevqsWFz2+gcMamS/uM="
)
# Made by Django 5.2's make_password(PASSWORD, hasher="argon2").
DJANGO_ARGON2 = (
    "argon2$argon2id$v=19$m=102400,t=2,p=8$ekw2bTRralhEYmVKd0l3V1VrOW1lZw"
    "$FcvxlS97GbfFpTekoJKKbIs6JLN+FKwrHE7wDJz6YTs"
)


def _rfc8018_pbkdf2_sha256(password: bytes, salt: bytes, iterations: int) -> bytes:
    """PBKDF2-HMAC-SHA256, one 32-byte block, straight from RFC 8018 section 5.2."""
    block = hmac.new(password, salt + (1).to_bytes(4, "big"), hashlib.sha256).digest()
    result = bytearray(block)
    for _ in range(iterations - 1):
        block = hmac.new(password, block, hashlib.sha256).digest()
        result = bytearray(x ^ y for x, y in zip(result, block, strict=True))
    return bytes(result)


def test_new_hashes_are_argon2id_in_djangos_format() -> None:
    encoded = make_password(PASSWORD)
    assert encoded.startswith("argon2$argon2id$v=19$")
    assert identify_hasher(encoded) == "argon2"
    assert check_password(PASSWORD, encoded)
    assert not check_password(PASSWORD + "!", encoded)
    assert not needs_rehash(encoded)
    assert make_password(PASSWORD) != encoded  # salted


def test_oakling_hash_verifies_in_django(django_hashers: Any) -> None:
    """A site can move back to (or share users with) Django."""
    assert django_hashers.check_password(PASSWORD, make_password(PASSWORD))


def test_literal_django_pbkdf2_hash_verifies() -> None:
    assert identify_hasher(DJANGO_PBKDF2) == "pbkdf2_sha256"
    assert check_password(PASSWORD, DJANGO_PBKDF2)
    assert not check_password("Correct horse battery staple", DJANGO_PBKDF2)
    assert needs_rehash(DJANGO_PBKDF2)


def test_literal_django_argon2_hash_verifies_and_needs_rehash() -> None:
    assert check_password(PASSWORD, DJANGO_ARGON2)
    assert not check_password("wrong", DJANGO_ARGON2)
    assert needs_rehash(DJANGO_ARGON2)  # Django's parameters are not argon2-cffi's defaults


@pytest.mark.parametrize("hasher", ["pbkdf2_sha256", "pbkdf2_sha1", "argon2"])
def test_hashes_made_by_django_now_verify(django_hashers: Any, hasher: str) -> None:
    raw = "pässwörd ✓ 密码"
    encoded = django_hashers.make_password(raw, hasher=hasher)
    assert check_password(raw, encoded)
    assert not check_password(raw + " ", encoded)
    assert needs_rehash(encoded)


def test_independent_pbkdf2_computation_verifies() -> None:
    salt, iterations = "aSaltOfLetters", 1200
    derived = _rfc8018_pbkdf2_sha256(PASSWORD.encode(), salt.encode(), iterations)
    encoded = f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(derived).decode()}"
    assert check_password(PASSWORD, encoded)
    assert not check_password(PASSWORD.upper(), encoded)
    werkzeug_form = f"pbkdf2:sha256:{iterations}${salt}${derived.hex()}"
    assert check_password(PASSWORD, werkzeug_form)


@pytest.mark.parametrize(
    "method", ["scrypt", "scrypt:16384:8:1", "pbkdf2", "pbkdf2:sha256:2000", "pbkdf2:sha512:2000"]
)
def test_werkzeug_hashes_verify(method: str) -> None:
    raw = "flask-user pässword"
    encoded = generate_password_hash(raw, method=method)
    assert check_password(raw, encoded)
    assert not check_password(raw + "x", encoded)
    assert needs_rehash(encoded)
    assert identify_hasher(encoded).startswith("werkzeug_")


def test_argon2_with_other_parameters_needs_rehash() -> None:
    weaker = "argon2" + PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    assert check_password(PASSWORD, weaker)
    assert needs_rehash(weaker)
    bare = PasswordHasher().hash(PASSWORD)  # argon2-cffi's own format, no "argon2" prefix
    assert check_password(PASSWORD, bare)
    assert needs_rehash(bare)


def _truncations(encoded: str) -> list[str]:
    return [encoded[:cut] for cut in (0, 1, 7, 14, len(encoded) // 2, len(encoded) - 1)]


GARBAGE = [
    "",
    "$",
    "$$$$",
    "argon2",
    "argon2$",
    "argon2$argon2id$v=19$m=65536,t=3,p=4$",
    "argon2$argon2id$v=19$m=99999999999,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
    "pbkdf2_sha256$",
    "pbkdf2_sha256$$$",
    "pbkdf2_sha256$abc$salt$aGFzaA==",
    "pbkdf2_sha256$0$salt$" + "A" * 44,
    "pbkdf2_sha256$-5$salt$" + "A" * 44,
    "pbkdf2_sha256$1e9$salt$" + "A" * 44,
    "pbkdf2_sha256$١٠٠$salt$" + "A" * 44,  # Arabic-Indic digits: int() would accept them
    "pbkdf2_sha256$99999999999999999999$salt$" + "A" * 44,  # would run for days
    "pbkdf2_sha256$1000$$" + "A" * 44,
    "pbkdf2_sha256$1000$salt$not base64!",
    "pbkdf2_sha256$1000$salt$aGFzaA==",  # wrong digest length
    "pbkdf2_sha256$1000$salt$" + "A" * 44 + "$extra",
    "pbkdf2:sha256$salt$00",
    "pbkdf2:md5:1000$salt$" + "00" * 16,
    "pbkdf2:sha256:1000$salt$zz",
    "pbkdf2:sha256:1000$salt$" + "00" * 31,
    "scrypt:32768:8$salt$" + "00" * 64,
    "scrypt:1073741824:8:1$salt$" + "00" * 64,  # 1 TiB of memory
    "scrypt:1000:8:1$salt$" + "00" * 64,  # n not a power of two
    "scrypt:16384:8:100000$salt$" + "00" * 64,
    "scrypt:16384:8:1$salt$" + "00" * 63,
    "bcrypt$$2b$12$abcdefghijklmnopqrstuu",
    "sha1$salt$abcdef",
    "md5$salt$abcdef",
    "plaintext-password",
    "\x00\x00\x00",
    "€" * 1000,
]


@pytest.mark.parametrize(
    "encoded", GARBAGE + _truncations(DJANGO_PBKDF2) + _truncations(DJANGO_ARGON2)
)
def test_garbage_and_truncated_hashes_are_false_quickly(encoded: str) -> None:
    start = time.perf_counter()
    assert check_password(PASSWORD, encoded) is False
    assert check_password("", encoded) is False
    needs_rehash(encoded)  # must not raise either
    identify_hasher(encoded)
    assert time.perf_counter() - start < 2.0


def test_wrong_iterations_fail() -> None:
    _, _iterations, salt, digest = DJANGO_PBKDF2.split("$")
    for iterations in ("999999", "1000001", "1"):
        assert not check_password(PASSWORD, f"pbkdf2_sha256${iterations}${salt}${digest}")


def test_other_salt_or_algorithm_fails() -> None:
    _, iterations, salt, digest = DJANGO_PBKDF2.split("$")
    assert not check_password(PASSWORD, f"pbkdf2_sha256${iterations}${salt}x${digest}")
    assert not check_password(PASSWORD, f"pbkdf2_sha1${iterations}${salt}${digest}")


@pytest.mark.parametrize("bad", [None, 12, b"bytes"])
def test_non_string_inputs_are_false(bad: Any) -> None:
    encoded = make_password(PASSWORD)
    assert check_password(bad, encoded) is False
    assert check_password(PASSWORD, bad) is False


def test_overlong_passwords() -> None:
    encoded = make_password("a" * MAX_PASSWORD_LENGTH)
    assert check_password("a" * MAX_PASSWORD_LENGTH, encoded)
    start = time.perf_counter()
    assert not check_password("a" * 10_000_000, encoded)
    assert time.perf_counter() - start < 0.5
    with pytest.raises(ValueError, match="at most"):
        make_password("a" * (MAX_PASSWORD_LENGTH + 1))


def test_unusable_passwords_never_match() -> None:
    first, second = make_unusable_password(), make_unusable_password()
    assert first.startswith("!") and len(first) == 41 and first != second
    assert not is_password_usable(first) and not is_password_usable(None)
    assert is_password_usable(make_password("x"))
    assert identify_hasher(first) == "unusable"
    for candidate in ("", first, first[1:], "!"):
        assert not check_password(candidate, first)
    assert not needs_rehash(first)


def _interleaved_medians(first: Any, second: Any, rounds: int = 7) -> tuple[float, float]:
    """Time two calls alternately (load drift hits both alike); return the medians."""
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for func, bucket in ((first, samples[0]), (second, samples[1])):
            start = time.perf_counter()
            func()
            bucket.append(time.perf_counter() - start)
    return statistics.median(samples[0]), statistics.median(samples[1])


def test_dummy_verify_costs_a_real_verification() -> None:
    encoded = make_password(PASSWORD)
    dummy_verify()  # first call makes the dummy hash
    real, dummy = _interleaved_medians(
        lambda: check_password("wrong password", encoded),
        lambda: dummy_verify("wrong password"),
    )
    assert 0.5 < dummy / real < 2.0, (dummy, real)
    assert real > 0.005  # an argon2id verification, not a shortcut
