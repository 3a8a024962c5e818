# docs/examples/auth_app.py
from typing import Annotated

from oakling import App, Depends, Request
from oakling.auth import (
    Auth,
    CurrentUser,
    User,
    login_required,
    permission_required,
    require_permission,
)
from oakling.csrf import CSRF
from oakling.db import Database
from oakling.sessions import Sessions

# The order matters: Auth needs the database and the sessions installed first.
app = App(plugins=[Database(), Sessions(), Auth(signup=True), CSRF()])


@app.get("/")
def home(request: Request) -> dict[str, object]:
    user = request.user  # a User, or an AnonymousUser when logged out
    return {"user": user.username, "logged_in": user.is_authenticated}


@app.get("/tasks")
@login_required  # browsers go to /auth/login?next=/tasks, APIs get 401
def tasks(request: Request) -> dict[str, str]:
    return {"owner": request.user.username}


@app.post("/tasks/{task_id}/archive")
@permission_required("tasks.change_task")  # logged in without it: 403
async def archive(task_id: int) -> dict[str, int]:
    return {"archived": task_id}


@app.get("/me")
async def me(user: CurrentUser) -> dict[str, object]:  # the dependency form
    return {"id": user.id, "username": user.username, "staff": user.is_staff}


CanDelete = Annotated[User, Depends(require_permission("tasks.delete_task"))]


@app.delete("/tasks/{task_id}")
def delete(task_id: int, user: CanDelete) -> None:
    return None
