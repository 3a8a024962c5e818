"""User, Group, Permission and APIToken models, and per-model permissions.

Django's ``django.contrib.auth`` models on :class:`oakling.db.Model`, with
Django's table names (``auth_user``, ``auth_group``, ``auth_permission`` and
the three association tables) and one addition: ``auth_token`` for bearer
API tokens (:mod:`oakling.auth.tokens`).

Permissions are rows of ``auth_permission`` whose ``codename`` is
``"<label>.<action>_<model>"``, Django's ``app_label.codename`` string:

- ``<model>`` is the class name lowercased (``Task`` -> ``task``);
- ``<label>`` is ``__permission_label__`` when the model sets it, else the
  last part of the package holding the model's module (``Task`` defined in
  ``examples/tasks/models.py`` -> ``tasks``; a top-level module ``app.py``
  -> ``app``): the package plays Django's app;
- the actions are ``view``, ``add``, ``change`` and ``delete``, plus the
  model's own ``__permissions__ = [("publish_task", "Can publish task")]``.

:func:`sync_permissions` creates the missing rows (Django does it after
``migrate``); users get permissions directly or through groups, and
``user.has_perm("tasks.change_task")`` checks them. Groups and permissions
are loaded with the user (``lazy="selectin"``), so permission checks do no
I/O, which matters in async code where a lazy load cannot happen; the
middleware's ``request.user`` instead comes with the set of its codenames,
read in the user's own query (``_perm_cache``, as in Django's backend).

Datetimes are timezone-aware UTC on every backend (SQLite stores them
naive; they come back with ``tzinfo=UTC``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    String,
    Table,
    Text,
    TypeDecorator,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, validates

from oakling.db import Model

from . import hashers
from .usernames import normalize_username, username_key

__all__ = [
    "APIToken",
    "AnonymousUser",
    "Group",
    "Permission",
    "User",
    "auth_group_permissions",
    "auth_user_groups",
    "auth_user_permissions",
    "default_permissions",
    "permission_label",
    "sync_permissions",
    "sync_permissions_sync",
    "utcnow",
]

_DEFAULT_ACTIONS = ("view", "add", "change", "delete")
_CODENAME_MAX = 100
_NAME_MAX = 255


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class _UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use a timezone-aware one (datetime.now(UTC))")
        value = value.astimezone(UTC)
        # NOTE: SQLite compares datetimes as text: store them all the same way.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


auth_user_groups = Table(
    "auth_user_groups",
    Model.metadata,
    Column("user_id", ForeignKey("auth_user.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("auth_group.id", ondelete="CASCADE"), primary_key=True),
)

auth_user_permissions = Table(
    "auth_user_permissions",
    Model.metadata,
    Column("user_id", ForeignKey("auth_user.id", ondelete="CASCADE"), primary_key=True),
    Column("permission_id", ForeignKey("auth_permission.id", ondelete="CASCADE"), primary_key=True),
)

auth_group_permissions = Table(
    "auth_group_permissions",
    Model.metadata,
    Column("group_id", ForeignKey("auth_group.id", ondelete="CASCADE"), primary_key=True),
    Column("permission_id", ForeignKey("auth_permission.id", ondelete="CASCADE"), primary_key=True),
)


class Permission(Model):
    """A named right, ``codename`` like ``"tasks.change_task"`` (Django's Permission)."""

    __tablename__ = "auth_permission"

    id: Mapped[int] = mapped_column(primary_key=True)
    codename: Mapped[str] = mapped_column(String(_CODENAME_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(_NAME_MAX), default="")

    def __repr__(self) -> str:
        return f"<Permission {self.codename!r}>"


class Group(Model):
    """A named set of permissions given to its users (Django's Group)."""

    __tablename__ = "auth_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(150), unique=True)
    permissions: Mapped[list[Permission]] = relationship(
        secondary=auth_group_permissions, lazy="selectin"
    )

    def __repr__(self) -> str:
        return f"<Group {self.name!r}>"


class User(Model):
    """A user account (Django's ``AbstractUser`` less the name fields).

    Setting ``username`` normalises it (:func:`~oakling.auth.usernames.normalize_username`,
    raising ``InvalidUsername``) and sets ``username_key``, the unique
    look-alike key. Create users with :func:`oakling.auth.services.create_user`,
    which also refuses taken keys with a clear error and validates the password.

    ``session_version`` (not in Django) counts "log out everywhere"
    requests and password changes: every session logged in before the last
    bump is logged out at its next request, whatever the session backend
    (see :func:`oakling.auth.services.bump_session_version`).
    """

    __tablename__ = "auth_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    username_key: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    password: Mapped[str] = mapped_column(String(256), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    is_staff: Mapped[bool] = mapped_column(default=False)
    is_superuser: Mapped[bool] = mapped_column(default=False)
    date_joined: Mapped[datetime] = mapped_column(_UTCDateTime(), default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(_UTCDateTime(), default=None)
    # NOTE: not Django's: bumped by "log out everywhere" and by password
    # changes; part of the session auth hash once non-zero (services.py).
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    groups: Mapped[list[Group]] = relationship(secondary=auth_user_groups, lazy="selectin")
    user_permissions: Mapped[list[Permission]] = relationship(
        secondary=auth_user_permissions, lazy="selectin"
    )

    @validates("username")
    def _set_username(self, _key: str, value: str) -> str:
        name = normalize_username(value)
        self.username_key = username_key(name)
        return name

    def __repr__(self) -> str:
        return f"<User {self.username!r}>"

    @property
    def is_authenticated(self) -> bool:
        """Always True: a User object is a logged-in or loaded account."""
        return True

    @property
    def is_anonymous(self) -> bool:
        """Always False (see :class:`AnonymousUser`)."""
        return False

    def get_username(self) -> str:
        """Return the username (Django's ``get_username``)."""
        return self.username

    def set_password(self, raw: str) -> None:
        """Store an argon2id hash of ``raw`` (not validated; see ``validate_password``).

        Blocks for the hashing time (tens of milliseconds); async code uses
        :func:`oakling.auth.services.set_password`, which hashes in a thread.

        Raises:
            ValueError: If ``raw`` is longer than ``MAX_PASSWORD_LENGTH``.
        """
        self.password = hashers.make_password(raw)

    def set_unusable_password(self) -> None:
        """Make every password fail (accounts that log in another way)."""
        self.password = hashers.make_unusable_password()

    def has_usable_password(self) -> bool:
        """Return False after :meth:`set_unusable_password`."""
        return hashers.is_password_usable(self.password)

    def check_password(self, raw: str) -> bool:
        """Return whether ``raw`` matches the stored hash (no upgrade; see authenticate)."""
        return hashers.check_password(raw, self.password)

    def get_group_permissions(self) -> set[str]:
        """Return the codenames given through the user's groups (empty if inactive)."""
        if not self.is_active:
            return set()
        return {perm.codename for group in self.groups for perm in group.permissions}

    def get_all_permissions(self) -> set[str]:
        """Return every codename the user has, directly or through groups.

        Inactive users have none, as with Django's ``ModelBackend``;
        superusers get the codenames given to them like anyone (their
        :meth:`has_perm` is True regardless).
        """
        if not self.is_active:
            return set()
        # PERF: request.user comes with its codenames, loaded in the user's
        # query (services.get_user_with_permissions), like Django's _perm_cache.
        cached: frozenset[str] | None = self.__dict__.get("_perm_cache")
        if cached is not None:
            return set(cached)
        direct = {perm.codename for perm in self.user_permissions}
        return direct | self.get_group_permissions()

    def has_perm(self, codename: str) -> bool:
        """Return whether the user has ``codename`` (``"tasks.change_task"``).

        Django's rule: an active superuser has every permission; an inactive
        user has none.
        """
        if not self.is_active:
            return False
        if self.is_superuser:
            return True
        cached: frozenset[str] | None = self.__dict__.get("_perm_cache")
        if cached is not None:
            return codename in cached
        return codename in self.get_all_permissions()

    def has_perms(self, codenames: Iterable[str]) -> bool:
        """Return whether the user has every permission in ``codenames``."""
        if not self.is_active:
            return False
        if self.is_superuser:
            return True
        held = self.get_all_permissions()
        return all(codename in held for codename in codenames)


class AnonymousUser:
    """The user of a request nobody is logged in to (Django's AnonymousUser).

    Not a model: nothing is stored. Every permission check is False.
    """

    id: None = None
    pk: None = None
    username = ""
    email = ""
    is_active = False
    is_staff = False
    is_superuser = False
    is_authenticated = False
    is_anonymous = True

    def __repr__(self) -> str:
        return "<AnonymousUser>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnonymousUser)

    def __hash__(self) -> int:
        return 1

    def get_username(self) -> str:
        """Return ``""``."""
        return self.username

    def get_all_permissions(self) -> set[str]:
        """Return an empty set."""
        return set()

    def has_perm(self, codename: str) -> bool:
        """Return False."""
        return False

    def has_perms(self, codenames: Iterable[str]) -> bool:
        """Return False."""
        return False


class APIToken(Model):
    """A bearer API token: only its SHA-256 is stored (see :mod:`oakling.auth.tokens`).

    ``prefix`` (8 characters of the token, not secret) identifies it in
    lists; ``scopes`` is a space-separated string, as in OAuth 2 (RFC 6749
    section 3.3).
    """

    __tablename__ = "auth_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(8))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(_UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(_UTCDateTime(), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(_UTCDateTime(), default=None)

    user: Mapped[User] = relationship(lazy="selectin")

    def __repr__(self) -> str:
        return f"<APIToken {self.prefix!r} {self.name!r}>"

    @property
    def scope_set(self) -> frozenset[str]:
        """The scopes as a set."""
        return frozenset(self.scopes.split())

    def is_expired(self, now: datetime | None = None) -> bool:
        """Return whether ``expires_at`` has passed (never, when it is None)."""
        if self.expires_at is None:
            return False
        return self.expires_at <= (now or utcnow())


# -- per-model permissions ----------------------------------------------------


def permission_label(model_cls: type[Any]) -> str:
    """Return the label before the dot of a model's codenames.

    ``__permission_label__`` when the class sets it; else the last part of
    the package of the module the class is defined in (``examples.tasks.models``
    -> ``tasks``), or the module's own name for a top-level module.
    """
    label = getattr(model_cls, "__permission_label__", None)
    if isinstance(label, str) and label:
        return label
    parts = model_cls.__module__.split(".")
    return parts[-2] if len(parts) > 1 else parts[0]


def _verbose_name(model_cls: type[Any]) -> str:
    # Django's camel_case_to_spaces: "TaskList" -> "task list", "APIToken" -> "api token".
    spaced = re.sub(r"(((?<=[a-z])[A-Z])|([A-Z](?![A-Z]|$)))", r" \1", model_cls.__name__)
    return spaced.strip().lower()


def default_permissions(model_cls: type[Any]) -> list[tuple[str, str]]:
    """Return a model's ``(codename, name)`` pairs, defaults then custom ones.

    Defaults: ``<label>.view_<model>`` ("Can view <model>"), ``add_``,
    ``change_``, ``delete_`` (Django's ``Meta.default_permissions``);
    then each ``(codename, name)`` of the class's ``__permissions__``
    (Django's ``Meta.permissions``), prefixed with the label unless the
    codename already has a dot.

    Raises:
        ValueError: If a codename is longer than 100 characters, or a
            ``__permissions__`` entry is not a pair of strings.
    """
    label = permission_label(model_cls)
    model_name = model_cls.__name__.lower()
    verbose = _verbose_name(model_cls)
    pairs = [
        (f"{label}.{action}_{model_name}", f"Can {action} {verbose}") for action in _DEFAULT_ACTIONS
    ]
    for entry in getattr(model_cls, "__permissions__", ()) or ():
        if (
            not isinstance(entry, tuple | list)
            or len(entry) != 2
            or not all(isinstance(part, str) and part for part in entry)
        ):
            raise ValueError(
                f"{model_cls.__name__}.__permissions__ entries are (codename, name) pairs, "
                f"got {entry!r}"
            )
        codename, name = entry
        pairs.append((codename if "." in codename else f"{label}.{codename}", name))
    for codename, _name in pairs:
        if len(codename) > _CODENAME_MAX:
            raise ValueError(f"permission codename {codename!r} is over {_CODENAME_MAX} characters")
    return pairs


def _wanted(models: Iterable[type[Any]] | None) -> dict[str, str]:
    if models is None:
        models = sorted(
            (mapper.class_ for mapper in Model.registry.mappers),
            key=lambda cls: (cls.__module__, cls.__qualname__),
        )
    wanted: dict[str, str] = {}
    for model_cls in models:
        for codename, name in default_permissions(model_cls):
            wanted.setdefault(codename, name[:_NAME_MAX])
    return wanted


def _missing(wanted: dict[str, str], existing: Iterable[str]) -> list[Permission]:
    have = set(existing)
    return [
        Permission(codename=codename, name=name)
        for codename, name in wanted.items()
        if codename not in have
    ]


async def sync_permissions(session: AsyncSession, models: Iterable[type[Any]] | None = None) -> int:
    """Create the missing Permission rows of ``models`` (Django's post_migrate).

    Existing rows are left alone (a renamed permission keeps its old name).
    The rows are flushed, not committed: commit the session afterwards.

    Args:
        session: Where to read and add the rows.
        models: The model classes; default every class mapped on ``Model``.

    Returns:
        How many rows were created.

    Raises:
        ValueError: From :func:`default_permissions`, for a bad declaration.
    """
    wanted = _wanted(models)
    if not wanted:
        return 0
    existing = await session.scalars(
        select(Permission.codename).where(Permission.codename.in_(list(wanted)))
    )
    created = _missing(wanted, existing)
    session.add_all(created)
    await session.flush()
    return len(created)


def sync_permissions_sync(session: Session, models: Iterable[type[Any]] | None = None) -> int:
    """Do what :func:`sync_permissions` does, with a sync session.

    Returns:
        How many rows were created.

    Raises:
        ValueError: From :func:`default_permissions`, for a bad declaration.
    """
    wanted = _wanted(models)
    if not wanted:
        return 0
    existing = session.scalars(
        select(Permission.codename).where(Permission.codename.in_(list(wanted)))
    )
    created = _missing(wanted, existing)
    session.add_all(created)
    session.flush()
    return len(created)
