"""Account services on SQLite and PostgreSQL: sign-up, login, password changes.

Attacks: look-alike sign-ups, a huge username, account probing by timing,
old-format hashes that must be upgraded, forged session hashes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from oakling.auth.hashers import check_password, needs_rehash
from oakling.auth.models import User
from oakling.auth.services import (
    InvalidUsername,
    UsernameTaken,
    authenticate,
    authenticate_sync,
    check_session_auth_hash,
    create_superuser,
    create_superuser_sync,
    create_user,
    create_user_sync,
    get_user,
    get_user_by_username,
    get_user_sync,
    normalize_email,
    session_auth_hash,
    set_password,
    set_password_sync,
)
from oakling.auth.validators import PasswordValidationError
from oakling.db import AsyncSession, Session

GOOD = "tram-velvet-oxide-42"
SECRET = "s" * 40
# Made by Django 5.2: make_password("correct horse battery staple", hasher="pbkdf2_sha256").
DJANGO_PASSWORD = "correct horse battery staple"
DJANGO_PBKDF2 = (
    "pbkdf2_sha256$1000000$lFBRJwiKaLkTJLe5x3UWvK$WQIuL36Xw5A1qTUZbmFDVvueRevqsWFz2+gcMamS/uM="
)

pytestmark = pytest.mark.anyio


# -- sign-up ---------------------------------------------------------------------


async def test_create_user(async_db: AsyncSession) -> None:
    user = await create_user(async_db, "Ada", GOOD, email="Ada@Example.COM")
    assert user.id is not None
    assert (user.username, user.username_key, user.email) == ("Ada", "ada", "Ada@example.com")
    assert user.password.startswith("argon2$argon2id$") and GOOD not in user.password
    assert user.check_password(GOOD)
    assert user.is_active and not user.is_staff and not user.is_superuser
    assert await get_user(async_db, user.id) is user


async def test_create_superuser(async_db: AsyncSession) -> None:
    boss = await create_superuser(async_db, "boss", GOOD)
    assert boss.is_staff and boss.is_superuser and boss.has_perm("tasks.delete_task")


@pytest.mark.parametrize("lookalike", ["admin", "Admin", "ADMIN", "аdmin", "ａｄｍｉｎ", "ΑDMIN"])
async def test_lookalike_usernames_refused_as_duplicates(
    async_db: AsyncSession, lookalike: str
) -> None:
    await create_user(async_db, "admin", GOOD)
    with pytest.raises(UsernameTaken, match="looks like it"):
        await create_user(async_db, lookalike, GOOD)
    count = len(list(await async_db.scalars(select(User.id))))
    assert count == 1


async def test_huge_username_refused_quickly(async_db: AsyncSession) -> None:
    start = time.perf_counter()
    with pytest.raises(InvalidUsername, match="at most 150"):
        await create_user(async_db, "a" * 10_000, GOOD)
    assert time.perf_counter() - start < 0.05  # before any query or hashing


async def test_invalid_username_refused(async_db: AsyncSession) -> None:
    with pytest.raises(InvalidUsername):
        await create_user(async_db, "<script>alert(1)</script>", GOOD)


async def test_weak_passwords_refused_with_every_reason(async_db: AsyncSession) -> None:
    with pytest.raises(PasswordValidationError) as info:
        await create_user(async_db, "bob", "12345")
    assert len(info.value.messages) == 3
    with pytest.raises(PasswordValidationError, match="too similar to the username"):
        await create_user(async_db, "margaretha", "Margaretha1")
    with pytest.raises(PasswordValidationError, match="too similar to the email"):
        await create_user(async_db, "x1", "thorvaldsen9", email="thorvaldsen@example.com")
    assert list(await async_db.scalars(select(User.id))) == []


async def test_validation_can_be_skipped_and_password_can_be_unusable(
    async_db: AsyncSession,
) -> None:
    user = await create_user(async_db, "weak", "x", validate=False)
    assert await authenticate(async_db, "weak", "x") is user
    ghost = await create_user(async_db, "ghost", None)
    assert not ghost.has_usable_password()
    assert await authenticate(async_db, "ghost", ghost.password) is None
    assert await authenticate(async_db, "ghost", "") is None


def test_sync_twins(db: Session) -> None:
    user = create_user_sync(db, "syncy", GOOD, email="s@EXAMPLE.org")
    assert user.email == "s@example.org"
    with pytest.raises(UsernameTaken):
        create_user_sync(db, "SYNCY", GOOD)
    boss = create_superuser_sync(db, "syncboss", GOOD)
    assert boss.is_superuser
    assert authenticate_sync(db, "Syncy", GOOD) is user
    assert authenticate_sync(db, "syncy", "wrong") is None
    set_password_sync(db, user, "another-long-phrase-7")
    assert authenticate_sync(db, "syncy", GOOD) is None
    assert authenticate_sync(db, "syncy", "another-long-phrase-7") is user
    assert get_user_sync(db, str(user.id)) is user


def test_normalize_email() -> None:
    assert normalize_email("  Jane.Doe@EXAMPLE.Com ") == "Jane.Doe@example.com"
    assert normalize_email("") == ""
    assert normalize_email("no-at-sign") == "no-at-sign"


# -- login ------------------------------------------------------------------------


async def test_authenticate_sets_last_login(async_db: AsyncSession) -> None:
    user = await create_user(async_db, "ada", GOOD)
    assert user.last_login is None
    assert await authenticate(async_db, "ada", GOOD) is user
    assert user.last_login is not None and user.last_login.tzinfo is not None
    assert await authenticate(async_db, "ADA", GOOD) is user  # found by its key
    assert await authenticate(async_db, "ａｄａ", GOOD) is user


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("ada", "wrong password"),
        ("ada", ""),
        ("nobody", GOOD),
        ("", GOOD),
        ("a" * 10_000, GOOD),
        (None, GOOD),
        ("ada", None),
        ("ada", "x" * 100_000),
    ],
)
async def test_bad_credentials_give_none_never_an_error(
    async_db: AsyncSession, username: Any, password: Any
) -> None:
    await create_user(async_db, "ada", GOOD)
    assert await authenticate(async_db, username, password) is None


async def test_inactive_user_cannot_log_in(async_db: AsyncSession) -> None:
    user = await create_user(async_db, "sleeper", GOOD)
    user.is_active = False
    await async_db.flush()
    assert await authenticate(async_db, "sleeper", GOOD) is None


async def _interleaved_medians(
    first: Callable[[], Awaitable[object]],
    second: Callable[[], Awaitable[object]],
    rounds: int = 7,
) -> tuple[float, float]:
    """Time two calls alternately (load drift hits both alike); return the medians."""
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for call, bucket in ((first, samples[0]), (second, samples[1])):
            start = time.perf_counter()
            await call()
            bucket.append(time.perf_counter() - start)
    return statistics.median(samples[0]), statistics.median(samples[1])


async def test_unknown_user_and_wrong_password_take_the_same_time(
    async_db: AsyncSession,
) -> None:
    await create_user(async_db, "victim", GOOD)
    await authenticate(async_db, "warm-up", GOOD)  # makes the dummy hash
    unknown, wrong = await _interleaved_medians(
        lambda: authenticate(async_db, "no-such-user", GOOD),
        lambda: authenticate(async_db, "victim", "not-it-at-all"),
    )
    assert 0.5 < unknown / wrong < 2.0, (unknown, wrong)


async def test_django_pbkdf2_user_logs_in_and_is_upgraded_to_argon2id(
    async_db: AsyncSession, django_hashers: Any
) -> None:
    user = await create_user(async_db, "from-django", None)
    user.password = DJANGO_PBKDF2
    await async_db.flush()

    assert await authenticate(async_db, "from-django", "wrong") is None
    assert user.password == DJANGO_PBKDF2  # a failed login changes nothing

    assert await authenticate(async_db, "from-django", DJANGO_PASSWORD) is user
    user_id = user.id
    async_db.expire_all()
    stored = await async_db.scalar(select(User.password).where(User.id == user_id))
    assert stored is not None and stored.startswith("argon2$argon2id$")
    assert not needs_rehash(stored)
    assert check_password(DJANGO_PASSWORD, stored)
    assert django_hashers.check_password(DJANGO_PASSWORD, stored)  # Django still reads it
    assert await authenticate(async_db, "from-django", DJANGO_PASSWORD) is not None


@pytest.mark.parametrize("method", ["scrypt", "pbkdf2:sha256:5000"])
async def test_werkzeug_user_logs_in_and_is_upgraded(async_db: AsyncSession, method: str) -> None:
    user = await create_user(async_db, "from-flask", None)
    user.password = generate_password_hash("flask-era-password", method=method)
    await async_db.flush()
    assert await authenticate(async_db, "from-flask", "flask-era-password") is user
    assert user.password.startswith("argon2$argon2id$")


def test_django_hash_upgraded_through_the_sync_twin(db: Session) -> None:
    user = create_user_sync(db, "from-django", None)
    user.password = DJANGO_PBKDF2
    db.flush()
    assert authenticate_sync(db, "from-django", DJANGO_PASSWORD) is user
    assert user.password.startswith("argon2$argon2id$")


# -- password change and sessions ----------------------------------------------------


async def test_set_password_changes_the_session_hash(async_db: AsyncSession) -> None:
    user = await create_user(async_db, "ada", GOOD)
    before = session_auth_hash(user, SECRET)
    assert check_session_auth_hash(user, before, SECRET)
    with pytest.raises(PasswordValidationError):
        await set_password(async_db, user, "password")
    await set_password(async_db, user, "brand-new-phrase-9")
    assert not check_session_auth_hash(user, before, SECRET)  # other sessions logged out
    assert await authenticate(async_db, "ada", GOOD) is None
    assert await authenticate(async_db, "ada", "brand-new-phrase-9") is user


def test_session_auth_hash_is_djangos(django_hashers: Any) -> None:
    from django.conf import settings
    from django.utils.crypto import salted_hmac

    user = User(username="ada", password="argon2$argon2id$v=19$m=65536,t=3,p=4$abc$def")
    expected = salted_hmac(
        "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash",
        user.password,
        algorithm="sha256",
    ).hexdigest()
    assert session_auth_hash(user, settings.SECRET_KEY) == expected


def test_session_auth_hash_forgeries_fail() -> None:
    user = User(username="ada", password="argon2$something")
    value = session_auth_hash(user, SECRET)
    assert len(value) == 64
    assert not check_session_auth_hash(user, value, "o" * 40)  # another site's key
    assert not check_session_auth_hash(user, value.upper(), SECRET)
    assert not check_session_auth_hash(user, "", SECRET)
    assert not check_session_auth_hash(user, None, SECRET)
    assert not check_session_auth_hash(user, ["list"], SECRET)
    # rotation: a hash made with an old key still matches while it is a fallback
    old = session_auth_hash(user, "old" * 14)
    assert check_session_auth_hash(user, old, SECRET, ["old" * 14])
    assert not check_session_auth_hash(user, old, SECRET)


@pytest.mark.parametrize(
    "bad_id", [None, "", "abc", "-1", -1, 0, "1.5", 2**70, "9" * 30, True, "١", [1], {"id": 1}]
)
async def test_get_user_with_malformed_ids(async_db: AsyncSession, bad_id: Any) -> None:
    await create_user(async_db, "only", GOOD)
    assert await get_user(async_db, bad_id) is None


async def test_get_user_by_username(async_db: AsyncSession) -> None:
    user = await create_user(async_db, "ada", GOOD)
    assert await get_user_by_username(async_db, "ADA") is user
    assert await get_user_by_username(async_db, "a" * 1000) is None
    assert await get_user_by_username(async_db, "bob") is None
