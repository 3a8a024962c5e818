"""Bearer API tokens on SQLite and PostgreSQL: stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from oakling.auth.models import APIToken, User
from oakling.auth.services import create_user, create_user_sync
from oakling.auth.tokens import (
    authenticate_token,
    authenticate_token_sync,
    create_token,
    create_token_sync,
    list_tokens,
    revoke_token,
    revoke_token_sync,
)
from oakling.db import AsyncSession, Session

pytestmark = pytest.mark.anyio

TOKEN_FORMAT = re.compile(r"oak_[0-9a-f]{8}_[A-Za-z0-9_-]{43}\Z")


async def _owner(session: AsyncSession, name: str = "owner") -> User:
    return await create_user(session, name, None)


async def test_token_round_trip_and_scopes(async_db: AsyncSession) -> None:
    user = await _owner(async_db)
    token, raw = await create_token(
        async_db, user, name="deploy", scopes=["tasks:read", "tasks:write", "tasks:read"]
    )
    assert TOKEN_FORMAT.match(raw)
    assert raw[4:12] == token.prefix
    assert token.scopes == "tasks:read tasks:write"
    assert token.scope_set == frozenset({"tasks:read", "tasks:write"})
    assert token.expires_at is None and token.last_used_at is None

    found = await authenticate_token(async_db, raw)
    assert found is not None
    found_user, found_token = found
    assert found_user is user and found_token is token
    assert token.last_used_at is not None

    async_db.expunge_all()  # scopes come back from the database as they went in
    again = await authenticate_token(async_db, raw)
    assert again is not None and again[1].scope_set == {"tasks:read", "tasks:write"}
    assert again[0].username == "owner"


async def test_only_the_hash_is_stored(async_db: AsyncSession) -> None:
    user = await _owner(async_db)
    token, raw = await create_token(async_db, user, name="ci")
    secret = raw.split("_", 2)[2]
    row = (
        await async_db.execute(text("SELECT * FROM auth_token WHERE id = :id"), {"id": token.id})
    ).one()
    stored = " ".join(str(value) for value in row)
    assert secret not in stored and raw not in stored
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()


async def test_a_stolen_database_row_does_not_authenticate(async_db: AsyncSession) -> None:
    user = await _owner(async_db)
    token, _raw = await create_token(async_db, user, name="ci")
    for forged in (
        token.key_hash,
        f"oak_{token.prefix}_{token.key_hash}",
        f"oak_{token.prefix}_{token.key_hash[:43]}",
        f"Bearer oak_{token.prefix}_{token.key_hash[:43]}",
    ):
        assert await authenticate_token(async_db, forged) is None


async def test_tampered_tokens_fail(async_db: AsyncSession) -> None:
    user = await _owner(async_db)
    _token, raw = await create_token(async_db, user, name="ci")
    flipped = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    other_prefix = raw[:4] + ("0" if raw[4] != "0" else "1") + raw[5:]
    for forged in (flipped, other_prefix, raw + "x", raw[:-1], raw.upper(), " " + raw):
        assert await authenticate_token(async_db, forged) is None
    assert await authenticate_token(async_db, raw) is not None


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        "",
        "oak_",
        "oak__",
        "Bearer",
        12345,
        b"oak_12345678_x",
        "oak_ZZZZZZZZ_" + "a" * 43,
        "oak_12345678_" + "é" * 43,
        "oak_12345678_" + "a" * 10_000,
        "\x00" * 50,
        ["oak"],
    ],
)
async def test_malformed_input_is_none_not_an_error(async_db: AsyncSession, garbage: Any) -> None:
    assert await authenticate_token(async_db, garbage) is None


async def test_expired_token_fails(async_db: AsyncSession) -> None:
    user = await _owner(async_db)
    token, raw = await create_token(async_db, user, name="short", expires_in=timedelta(hours=1))
    assert token.expires_at is not None
    assert timedelta(minutes=59) < token.expires_at - datetime.now(UTC) <= timedelta(hours=1)
    assert await authenticate_token(async_db, raw) is not None
    token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    await async_db.flush()
    async_db.expunge_all()
    assert await authenticate_token(async_db, raw) is None


async def test_revoked_token_fails(async_db: AsyncSession) -> None:
    owner = await _owner(async_db)
    other = await _owner(async_db, "someone-else")
    token, raw = await create_token(async_db, owner, name="laptop")
    token_id = token.id
    assert await revoke_token(async_db, token_id, user=other) is False  # not theirs
    assert await authenticate_token(async_db, raw) is not None
    assert await revoke_token(async_db, token_id, user=owner) is True
    assert await authenticate_token(async_db, raw) is None
    assert await revoke_token(async_db, token_id) is False
    assert await revoke_token(async_db, "1 OR 1=1") is False  # type: ignore[arg-type]


async def test_inactive_user_token_fails(async_db: AsyncSession) -> None:
    user = await _owner(async_db)
    _token, raw = await create_token(async_db, user, name="ci")
    user.is_active = False
    await async_db.flush()
    assert await authenticate_token(async_db, raw) is None


async def test_last_used_at_is_written_at_most_once_a_minute(async_db: AsyncSession) -> None:
    user = await _owner(async_db)
    token, raw = await create_token(async_db, user, name="ci")
    await authenticate_token(async_db, raw)
    first = token.last_used_at
    assert first is not None
    await authenticate_token(async_db, raw)
    assert token.last_used_at == first
    token.last_used_at = first - timedelta(minutes=5)
    await authenticate_token(async_db, raw)
    assert token.last_used_at is not None and token.last_used_at > first


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scopes": ["has space"]}, "invalid scope"),
        ({"scopes": ['quote"']}, "invalid scope"),
        ({"scopes": [""]}, "invalid scope"),
        ({"scopes": ["é"]}, "invalid scope"),
        ({"expires_in": timedelta(0)}, "positive"),
        ({"expires_in": timedelta(seconds=-5)}, "positive"),
    ],
)
async def test_invalid_token_options(
    async_db: AsyncSession, kwargs: dict[str, Any], message: str
) -> None:
    user = await _owner(async_db)
    with pytest.raises(ValueError, match=message):
        await create_token(async_db, user, name="x", **kwargs)


async def test_each_token_is_unique_and_listed(async_db: AsyncSession) -> None:
    user = await _owner(async_db)
    raws = {(await create_token(async_db, user, name=f"t{index}"))[1] for index in range(5)}
    assert len(raws) == 5
    assert [token.name for token in await list_tokens(async_db, user)] == [
        "t4",
        "t3",
        "t2",
        "t1",
        "t0",
    ]


def test_sync_twins(db: Session) -> None:
    user = create_user_sync(db, "syncowner", None)
    token, raw = create_token_sync(db, user, name="cli", scopes=["admin"])
    found = authenticate_token_sync(db, raw)
    assert found is not None and found[0] is user and found[1].scope_set == {"admin"}
    assert authenticate_token_sync(db, token.key_hash) is None
    assert revoke_token_sync(db, token.id)
    assert authenticate_token_sync(db, raw) is None
    assert db.scalar(select(APIToken).where(APIToken.id == token.id)) is None
