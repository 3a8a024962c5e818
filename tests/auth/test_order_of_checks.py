"""The order of checks: hooks, then authentication and permissions, then the body, then the handler.

An anonymous or forbidden request never learns a form's or body's shape: it
gets its redirect, 401 or 403, not a 422 listing the fields.
"""

# NOTE: no ``from __future__ import annotations``: handlers are defined inside
# the tests, and their annotations must resolve there.

from typing import Annotated, Any

import msgspec
import pytest

from oakling import Depends, Form, Request
from oakling.auth import (
    CurrentUser,
    Permission,
    User,
    login_required,
    permission_required,
    require_permission,
)
from oakling.testing import TestClient
from tests.auth.conftest import WEB_PASSWORD

JSON = {"Accept": "application/json"}


class Task(msgspec.Struct):
    title: str
    secret_internal_field: int


def _login(client: TestClient) -> None:
    response = client.post(
        "/auth/login",
        data={"username": "ann", "password": WEB_PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _grant(app: Any, user_id: int, codename: str) -> None:
    with app.extensions["db"].session() as session:
        user = session.get(User, user_id)
        user.user_permissions.append(Permission(codename=codename, name=codename))
        session.commit()


def _as(kind: str, func: Any) -> Any:
    if kind == "sync":
        return func

    async def async_version(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    async_version.__signature__ = __import__("inspect").signature(func)  # type: ignore[attr-defined]
    async_version.__name__ = func.__name__
    return async_version


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app(make_app: Any, kind: str) -> Any:
    app = make_app()

    def form_view(title: Annotated[str, Form()], secret_internal_field: Annotated[int, Form()]):
        return {"title": title}

    def body_view(task: Task) -> dict[str, str]:
        return {"title": task.title}

    def dependency_view(user: CurrentUser, task: Task) -> dict[str, str]:
        return {"title": task.title, "user": user.username}

    def permission_dependency_view(
        user: Annotated[User, Depends(require_permission("tasks.add_task"))], task: Task
    ) -> dict[str, str]:
        return {"title": task.title}

    app.post("/decorated-form", name="decorated-form")(login_required(_as(kind, form_view)))
    app.post("/decorated-body", name="decorated-body")(login_required(_as(kind, body_view)))
    app.post("/permission-body", name="permission-body")(
        permission_required("tasks.add_task")(_as(kind, body_view))
    )
    app.post("/dependency-body", name="dependency-body")(_as(kind, dependency_view))
    app.post("/permission-dependency-body", name="permission-dependency-body")(
        _as(kind, permission_dependency_view)
    )
    return app


ROUTES = [
    "/decorated-form",
    "/decorated-body",
    "/permission-body",
    "/dependency-body",
    "/permission-dependency-body",
]


@pytest.mark.parametrize("path", ROUTES)
def test_anonymous_api_client_gets_401_not_the_fields(app: Any, path: str) -> None:
    with TestClient(app) as client:
        if path.endswith("form"):
            response = client.post(path, data={}, headers=JSON)
        else:
            response = client.post(path, json={}, headers=JSON)
    assert response.status_code == 401, response.text
    assert "secret_internal_field" not in response.text
    assert "title" not in response.text


@pytest.mark.parametrize("path", ROUTES)
def test_anonymous_browser_is_sent_to_login_not_shown_the_fields(app: Any, path: str) -> None:
    with TestClient(app) as client:
        response = client.post(path, data={"title": "x"}, follow_redirects=False)
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith("/auth/login?next=")
    assert "secret_internal_field" not in response.text


@pytest.mark.parametrize("path", ["/permission-body", "/permission-dependency-body"])
def test_user_without_the_permission_gets_403_not_the_fields(
    app: Any, add_user: Any, path: str
) -> None:
    add_user(app)
    with TestClient(app) as client:
        _login(client)
        response = client.post(path, content=b"not json at all", headers=JSON)
    assert response.status_code == 403, response.text
    assert "secret_internal_field" not in response.text


@pytest.mark.parametrize("path", ROUTES)
def test_allowed_user_still_gets_the_validation_error(app: Any, add_user: Any, path: str) -> None:
    _grant(app, add_user(app), "tasks.add_task")
    with TestClient(app) as client:
        _login(client)
        if path.endswith("form"):
            invalid = client.post(path, data={"title": "x"}, headers=JSON)
            valid = client.post(
                path, data={"title": "x", "secret_internal_field": "1"}, headers=JSON
            )
        else:
            invalid = client.post(path, json={"title": "x"}, headers=JSON)
            valid = client.post(path, json={"title": "x", "secret_internal_field": 1}, headers=JSON)
    assert invalid.status_code == 422
    assert "secret_internal_field" in invalid.text
    assert valid.status_code == 200, valid.text
    assert valid.json()["title"] == "x"


def test_a_before_request_hook_runs_before_the_checks(make_app: Any, kind: str) -> None:
    app = make_app()
    seen: list[str] = []

    @app.before_request
    def hook(request: Request) -> None:
        seen.append(f"hook sees user {request.user.is_authenticated}")

    def view(task: Task) -> str:
        return task.title

    app.post("/x", name="x")(login_required(_as(kind, view)))
    with TestClient(app) as client:
        response = client.post("/x", json={}, headers=JSON)
    assert response.status_code == 401
    assert seen == ["hook sees user False"]
