"""Bearer API tokens, stored as SHA-256 hashes, with scopes and expiry.

A token reads ``oak_<prefix>_<secret>``: ``oak_`` marks it (secret scanners
can match it, as GitHub's ``ghp_``), ``<prefix>`` is 8 random hex characters
kept in clear in ``APIToken.prefix`` so lists can show which token is which,
and ``<secret>`` is ``secrets.token_urlsafe(32)`` (256 random bits). The
plaintext is returned once, by :func:`create_token`; the database keeps only
``sha256(<whole token>)`` in hex, so a stolen ``auth_token`` table gives no
usable token. A hash lookup needs no constant-time comparison: the secret's
256 bits are not guessable a byte at a time through an index lookup.

Scopes are OAuth 2 scope tokens (RFC 6749 section 3.3): printable ASCII
without spaces, quotes or backslashes, stored space-separated.

As in :mod:`oakling.auth.services`, functions flush and never commit.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .models import APIToken, User, utcnow

__all__ = [
    "TOKEN_PREFIX",
    "authenticate_token",
    "authenticate_token_sync",
    "create_token",
    "create_token_sync",
    "hash_token",
    "list_tokens",
    "list_tokens_sync",
    "revoke_token",
    "revoke_token_sync",
]

#: The marker every token starts with.
TOKEN_PREFIX = "oak_"

_TOKEN = re.compile(r"oak_([0-9a-f]{8})_([A-Za-z0-9_-]{32,86})\Z")
_MAX_TOKEN_LENGTH = 100
# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+\Z")
# PERF: at most one last_used_at write a minute per token, not one a request.
_LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_token(raw: str) -> str:
    """Return the stored form of a token: the SHA-256 of its text, in hex (64 chars)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _new_token(
    user: User, name: str, scopes: Iterable[str], expires_in: timedelta | None
) -> tuple[APIToken, str]:
    scope_list = list(dict.fromkeys(scopes))
    for scope in scope_list:
        if not isinstance(scope, str) or not _SCOPE.match(scope):
            raise ValueError(
                f"invalid scope {scope!r}: printable ASCII without spaces, quotes or backslashes"
            )
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValueError("expires_in must be positive")
    if len(name) > 100:
        raise ValueError("a token name has at most 100 characters")
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    token = APIToken(
        user_id=user.id,
        name=name,
        prefix=prefix,
        key_hash=hash_token(raw),
        scopes=" ".join(scope_list),
        created_at=now,
        expires_at=None if expires_in is None else now + expires_in,
    )
    return token, raw


async def create_token(
    session: AsyncSession,
    user: User,
    *,
    name: str,
    scopes: Iterable[str] = (),
    expires_in: timedelta | None = None,
) -> tuple[APIToken, str]:
    """Create a token for ``user`` (flushed) and return it with its plaintext.

    Args:
        session: Where the token row is added.
        user: The owner (flushed: it needs its ``id``).
        name: A label for lists ("CI deploy").
        scopes: Scope names the token carries (``request.auth.scopes``).
        expires_in: Lifetime; None never expires.

    Returns:
        ``(row, plaintext)``; the plaintext cannot be recovered later.

    Raises:
        ValueError: For an invalid scope, a non-positive ``expires_in``, or
            a name over 100 characters.
    """
    token, raw = _new_token(user, name, scopes, expires_in)
    session.add(token)
    await session.flush()
    return token, raw


def create_token_sync(
    session: Session,
    user: User,
    *,
    name: str,
    scopes: Iterable[str] = (),
    expires_in: timedelta | None = None,
) -> tuple[APIToken, str]:
    """Do what :func:`create_token` does, with a sync session.

    Returns:
        ``(row, plaintext)``.

    Raises:
        ValueError: As create_token.
    """
    token, raw = _new_token(user, name, scopes, expires_in)
    session.add(token)
    session.flush()
    return token, raw


def _lookup_hash(raw: object) -> tuple[str, str] | None:
    """Return ``(prefix, hash)`` of a well-formed token, else None."""
    if not isinstance(raw, str) or len(raw) > _MAX_TOKEN_LENGTH:
        return None
    match = _TOKEN.match(raw)
    if match is None:
        return None
    return match.group(1), hash_token(raw)


def _accept(token: APIToken | None, prefix: str) -> bool:
    if token is None or token.prefix != prefix:
        return False
    now = utcnow()
    if token.is_expired(now) or not token.user.is_active:
        return False
    if token.last_used_at is None or now - token.last_used_at >= _LAST_USED_RESOLUTION:
        token.last_used_at = now
    return True


async def authenticate_token(session: AsyncSession, raw: str) -> tuple[User, APIToken] | None:
    """Return the user and token a plaintext token belongs to, else None.

    None for anything malformed (never an exception), unknown, expired, or
    whose user is inactive. Updates ``last_used_at`` (at most once a
    minute) and flushes.

    Returns:
        ``(user, token)`` or None.
    """
    found = _lookup_hash(raw)
    if found is None:
        return None
    prefix, key_hash = found
    token = await session.scalar(select(APIToken).where(APIToken.key_hash == key_hash))
    if token is None or not _accept(token, prefix):
        return None
    await session.flush()
    return token.user, token


def authenticate_token_sync(session: Session, raw: str) -> tuple[User, APIToken] | None:
    """Do what :func:`authenticate_token` does, with a sync session.

    Returns:
        ``(user, token)`` or None.
    """
    found = _lookup_hash(raw)
    if found is None:
        return None
    prefix, key_hash = found
    token = session.scalar(select(APIToken).where(APIToken.key_hash == key_hash))
    if token is None or not _accept(token, prefix):
        return None
    session.flush()
    return token.user, token


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


async def revoke_token(session: AsyncSession, token_id: int, *, user: User | None = None) -> bool:
    """Delete a token (flushed); with ``user``, only if it is theirs.

    Returns:
        Whether a token was deleted.
    """
    if not _is_id(token_id):
        return False
    token = await session.get(APIToken, token_id)
    if token is None or (user is not None and token.user_id != user.id):
        return False
    await session.delete(token)
    await session.flush()
    return True


def revoke_token_sync(session: Session, token_id: int, *, user: User | None = None) -> bool:
    """Do what :func:`revoke_token` does, with a sync session.

    Returns:
        Whether a token was deleted.
    """
    if not _is_id(token_id):
        return False
    token = session.get(APIToken, token_id)
    if token is None or (user is not None and token.user_id != user.id):
        return False
    session.delete(token)
    session.flush()
    return True


async def list_tokens(session: AsyncSession, user: User) -> list[APIToken]:
    """Return the user's tokens, newest first."""
    rows = await session.scalars(
        select(APIToken)
        .where(APIToken.user_id == user.id)
        .order_by(APIToken.created_at.desc(), APIToken.id.desc())
    )
    return list(rows)


def list_tokens_sync(session: Session, user: User) -> list[APIToken]:
    """Do what :func:`list_tokens` does, with a sync session."""
    rows = session.scalars(
        select(APIToken)
        .where(APIToken.user_id == user.id)
        .order_by(APIToken.created_at.desc(), APIToken.id.desc())
    )
    return list(rows)
