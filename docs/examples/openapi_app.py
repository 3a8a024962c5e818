# docs/examples/openapi_app.py
from typing import Annotated

import msgspec

from oakling import App, Header, Router
from oakling.openapi import OpenAPI


class TaskIn(msgspec.Struct):
    """A task to create."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["Buy milk"])]
    completed: bool = False


class Task(msgspec.Struct):
    id: int
    title: str
    completed: bool


class TaskRow:
    """What a database hands back: more than the API may show."""

    def __init__(self, id: int, title: str, completed: bool) -> None:
        self.id, self.title, self.completed = id, title, completed
        self.owner_password_hash = "argon2id$..."


TASKS = [TaskRow(1, "Read the docs", False)]

app = App(debug=True, plugins=[OpenAPI(title="Tasks", version="1.0")])
api = Router("/api", name="tasks")


@api.get("/tasks")
def list_tasks(
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20,
    done: bool | None = None,
) -> list[Task]:
    """List tasks, oldest first.

    ``done`` filters on the completed flag.
    """
    rows = [row for row in TASKS if done is None or row.completed == done]
    return rows[:limit]  # rows become Tasks: the hash is never sent


@api.post("/tasks", status_code=201, responses={409: {"description": "Duplicate title"}})
def create_task(body: TaskIn, x_request_id: Annotated[str | None, Header()] = None) -> Task:
    """Create a task."""
    row = TaskRow(len(TASKS) + 1, body.title, body.completed)
    TASKS.append(row)
    return row


@api.get("/tasks/{task_id}", deprecated=True)
def old_get_task(task_id: int) -> Task:
    """Read one task (use the list instead)."""
    return TASKS[task_id - 1]


@app.get("/health", include_in_schema=False)
def health() -> str:
    return "ok"


app.include(api)
