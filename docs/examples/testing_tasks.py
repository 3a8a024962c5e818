# docs/examples/testing_tasks.py
from typing import Annotated

import msgspec

from oakling import App, Depends, Header, abort


class TaskIn(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


def current_user(authorization: Annotated[str | None, Header()] = None) -> str:
    if authorization is None or not authorization.startswith("Bearer "):
        abort(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
    return authorization.removeprefix("Bearer ")  # a real app verifies the token


User = Annotated[str, Depends(current_user)]


def create_app() -> App:
    app = App(debug=True)
    tasks: list[dict] = []

    @app.get("/tasks")
    def list_tasks(user: User):
        return [task for task in tasks if task["owner"] == user]

    @app.post("/tasks", status_code=201)
    async def create_task(task: TaskIn, user: User):
        created = {"title": task.title, "owner": user}
        tasks.append(created)
        return created

    return app


app = create_app()
