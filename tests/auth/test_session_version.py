"""The per-user session version, through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from oakling.auth.models import User
from oakling.auth.services import (
    bump_session_version,
    check_session_auth_hash,
    create_user,
    create_user_sync,
    session_auth_hash,
    set_password,
    set_password_sync,
)
from oakling.db import AsyncSession, Session

GOOD = "tram-velvet-oxide-42"
SECRET = "s" * 40

pytestmark = pytest.mark.anyio


async def test_a_bump_voids_every_hash_made_before(async_db: AsyncSession) -> None:
    user = await create_user(async_db, "ada", GOOD)
    assert user.session_version == 0
    before = session_auth_hash(user, SECRET)
    assert await bump_session_version(async_db, user) == 1
    after = session_auth_hash(user, SECRET)
    assert not check_session_auth_hash(user, before, SECRET)
    assert check_session_auth_hash(user, after, SECRET)
    assert await bump_session_version(async_db, user) == 2
    assert not check_session_auth_hash(user, after, SECRET)
    stored = await async_db.scalar(select(User.session_version).where(User.id == user.id))
    assert stored == 2


async def test_a_bump_through_a_detached_copy_reaches_the_row(async_db: AsyncSession) -> None:
    """``request.user`` is detached: bumping through it still updates the stored row."""
    user = await create_user(async_db, "bea", GOOD)
    copy = User(id=user.id, username="bea", password=user.password)
    assert await bump_session_version(async_db, copy) == 1
    await async_db.refresh(user)
    assert user.session_version == 1


async def test_set_password_bumps_the_version(async_db: AsyncSession) -> None:
    user = await create_user(async_db, "cyd", GOOD)
    await set_password(async_db, user, "brand-new-phrase-9")
    assert user.session_version == 1
    await async_db.refresh(user)
    assert user.session_version == 1


def test_set_password_sync_bumps_the_version(db: Session) -> None:
    user = create_user_sync(db, "dee", GOOD)
    before = session_auth_hash(user, SECRET)
    set_password_sync(db, user, "brand-new-phrase-9")
    assert user.session_version == 1
    assert not check_session_auth_hash(user, before, SECRET)
    db.expire(user)
    assert user.session_version == 1
