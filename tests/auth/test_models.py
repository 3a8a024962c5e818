"""Auth models on SQLite and PostgreSQL: users, groups, permissions, tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from oakling.auth.models import (
    AnonymousUser,
    APIToken,
    Group,
    Permission,
    User,
    default_permissions,
    permission_label,
    sync_permissions,
    sync_permissions_sync,
)
from oakling.auth.usernames import InvalidUsername
from oakling.db import AsyncSession, Session


def _user(name: str, **fields: object) -> User:
    user = User(username=name, **fields)
    user.set_password("tram-velvet-oxide-42")
    return user


# -- users --------------------------------------------------------------------


def test_defaults_and_aware_utc_datetimes(db: Session) -> None:
    user = _user("ada")
    db.add(user)
    db.flush()
    db.expire_all()
    loaded = db.get(User, user.id)
    assert loaded is not None
    assert (loaded.email, loaded.is_active, loaded.is_staff, loaded.is_superuser) == (
        "",
        True,
        False,
        False,
    )
    assert loaded.last_login is None
    assert loaded.date_joined.tzinfo is not None
    assert loaded.date_joined.utcoffset() == timedelta(0)
    assert abs(loaded.date_joined - datetime.now(UTC)) < timedelta(minutes=1)
    assert loaded.is_authenticated and not loaded.is_anonymous
    assert loaded.check_password("tram-velvet-oxide-42")
    assert not loaded.check_password("tram-velvet-oxide-43")


def test_naive_datetimes_are_refused(db: Session) -> None:
    user = _user("naive")
    user.last_login = datetime(2024, 1, 1)  # no tzinfo
    db.add(user)
    with pytest.raises(Exception, match="naive datetime"):
        db.flush()


def test_setting_username_normalises_and_sets_the_key() -> None:
    user = User(username="ＡＤＡ")
    assert (user.username, user.username_key) == ("ADA", "ada")
    user.username = "аda"  # Cyrillic а
    assert user.username_key == "ada"
    with pytest.raises(InvalidUsername):
        User(username="bad name")


def test_database_refuses_lookalike_even_bypassing_services(db: Session) -> None:
    """The unique key column is the last line: a direct ORM insert cannot slip past."""
    db.add(_user("admin"))
    db.flush()
    db.add(_user("аdmin"))  # Cyrillic а: another username, the same key
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


def test_unusable_password() -> None:
    user = User(username="ghost")
    user.set_unusable_password()
    assert not user.has_usable_password()
    assert not user.check_password(user.password)


# -- permissions ----------------------------------------------------------------


class Task:
    """A stand-in model class: only its name and module matter."""

    __module__ = "examples.tasks.models"
    __permissions__ = [("publish_task", "Can publish task")]


class TaskList:
    __permission_label__ = "planner"


def test_default_permissions_of_a_model() -> None:
    assert permission_label(Task) == "tasks"
    assert default_permissions(Task) == [
        ("tasks.view_task", "Can view task"),
        ("tasks.add_task", "Can add task"),
        ("tasks.change_task", "Can change task"),
        ("tasks.delete_task", "Can delete task"),
        ("tasks.publish_task", "Can publish task"),
    ]
    assert default_permissions(TaskList)[2] == ("planner.change_tasklist", "Can change task list")
    assert permission_label(User) == "auth"


def test_bad_permission_declarations() -> None:
    bad = type("Bad", (), {"__permissions__": ["publish"]})
    with pytest.raises(ValueError, match="pairs"):
        default_permissions(bad)
    long = type("Long", (), {"__permissions__": [("x" * 120, "Too long")]})
    with pytest.raises(ValueError, match="over 100"):
        default_permissions(long)


@pytest.mark.anyio
async def test_sync_permissions_creates_missing_rows_once(async_db: AsyncSession) -> None:
    assert await sync_permissions(async_db, [Task, TaskList]) == 9
    assert await sync_permissions(async_db, [Task, TaskList]) == 0
    created = await sync_permissions(async_db)  # every mapped model: the auth ones here
    assert created >= 16
    codenames = set(await async_db.scalars(select(Permission.codename)))
    assert {"auth.view_user", "auth.change_group", "auth.delete_apitoken"} <= codenames
    assert "tasks.publish_task" in codenames
    assert await sync_permissions(async_db) == 0


def test_sync_permissions_sync_twin(db: Session) -> None:
    assert sync_permissions_sync(db, [Task]) == 5
    assert sync_permissions_sync(db, [Task]) == 0
    assert db.scalar(select(func.count()).select_from(Permission)) == 5


async def _setup_perms(session: AsyncSession) -> tuple[int, int, int, int]:
    await sync_permissions(session, [Task])
    perms = {perm.codename: perm for perm in await session.scalars(select(Permission))}
    editors = Group(name="editors", permissions=[perms["tasks.change_task"]])
    direct = _user("direct", user_permissions=[perms["tasks.view_task"]])
    grouped = _user("grouped", groups=[editors])
    boss = _user("boss", is_superuser=True)
    sleeper = _user("sleeper", is_active=False, user_permissions=[perms["tasks.view_task"]])
    session.add_all([editors, direct, grouped, boss, sleeper])
    await session.flush()
    return direct.id, grouped.id, boss.id, sleeper.id


@pytest.mark.anyio
async def test_permission_checks_work_in_async_code_after_a_fresh_load(
    async_db: AsyncSession,
) -> None:
    """Groups and permissions are loaded with the user: no lazy load, no MissingGreenlet."""
    direct_id, grouped_id, boss_id, sleeper_id = await _setup_perms(async_db)
    async_db.expunge_all()
    direct = await async_db.get(User, direct_id)
    grouped = await async_db.get(User, grouped_id)
    boss = await async_db.get(User, boss_id)
    sleeper = await async_db.get(User, sleeper_id)
    assert direct and grouped and boss and sleeper
    async_db.expunge_all()  # detached: any lazy load would now raise

    assert direct.get_all_permissions() == {"tasks.view_task"}
    assert direct.has_perm("tasks.view_task") and not direct.has_perm("tasks.change_task")
    assert grouped.has_perm("tasks.change_task") and not grouped.has_perm("tasks.view_task")
    assert grouped.get_group_permissions() == {"tasks.change_task"}
    assert boss.has_perm("anything.at_all") and boss.has_perms(["a.b", "c.d"])
    assert not sleeper.has_perm("tasks.view_task")  # inactive: nothing
    assert sleeper.get_all_permissions() == set()
    assert direct.has_perms(["tasks.view_task"])
    assert not direct.has_perms(["tasks.view_task", "tasks.change_task"])


def test_inactive_superuser_has_no_permission() -> None:
    user = User(username="former", is_superuser=True, is_active=False)
    assert not user.has_perm("tasks.view_task")
    assert not user.has_perms([])


def test_anonymous_user() -> None:
    anonymous = AnonymousUser()
    assert anonymous.id is None and anonymous.username == ""
    assert not anonymous.is_authenticated and anonymous.is_anonymous
    assert not (anonymous.is_active or anonymous.is_staff or anonymous.is_superuser)
    assert not anonymous.has_perm("tasks.view_task")
    assert not anonymous.has_perms([])
    assert anonymous.get_all_permissions() == set()
    assert anonymous == AnonymousUser() and len({anonymous, AnonymousUser()}) == 1


# -- cascades --------------------------------------------------------------------


def test_deleting_a_user_deletes_tokens_and_memberships(db: Session) -> None:
    group = Group(name="team")
    user = _user("leaver", groups=[group])
    db.add(user)
    db.flush()
    db.add(APIToken(user_id=user.id, name="ci", prefix="abcd1234", key_hash="0" * 64))
    db.flush()
    db.execute(text("DELETE FROM auth_user WHERE id = :id"), {"id": user.id})
    assert db.scalar(select(func.count()).select_from(APIToken)) == 0
    remaining = db.execute(text("SELECT COUNT(*) FROM auth_user_groups")).scalar_one()
    assert remaining == 0
    assert db.scalar(select(func.count()).select_from(Group)) == 1
