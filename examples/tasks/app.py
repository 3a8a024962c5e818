"""The Tasks demo: HTML pages, a JSON API and a live feed over one repository.

``oakling demo`` serves it; so does ``uvicorn --factory examples.tasks.app:create_app``.

- ``GET /``: the list, with a form to add a task and buttons to toggle or
  delete one (each form posts, then redirects back with 303: post/redirect/get);
- ``/api/tasks``: the same tasks as JSON (list, create, read, update, delete);
- ``GET /events``: server-sent events announcing each change, so every open
  tab updates when another one (or an API client) changes something.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from examples.tasks.events import Broadcaster
from examples.tasks.repository import MAX_TITLE_LENGTH, MemoryTaskRepository, Task, TaskRepository
from oakling import (
    App,
    Depends,
    EventSourceResponse,
    Form,
    JSONResponse,
    RedirectResponse,
    Request,
    Response,
    Router,
    ServerSentEvent,
    abort,
    render,
)

__all__ = ["TaskChange", "TaskIn", "TaskPatch", "create_app", "get_feed", "get_repository"]

HERE = Path(__file__).resolve().parent

# A title as the API takes it: 1 to 100 characters, not only whitespace.
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TITLE_LENGTH, pattern=r"\S")]


class TaskIn(msgspec.Struct):
    """The body of ``POST /api/tasks``."""

    title: Title
    completed: bool = False


class TaskPatch(msgspec.Struct):
    """The body of ``PATCH /api/tasks/{id}``: only the fields to change."""

    title: Title | None = None
    completed: bool | None = None


class TaskChange(msgspec.Struct):
    """One message of the live feed: what happened to which task."""

    action: Literal["added", "updated", "deleted"]
    task: Task


# -- dependencies: handlers ask for these, tests may override them -----------


async def get_repository(request: Request) -> TaskRepository:
    """Return the app's task storage (replace it with ``app.dependency_overrides``)."""
    repository: TaskRepository = request.app.state.tasks
    return repository


async def get_feed(request: Request) -> Broadcaster[TaskChange]:
    """Return the app's live feed of changes."""
    feed: Broadcaster[TaskChange] = request.app.state.feed
    return feed


Tasks = Annotated[TaskRepository, Depends(get_repository)]
Feed = Annotated[Broadcaster[TaskChange], Depends(get_feed)]


def found(task: Task | None, task_id: int) -> Task:
    """Return ``task``, or answer 404 when the repository had no such task."""
    if task is None:
        abort(404, f"Task {task_id} not found")
    return task


def clean_title(raw: str) -> str:
    """Return the title a person typed, stripped.

    Raises:
        ValueError: With a message to show next to the form.
    """
    title = raw.strip()
    if not title:
        raise ValueError("Please enter a title.")
    if len(title) > MAX_TITLE_LENGTH:
        raise ValueError(
            f"A title has at most {MAX_TITLE_LENGTH} characters; this one has {len(title)}."
        )
    return title


# -- pages ---------------------------------------------------------------------

pages = Router()


@pages.get("/")
def index(request: Request, tasks: Tasks) -> Response:
    return render(request, "index.html", tasks=tasks.list())


@pages.post("/tasks")
def add_task_form(
    request: Request, tasks: Tasks, feed: Feed, title: Annotated[str, Form()] = ""
) -> Response | tuple[Response, int]:
    try:
        cleaned = clean_title(title)
    except ValueError as ex:
        # Show the form again with the message and what was typed (Django's form flow).
        return render(request, "index.html", tasks=tasks.list(), error=str(ex), title=title), 422
    feed.publish(TaskChange("added", tasks.add(cleaned)))
    return RedirectResponse(request.url_for("index"), 303)


@pages.post("/tasks/{task_id}/toggle")
def toggle_task_form(request: Request, task_id: int, tasks: Tasks, feed: Feed) -> Response:
    task = found(tasks.get(task_id), task_id)
    task = found(tasks.update(task_id, completed=not task.completed), task_id)
    feed.publish(TaskChange("updated", task))
    return RedirectResponse(request.url_for("index"), 303)


@pages.post("/tasks/{task_id}/delete")
def delete_task_form(request: Request, task_id: int, tasks: Tasks, feed: Feed) -> Response:
    task = found(tasks.delete(task_id), task_id)
    feed.publish(TaskChange("deleted", task))
    return RedirectResponse(request.url_for("index"), 303)


@pages.get("/events")
async def events(feed: Feed) -> Response:
    """Stream each change as a server-sent ``task`` event, until the client leaves."""

    async def changes() -> AsyncIterator[ServerSentEvent]:
        async for change in feed.subscribe():
            yield ServerSentEvent(change, event="task")

    return EventSourceResponse(changes())


# -- JSON API: /api/tasks ------------------------------------------------------

api = Router("/api", name="api")


@api.get("/tasks")
def list_tasks(tasks: Tasks) -> list[Task]:
    """List every task, oldest first."""
    return list(tasks.list())


@api.post("/tasks")
def create_task(request: Request, body: TaskIn, tasks: Tasks, feed: Feed) -> Response:
    """Create a task (201, with its URL in ``Location``)."""
    # NOTE: read the host first: a forged Host is refused (400) before anything is stored.
    base = str(request.base_url).rstrip("/")
    task = tasks.add(body.title.strip(), body.completed)
    feed.publish(TaskChange("added", task))
    location = base + request.app.url_path_for("api:get_task", task_id=task.id)
    return JSONResponse(task, 201, {"location": location})


@api.get("/tasks/{task_id}")
def get_task(task_id: int, tasks: Tasks) -> Task:
    """Read one task."""
    return found(tasks.get(task_id), task_id)


@api.patch("/tasks/{task_id}")
def update_task(task_id: int, changes: TaskPatch, tasks: Tasks, feed: Feed) -> Task:
    """Change a task's title or completed flag."""
    title = None if changes.title is None else changes.title.strip()
    task = found(tasks.update(task_id, title=title, completed=changes.completed), task_id)
    feed.publish(TaskChange("updated", task))
    return task


@api.delete("/tasks/{task_id}")
def delete_task(task_id: int, tasks: Tasks, feed: Feed) -> None:
    """Delete a task (204)."""
    task = found(tasks.delete(task_id), task_id)
    feed.publish(TaskChange("deleted", task))


# -- the app -------------------------------------------------------------------


def create_app() -> App:
    """Build the demo app, with empty in-memory storage.

    It needs no configuration: the secret key comes from
    ``OAKLING_SECRET_KEY`` when set, else a random one made for this process
    (so anything signed with it, such as sessions, ends with the process).
    """
    app = App(
        secret_key=os.environ.get("OAKLING_SECRET_KEY") or secrets.token_urlsafe(50),
        template_folder=HERE / "templates",
        static_dir=HERE / "static",  # served at /static, url_for("static", path=...)
    )
    app.state.tasks = MemoryTaskRepository()
    feed: Broadcaster[TaskChange] = Broadcaster()
    app.state.feed = feed
    app.on_startup(feed.start)
    app.on_shutdown(feed.close)
    app.include(pages)
    app.include(api)
    return app
