"""Account operations: create users, authenticate, change passwords.

Every operation has an async form taking an ``AsyncSession`` and a sync twin
(``_sync`` suffix) taking a ``Session``, for sync handlers and the CLI. The
async forms hash passwords in the thread pool (argon2id takes tens of
milliseconds of CPU; the event loop keeps serving meanwhile).

None of them commits: they flush, so errors surface at the call, and the
caller's transaction decides (a request's session commits when the handler
returns a response below 500; a script calls ``session.commit()``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Update, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from oakling.concurrency import run_in_threadpool
from oakling.i18n.translation import gettext

from . import hashers
from .models import User, utcnow
from .usernames import InvalidUsername, normalize_username, username_key
from .validators import PasswordValidator, validate_password

__all__ = [
    "InvalidUsername",
    "UsernameTaken",
    "authenticate",
    "authenticate_sync",
    "bump_session_version",
    "bump_session_version_sync",
    "check_session_auth_hash",
    "create_superuser",
    "create_superuser_sync",
    "create_user",
    "create_user_sync",
    "get_user",
    "get_user_by_username",
    "get_user_by_username_sync",
    "get_user_sync",
    "get_user_with_permissions",
    "get_user_with_permissions_sync",
    "normalize_email",
    "session_auth_hash",
    "set_password",
    "set_password_sync",
]

# Django's key salt, so a session hash means the same thing in both.
_SESSION_HASH_SALT = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"


class UsernameTaken(ValueError):
    """The username, or one that looks like it, belongs to another account."""

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(
            gettext("A user with that username, or one that looks like it, already exists.")
        )


def normalize_email(email: str) -> str:
    """Lowercase the domain part of an address (Django's ``normalize_email``).

    Returns:
        The address, stripped, with its domain lowercased; ``""`` for empty.
    """
    email = (email or "").strip()
    local, sep, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}" if sep else email


def _new_user(username: str, email: str, is_staff: bool, is_superuser: bool) -> tuple[User, str]:
    name = normalize_username(username)
    user = User(
        username=name,
        email=normalize_email(email),
        is_staff=is_staff,
        is_superuser=is_superuser,
        is_active=True,
    )
    return user, name


def _key_of(username: str) -> str | None:
    """Return the lookup key of a login input, None if it cannot be a username."""
    try:
        return username_key(normalize_username(username))
    except InvalidUsername:
        return None


async def create_user(
    session: AsyncSession,
    username: str,
    password: str | None,
    *,
    email: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
    validate: bool = True,
    validators: Sequence[PasswordValidator] | None = None,
) -> User:
    """Create an active user with a hashed password, and flush it.

    Args:
        session: Where the user is added.
        username: As typed; normalised (NFKC) and checked.
        password: The password; None gives an unusable one (Django's).
        email: Stored with its domain lowercased.
        is_staff: Django's staff flag.
        is_superuser: Django's superuser flag (every permission).
        validate: Run the password validators first.
        validators: The validators; default Django's four.

    Returns:
        The new user, with its ``id``.

    Raises:
        InvalidUsername: If the username is empty, too long or has
            characters not allowed.
        UsernameTaken: If it, or a look-alike (same ``username_key``), exists.
        PasswordValidationError: If ``validate`` and a validator refuses.
    """
    user, name = _new_user(username, email, is_staff, is_superuser)
    if await session.scalar(select(User.id).where(User.username_key == user.username_key)):
        raise UsernameTaken(name)
    if password is None:
        user.set_unusable_password()
    else:
        if validate:
            validate_password(password, user, validators)
        user.password = await run_in_threadpool(hashers.make_password, password)
    try:
        async with session.begin_nested():
            session.add(user)
    except IntegrityError as ex:
        # NOTE: another request took the name between the check and here.
        raise UsernameTaken(name) from ex
    return user


def create_user_sync(
    session: Session,
    username: str,
    password: str | None,
    *,
    email: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
    validate: bool = True,
    validators: Sequence[PasswordValidator] | None = None,
) -> User:
    """Do what :func:`create_user` does, with a sync session.

    Returns:
        The new user, with its ``id``.

    Raises:
        InvalidUsername: If the username is invalid.
        UsernameTaken: If it, or a look-alike, exists.
        PasswordValidationError: If ``validate`` and a validator refuses.
    """
    user, name = _new_user(username, email, is_staff, is_superuser)
    if session.scalar(select(User.id).where(User.username_key == user.username_key)):
        raise UsernameTaken(name)
    if password is None:
        user.set_unusable_password()
    else:
        if validate:
            validate_password(password, user, validators)
        user.set_password(password)
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError as ex:
        raise UsernameTaken(name) from ex
    return user


async def create_superuser(
    session: AsyncSession,
    username: str,
    password: str | None,
    *,
    email: str = "",
    validate: bool = True,
    validators: Sequence[PasswordValidator] | None = None,
) -> User:
    """Create a user with ``is_staff`` and ``is_superuser`` set (see create_user).

    Returns:
        The new user.

    Raises:
        InvalidUsername, UsernameTaken, PasswordValidationError: As create_user.
    """
    return await create_user(
        session,
        username,
        password,
        email=email,
        is_staff=True,
        is_superuser=True,
        validate=validate,
        validators=validators,
    )


def create_superuser_sync(
    session: Session,
    username: str,
    password: str | None,
    *,
    email: str = "",
    validate: bool = True,
    validators: Sequence[PasswordValidator] | None = None,
) -> User:
    """Do what :func:`create_superuser` does, with a sync session.

    Returns:
        The new user.

    Raises:
        InvalidUsername, UsernameTaken, PasswordValidationError: As create_user.
    """
    return create_user_sync(
        session,
        username,
        password,
        email=email,
        is_staff=True,
        is_superuser=True,
        validate=validate,
        validators=validators,
    )


def _verify(user: User | None, password: str) -> bool:
    """Check the password, spending one verification's time in every case.

    SECURITY: an unknown user, an unusable or garbage hash and a wrong
    password all cost one argon2id verification, so response time does not
    tell which usernames exist.
    """
    if user is None or hashers.identify_hasher(user.password) in ("unknown", "unusable"):
        hashers.dummy_verify(password if isinstance(password, str) else "")
        return False
    return hashers.check_password(password, user.password)


def _after_login(user: User) -> bool:
    """Record the login; return whether the hash must be upgraded."""
    user.last_login = utcnow()
    return hashers.needs_rehash(user.password)


async def authenticate(session: AsyncSession, username: str, password: str) -> User | None:
    """Return the active user whose username and password match, else None.

    The username is looked up by its look-alike key (``Admin`` and
    ``ａｄｍｉｎ`` find ``admin``). Unknown users, wrong passwords and
    inactive users all give None after the same work (Django's
    ``ModelBackend.authenticate``). On success ``last_login`` is set and a
    hash in another format or with old parameters (Django's pbkdf2,
    Werkzeug's scrypt) is replaced by an argon2id one; the changes are
    flushed. Never raises for bad input.

    Returns:
        The user, or None.
    """
    key = _key_of(username) if isinstance(username, str) else None
    user = None
    if key is not None:
        user = await session.scalar(select(User).where(User.username_key == key))
    verified = await run_in_threadpool(_verify, user, password)
    if user is None or not verified or not user.is_active:
        return None
    if _after_login(user):
        user.password = await run_in_threadpool(hashers.make_password, password)
    await session.flush()
    return user


def authenticate_sync(session: Session, username: str, password: str) -> User | None:
    """Do what :func:`authenticate` does, with a sync session.

    Returns:
        The user, or None.
    """
    key = _key_of(username) if isinstance(username, str) else None
    user = None
    if key is not None:
        user = session.scalar(select(User).where(User.username_key == key))
    verified = _verify(user, password)
    if user is None or not verified or not user.is_active:
        return None
    if _after_login(user):
        user.set_password(password)
    session.flush()
    return user


async def set_password(
    session: AsyncSession,
    user: User,
    password: str,
    *,
    validate: bool = True,
    validators: Sequence[PasswordValidator] | None = None,
) -> None:
    """Validate and store a new password for ``user``, and flush.

    Changing the password changes :func:`session_auth_hash` (and bumps the
    user's session version, :func:`bump_session_version`), which logs the
    user's other sessions out, on every session backend: the auth
    middleware compares the hash. Keep the current session logged in with
    :func:`oakling.auth.update_session_auth_hash`.

    Raises:
        PasswordValidationError: If ``validate`` and a validator refuses.
    """
    if validate:
        validate_password(password, user, validators)
    user.password = await run_in_threadpool(hashers.make_password, password)
    await session.flush()
    await bump_session_version(session, user)


def set_password_sync(
    session: Session,
    user: User,
    password: str,
    *,
    validate: bool = True,
    validators: Sequence[PasswordValidator] | None = None,
) -> None:
    """Do what :func:`set_password` does, with a sync session.

    Raises:
        PasswordValidationError: If ``validate`` and a validator refuses.
    """
    if validate:
        validate_password(password, user, validators)
    user.set_password(password)
    session.flush()
    bump_session_version_sync(session, user)


def _valid_id(user_id: object) -> int | None:
    if isinstance(user_id, bool):
        return None
    if isinstance(user_id, str) and user_id.isascii() and user_id.isdigit() and len(user_id) < 19:
        user_id = int(user_id)
    if isinstance(user_id, int) and 0 < user_id < 2**63:
        return user_id
    return None


async def get_user(session: AsyncSession, user_id: object) -> User | None:
    """Return the user with this id (an int or its decimal string), else None.

    Anything else (a negative, huge or malformed id from a session) gives
    None, not an error. Inactive users are returned; callers decide.
    """
    valid = _valid_id(user_id)
    return None if valid is None else await session.get(User, valid)


def get_user_sync(session: Session, user_id: object) -> User | None:
    """Do what :func:`get_user` does, with a sync session."""
    valid = _valid_id(user_id)
    return None if valid is None else session.get(User, valid)


def _with_permissions(user_id: int) -> Any:
    """Return the one statement of a user and its permission codenames (one row each)."""
    from sqlalchemy import true, union
    from sqlalchemy.orm import raiseload

    from .models import Permission, auth_group_permissions, auth_user_groups, auth_user_permissions

    direct = (
        select(Permission.codename)
        .join(auth_user_permissions, auth_user_permissions.c.permission_id == Permission.id)
        .where(auth_user_permissions.c.user_id == user_id)
    )
    grouped = (
        select(Permission.codename)
        .join(auth_group_permissions, auth_group_permissions.c.permission_id == Permission.id)
        .join(auth_user_groups, auth_user_groups.c.group_id == auth_group_permissions.c.group_id)
        .where(auth_user_groups.c.user_id == user_id)
    )
    # NOTE: UNION removes duplicates: one row per distinct codename, never a
    # groups x permissions product; a user with none gets one row, codename NULL.
    codes = union(direct, grouped).subquery("codes")
    return (
        select(User, codes.c.codename)
        .outerjoin(codes, true())
        .where(User.id == user_id)
        .options(raiseload(User.groups), raiseload(User.user_permissions))
    )


def _attach_permissions(rows: Sequence[Any]) -> User | None:
    if not rows:
        return None
    user: User = rows[0][0]
    # NOTE: a plain instance attribute, not a mapped one (Django's _perm_cache).
    user.__dict__["_perm_cache"] = frozenset(row[1] for row in rows if row[1] is not None)
    return user


async def get_user_with_permissions(session: AsyncSession, user_id: object) -> User | None:
    """Return the user with this id and its permissions, in one query; else None.

    What the auth middleware loads for ``request.user``: the user row joined
    to the distinct codenames it holds directly or through its groups
    (Django's ``ModelBackend`` caches the same set in ``user._perm_cache``).
    ``has_perm`` and ``get_all_permissions`` then read that set; the
    ``groups`` and ``user_permissions`` relationships are not loaded and
    raise if read (load the user with :func:`get_user` in your own session
    to change them). Bad ids give None, as with :func:`get_user`.
    """
    valid = _valid_id(user_id)
    if valid is None:
        return None
    result = await session.execute(_with_permissions(valid))
    return _attach_permissions(result.all())


def get_user_with_permissions_sync(session: Session, user_id: object) -> User | None:
    """Do what :func:`get_user_with_permissions` does, with a sync session."""
    valid = _valid_id(user_id)
    if valid is None:
        return None
    return _attach_permissions(session.execute(_with_permissions(valid)).all())


async def get_user_by_username(session: AsyncSession, username: str) -> User | None:
    """Return the user whose username has the same look-alike key, else None."""
    key = _key_of(username) if isinstance(username, str) else None
    if key is None:
        return None
    return await session.scalar(select(User).where(User.username_key == key))


def get_user_by_username_sync(session: Session, username: str) -> User | None:
    """Do what :func:`get_user_by_username` does, with a sync session."""
    key = _key_of(username) if isinstance(username, str) else None
    if key is None:
        return None
    return session.scalar(select(User).where(User.username_key == key))


def _bumped(user: User, version: int | None) -> int:
    """Record the stored ``version`` on ``user`` (attached or not); return it."""
    value = int(version or 0)
    # NOTE: as loaded, not as a change: nothing more to write at the next flush.
    set_committed_value(user, "session_version", value)
    return value


def _bump_statement(user: User) -> Update:
    # NOTE: one atomic UPDATE: concurrent bumps (two tabs, a password change
    # meanwhile) each count, and each session logged in before is out.
    return (
        update(User)
        .where(User.id == user.id)
        .values(session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    )


async def bump_session_version(session: AsyncSession, user: User) -> int:
    """Log every session of ``user`` out, on every backend: "log out everywhere".

    Increments ``auth_user.session_version`` (in one ``UPDATE``), which is
    part of :func:`session_auth_hash`: every session logged in before,
    signed cookies included, no longer matches and is logged out at its next
    request. API tokens are not sessions and keep working (revoke them with
    :func:`oakling.auth.tokens.revoke_token`). Flushed, not committed: the
    caller's transaction decides (a request's commits when its handler
    returns). Django has no equivalent (there, a password change is the
    only way); the views' "log out everywhere" button calls it.

    Returns:
        The new version (also set on ``user``).
    """
    await session.execute(_bump_statement(user))
    version = await session.scalar(select(User.session_version).where(User.id == user.id))
    return _bumped(user, version)


def bump_session_version_sync(session: Session, user: User) -> int:
    """Do what :func:`bump_session_version` does, with a sync session.

    Returns:
        The new version (also set on ``user``).
    """
    session.execute(_bump_statement(user))
    version = session.scalar(select(User.session_version).where(User.id == user.id))
    return _bumped(user, version)


def session_auth_hash(user: User, secret_key: str) -> str:
    """Return an HMAC of the user's password hash, to keep in the session.

    Django's ``get_session_auth_hash`` (its ``salted_hmac``, SHA-256, same
    key salt): a session whose stored value no longer matches (the password
    changed, or :func:`bump_session_version` ran) is logged out. The
    session version is part of the message only once it is non-zero, so
    sessions made before the column existed (and hashes made by Django)
    stay valid.

    Returns:
        64 hex characters.
    """
    key = hashlib.sha256((_SESSION_HASH_SALT + secret_key).encode("utf-8")).digest()
    message = user.password
    version = getattr(user, "session_version", 0) or 0
    if version:
        # NOTE: a password hash holds no newline, so no two (hash, version)
        # pairs give one message.
        message = f"{message}\nsession-version:{version}"
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def check_session_auth_hash(
    user: User, value: object, secret_key: str, fallback_keys: Iterable[str] = ()
) -> bool:
    """Return whether ``value`` is the user's session hash under any key.

    Accepts a hash made with ``secret_key`` or one of ``fallback_keys``
    (``SECRET_KEY_FALLBACKS``, as Django 4.1+ does); compared in constant time.
    """
    if not isinstance(value, str):
        return False
    return any(
        hmac.compare_digest(session_auth_hash(user, key), value)
        for key in (secret_key, *fallback_keys)
    )
