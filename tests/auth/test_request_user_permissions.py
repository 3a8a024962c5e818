"""request.user comes with its permissions in one query, and sees changes at the next request."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import InvalidRequestError

from oakling import Request
from oakling.auth import Group, Permission, User
from oakling.auth.services import get_user_with_permissions_sync
from oakling.testing import TestClient
from tests.auth.conftest import log_in

BACKENDS = pytest.mark.parametrize("web_url", ["sqlite", "postgresql"], indirect=True)
CODES = ("tasks.view_task", "tasks.change_task", "tasks.delete_task", "notes.view_note")


def _app(make_app: Any) -> Any:
    app = make_app()

    @app.get("/perms")
    def perms(request: Request) -> dict[str, Any]:
        user = request.user
        return {
            "all": sorted(user.get_all_permissions()),
            "change": user.has_perm("tasks.change_task"),
            "both": user.has_perms(["tasks.view_task", "notes.view_note"]),
        }

    return app


def _setup(app: Any, user_id: int) -> dict[str, int]:
    with app.extensions["db"].session() as session:
        perms = {code: Permission(codename=code, name=code) for code in CODES}
        editors = Group(name="editors", permissions=[perms["tasks.change_task"]])
        # the same codename directly and through two groups: listed once
        viewers = Group(name="viewers", permissions=[perms["tasks.view_task"]])
        readers = Group(name="readers", permissions=[perms["tasks.view_task"]])
        user = session.get(User, user_id)
        user.user_permissions.append(perms["tasks.view_task"])
        user.groups.extend([editors, viewers, readers])
        session.add_all(perms.values())
        session.commit()
        return {"editors": editors.id, "notes": perms["notes.view_note"].id}


def _queries(app: Any, client: TestClient, path: str) -> tuple[Any, list[str]]:
    seen: list[str] = []
    engine = app.extensions["db"].async_engine().sync_engine

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return response, seen


@BACKENDS
def test_request_user_and_permissions_are_one_query(make_app: Any, add_user: Any) -> None:
    app = _app(make_app)
    user_id = add_user(app)
    _setup(app, user_id)
    with TestClient(app) as client:
        assert log_in(client) == 303
        response, seen = _queries(app, client, "/perms")
    assert response.status_code == 200
    assert response.json() == {
        "all": ["tasks.change_task", "tasks.view_task"],
        "change": True,
        "both": False,
    }
    on_users = [sql for sql in seen if "auth_user" in sql or "auth_permission" in sql]
    assert len(on_users) == 1, seen  # it was 4: the user, groups, their permissions, own


@BACKENDS
def test_a_permission_change_shows_at_the_next_request(make_app: Any, add_user: Any) -> None:
    # SECURITY: nothing is cached between requests: a revoked group takes effect at once.
    app = _app(make_app)
    user_id = add_user(app)
    ids = _setup(app, user_id)
    with TestClient(app) as client:
        assert log_in(client) == 303
        assert client.get("/perms").json()["change"] is True
        with app.extensions["db"].session() as session:
            user = session.get(User, user_id)
            user.groups = [group for group in user.groups if group.id != ids["editors"]]
            user.user_permissions.append(session.get(Permission, ids["notes"]))
            session.commit()
        after = client.get("/perms").json()
    assert after == {"all": ["notes.view_note", "tasks.view_task"], "change": False, "both": True}


@BACKENDS
def test_superuser_and_inactive_rules_hold(make_app: Any, add_user: Any) -> None:
    app = _app(make_app)
    user_id = add_user(app, is_superuser=True)
    with TestClient(app) as client:
        assert log_in(client) == 303
        assert client.get("/perms").json() == {"all": [], "change": True, "both": True}
    with app.extensions["db"].session() as session:
        found = get_user_with_permissions_sync(session, user_id)
        assert found is not None and found.has_perm("anything.at_all")
        found.is_active = False  # NOTE: not committed; Django's rule on the loaded object
        assert not found.has_perm("anything.at_all") and found.get_all_permissions() == set()


def test_groups_of_request_user_are_not_silently_empty(make_app: Any, add_user: Any) -> None:
    app = make_app()
    user_id = add_user(app)
    _setup(app, user_id)
    with app.extensions["db"].session() as session:
        found = get_user_with_permissions_sync(session, user_id)
        assert found is not None
        with pytest.raises(InvalidRequestError):
            _ = found.groups  # NOTE: not loaded: raises rather than reading as []
    for bad in (None, "x", -1, 2**70, True):
        with app.extensions["db"].session() as session:
            assert get_user_with_permissions_sync(session, bad) is None
