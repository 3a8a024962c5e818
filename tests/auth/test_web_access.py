"""login_required, permission_required, scopes and bearer tokens, attacked through the app."""

from __future__ import annotations

import asyncio
import inspect
from typing import Annotated, Any

import pytest

from oakling import Depends, Request, WebSocket, WebSocketDisconnect
from oakling.auth import (
    CurrentUser,
    Permission,
    User,
    create_token,
    login_required,
    permission_required,
    require_permission,
    require_scopes,
    scopes_required,
)
from oakling.testing import TestClient
from tests.auth.conftest import WEB_PASSWORD

JSON = {"Accept": "application/json"}
CanDelete = Annotated[User, Depends(require_permission("tasks.delete_task"))]
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _login(client: TestClient, username: str = "ann") -> None:
    response = client.post(
        "/auth/login",
        data={"username": username, "password": WEB_PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _grant(app: Any, user_id: int, codename: str) -> None:
    with app.extensions["db"].session() as session:
        permission = Permission(codename=codename, name=codename)
        user = session.get(User, user_id)
        user.user_permissions.append(permission)
        session.commit()


def _token(app: Any, user_id: int, *scopes: str) -> str:
    async def make() -> str:
        database = app.extensions["db"]
        try:
            async with database.async_session() as session:
                user = await session.get(User, user_id)
                _, plaintext = await create_token(session, user, name="test", scopes=scopes)
                await session.commit()
                return str(plaintext)
        finally:
            await database.async_engine().dispose()

    return asyncio.run(make())


def _protected_app(make_app: Any, as_handler: Any) -> Any:
    app = make_app()

    @app.get("/private")
    @login_required
    @as_handler
    def private(request: Request, page: int = 1) -> dict[str, Any]:
        return {"user": request.user.username, "page": page}

    @app.post("/tasks/{task_id}/edit", name="edit_task")
    @permission_required("tasks.change_task")
    @as_handler
    def edit(task_id: int, request: Request) -> dict[str, Any]:
        return {"edited": task_id, "by": request.user.username}

    @app.post("/api/tasks")
    @scopes_required("tasks:write")
    @as_handler
    def create_task(request: Request) -> dict[str, Any]:
        return {"by": request.user.username, "method": request.auth.method}

    return app


def test_decorators_keep_name_and_signature(make_app: Any, as_handler: Any) -> None:
    app = _protected_app(make_app, as_handler)
    names = {route.name for route in app.routes}
    assert {"private", "edit_task", "create_task"} <= names
    route = next(route for route in app.routes if route.name == "private")
    assert list(inspect.signature(route.endpoint).parameters) == ["request", "page"]
    assert inspect.iscoroutinefunction(route.endpoint) == (as_handler.kind == "async")


def test_login_required_redirects_browsers_and_401s_apis(
    make_app: Any, add_user: Any, as_handler: Any
) -> None:
    app = _protected_app(make_app, as_handler)
    add_user(app)
    with TestClient(app, follow_redirects=False) as client:
        browser = client.get("/private?page=2", headers=HTML)
        assert browser.status_code == 302
        assert browser.headers["location"] == "/auth/login?next=%2Fprivate%3Fpage%3D2"
        api = client.get("/private", headers=JSON)
        assert api.status_code == 401
        assert api.json() == {"detail": "Authentication required"}
        assert api.headers["www-authenticate"] == "Bearer"
        xhr = client.get("/private", headers={"X-Requested-With": "XMLHttpRequest"})
        assert xhr.status_code == 401
        # The redirect's next= brings the user back after logging in.
        login = client.post(
            "/auth/login",
            data={"username": "ann", "password": WEB_PASSWORD, "next": "/private?page=2"},
        )
        assert login.headers["location"] == "/private?page=2"
        assert client.get("/private?page=2").json() == {"user": "ann", "page": 2}


def test_login_url_setting_is_used(make_app: Any) -> None:
    app = make_app(extra={"LOGIN_URL": "/signin"})

    @app.get("/private")
    @login_required
    def private() -> str:
        return "secret"

    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/private").headers["location"] == "/signin?next=%2Fprivate"


def test_permission_required(make_app: Any, add_user: Any, as_handler: Any) -> None:
    app = _protected_app(make_app, as_handler)
    ann = add_user(app, "ann")
    add_user(app, "boss", is_superuser=True)
    with TestClient(app, follow_redirects=False) as client:
        anonymous = client.post("/tasks/1/edit", headers=JSON)
        assert anonymous.status_code == 401
        _login(client)
        denied = client.post("/tasks/1/edit", headers=JSON)
        assert denied.status_code == 403
        assert "tasks.change_task" in denied.json()["detail"]
        page = client.post("/tasks/1/edit", headers=HTML)
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        _grant(app, ann, "tasks.change_task")
        assert client.post("/tasks/1/edit").json() == {"edited": 1, "by": "ann"}
        client.post("/auth/logout")
        _login(client, "boss")
        assert client.post("/tasks/1/edit").json() == {"edited": 1, "by": "boss"}


def test_bearer_tokens_and_scopes(make_app: Any, add_user: Any, as_handler: Any) -> None:
    app = _protected_app(make_app, as_handler)
    ann = add_user(app)
    writer = _token(app, ann, "tasks:read", "tasks:write")
    reader = _token(app, ann, "tasks:read")
    with TestClient(app, follow_redirects=False) as client:
        ok = client.post("/api/tasks", headers={"Authorization": f"Bearer {writer}"})
        assert ok.status_code == 200
        assert ok.json() == {"by": "ann", "method": "token"}
        assert "set-cookie" not in ok.headers  # no session needed, none made
        # SECURITY: a shared cache must not hand ann's answer to the next caller.
        assert ok.headers["cache-control"] == "private"
        assert "Authorization" in ok.headers["vary"]
        wrong_scope = client.post("/api/tasks", headers={"Authorization": f"Bearer {reader}"})
        assert wrong_scope.status_code == 403
        assert wrong_scope.headers["www-authenticate"] == (
            'Bearer error="insufficient_scope", scope="tasks:write"'
        )
        for garbage in ("garbage", writer[:-2] + "xx", "", "x" * 5000, reader + " extra"):
            refused = client.post("/api/tasks", headers={"Authorization": f"Bearer {garbage}"})
            assert refused.status_code == 401, garbage
            assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
            assert refused.json() == {"detail": "Invalid or expired API token"}
        # A bad token is refused even where no login is needed.
        assert (
            client.get("/auth/login", headers={"Authorization": "Bearer nope"}).status_code == 401
        )
        # A token works for login_required pages too, and sessions pass scope checks.
        private = client.get("/private", headers={"Authorization": f"Bearer {reader}"})
        assert private.json() == {"user": "ann", "page": 1}
        assert client.post("/api/tasks", headers=JSON).status_code == 401
        _login(client)
        assert client.post("/api/tasks").json() == {"by": "ann", "method": "session"}


def test_token_of_an_inactive_user_is_refused(make_app: Any, add_user: Any) -> None:
    app = _protected_app(make_app, lambda func: func)
    ann = add_user(app)
    token = _token(app, ann, "tasks:write")
    with app.extensions["db"].session() as session:
        session.get(User, ann).is_active = False
        session.commit()
    with TestClient(app) as client:
        refused = client.post("/api/tasks", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401


def test_dependencies(make_app: Any, add_user: Any) -> None:
    app = make_app()
    ann = add_user(app)

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return {"id": user.id, "username": user.username}

    @app.get("/me-sync")
    def me_sync(user: User) -> dict[str, Any]:
        # Loaded and detached: sync code reads groups and permissions freely.
        return {"username": user.username, "perms": sorted(user.get_all_permissions())}

    @app.delete("/tasks/{task_id}")
    def delete(task_id: int, user: CanDelete) -> Any:
        return {"deleted": task_id}

    @app.get("/api/me")
    async def api_me(user: Annotated[User, Depends(require_scopes("profile"))]) -> Any:
        return {"username": user.username}

    profile = _token(app, ann, "profile")
    other = _token(app, ann, "tasks:read")
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/me", headers=JSON).status_code == 401
        redirect = client.get("/me-sync", headers=HTML)
        assert redirect.headers["location"] == "/auth/login?next=%2Fme-sync"
        assert client.delete("/tasks/3", headers=JSON).status_code == 401
        assert (
            client.get("/api/me", headers={"Authorization": f"Bearer {other}"}).status_code == 403
        )
        assert client.get("/api/me", headers={"Authorization": f"Bearer {profile}"}).json() == {
            "username": "ann"
        }
        _login(client)
        assert client.get("/me").json() == {"id": ann, "username": "ann"}
        assert client.get("/me-sync").json() == {"username": "ann", "perms": []}
        assert client.delete("/tasks/3").status_code == 403
        _grant(app, ann, "tasks.delete_task")
        assert client.delete("/tasks/3").json() == {"deleted": 3}
        assert client.get("/me-sync").json()["perms"] == ["tasks.delete_task"]


def test_websocket_user_and_refusal(make_app: Any, add_user: Any) -> None:
    app = make_app()
    ann = add_user(app)

    @app.websocket("/ws")
    @login_required
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"hello {websocket.scope['user'].username}")
        await websocket.close()

    token = _token(app, ann)
    with TestClient(app) as client:
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/ws") as ws:
                ws.receive_text()
        assert refused.value.code == 1008
        with pytest.raises(WebSocketDisconnect) as bad_token:
            with client.websocket_connect("/ws", headers={"Authorization": "Bearer bad"}) as ws:
                ws.receive_text()
        assert bad_token.value.code == 1008
        with client.websocket_connect("/ws", headers={"Authorization": f"Bearer {token}"}) as ws:
            assert ws.receive_text() == "hello ann"
        _login(client)
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_text() == "hello ann"


def test_anonymous_requests_cost_no_query(make_app: Any, add_user: Any) -> None:
    from sqlalchemy import event

    app = make_app()
    add_user(app)

    @app.get("/")
    def index(request: Request) -> str:
        return request.user.username or "anonymous"

    statements: list[str] = []
    with TestClient(app) as client:
        engine = app.extensions["db"].async_engine().sync_engine

        def record(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(engine, "before_cursor_execute", record)
        assert client.get("/").text == "anonymous"
        assert statements == []
        _login(client)
        statements.clear()
        assert client.get("/").text == "ann"
        assert len(statements) >= 1
