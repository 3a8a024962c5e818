"""The Tasks demo: HTML pages, a JSON API and a live feed over one repository.

``oakling demo`` serves it; so does ``uvicorn --factory examples.tasks.app:create_app``.
Tasks are stored with ``oakling.db``: in ``tasks-demo.db`` (SQLite, in the
current folder) unless ``OAKLING_DATABASE_URL`` names another database, e.g.
``postgresql://postgres@127.0.0.1:5432/test`` or ``mysql://root@127.0.0.1:3306/test``.
At startup the database is migrated to the latest revision of
``examples/tasks/migrations``, so the first start creates the table and later
ones keep the data.

- ``GET /``: the list, with a form to add a task and buttons to toggle or
  delete one (each form posts, then redirects back with 303: post/redirect/get);
- ``/api/tasks``: the same tasks as JSON (list, create, read, update, delete);
- ``GET /events``: server-sent events announcing each change, so every open
  tab updates when another one (or an API client) changes something.

Each request runs in one transaction (``oakling.db``'s default): committed
when the handler returns, rolled back when it fails. A change is announced on
the live feed only once it is committed: handlers hand it to
:class:`Announcer`, which publishes it from a background task, and background
tasks run after the response is sent, which is after the commit. A change
that is rolled back (or whose commit fails) is never announced.

To change the model, write a migration from the repository root, against a
scratch database brought to the latest revision first::

    export OAKLING_APP='examples.tasks.app:create_app()'
    export OAKLING_DATABASE_URL=sqlite:////tmp/tasks-scratch.db
    DB="oakling db -d examples/tasks/migrations --version-table tasks_alembic_version"
    $DB migrate && $DB makemigrations -m "add due date"
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from examples.tasks.events import Broadcaster
from examples.tasks.repository import MAX_TITLE_LENGTH, SqlTaskRepository, Task, TaskRepository
from oakling import (
    App,
    BackgroundTasks,
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
from oakling.concurrency import run_in_threadpool
from oakling.db import Database, Session, migrations

__all__ = [
    "DEFAULT_DATABASE_URL",
    "MIGRATIONS",
    "VERSION_TABLE",
    "Announcer",
    "TaskChange",
    "TaskIn",
    "TaskPatch",
    "create_app",
    "get_announcer",
    "get_feed",
    "get_repository",
    "migrate_database",
]

HERE = Path(__file__).resolve().parent

DEFAULT_DATABASE_URL = "sqlite:///tasks-demo.db"
"""Where tasks go with no configuration: a SQLite file in the current folder."""

MIGRATIONS = HERE / "migrations"
"""The demo's migrations folder (Alembic, written by ``oakling db``)."""

VERSION_TABLE = "tasks_alembic_version"
"""The table recording the demo's applied revision.

Not Alembic's default ``alembic_version``: the demo may share a database with
a project that has migrations of its own.
"""

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


def get_repository(db: Session) -> TaskRepository:
    """Return the task storage, in the request's transaction.

    Replace it with ``app.dependency_overrides[get_repository]``.
    """
    return SqlTaskRepository(db)


async def get_feed(request: Request) -> Broadcaster[TaskChange]:
    """Return the app's live feed of changes."""
    feed: Broadcaster[TaskChange] = request.app.state.feed
    return feed


Feed = Annotated[Broadcaster[TaskChange], Depends(get_feed)]


class Announcer:
    """Publish a request's changes on the live feed once they are committed.

    The request's transaction commits when the handler's dependencies are
    cleaned up, before the response is sent; background tasks run after it
    is sent. Publishing from one therefore never announces a change that was
    rolled back: when the handler raises, or the commit fails, the response
    carries no background tasks.

    Args:
        feed: The live feed.
        background: The request's background tasks.
    """

    def __init__(self, feed: Broadcaster[TaskChange], background: BackgroundTasks) -> None:
        self.feed = feed
        self.background = background

    def publish(self, change: TaskChange) -> None:
        """Announce ``change`` after the response (so after the commit)."""
        self.background.add_task(self.feed.publish, change)


def get_announcer(feed: Feed, background: BackgroundTasks) -> Announcer:
    """Return the request's :class:`Announcer`."""
    return Announcer(feed, background)


Tasks = Annotated[TaskRepository, Depends(get_repository)]
Changes = Annotated[Announcer, Depends(get_announcer)]


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
    request: Request, tasks: Tasks, changes: Changes, title: Annotated[str, Form()] = ""
) -> Response | tuple[Response, int]:
    try:
        cleaned = clean_title(title)
    except ValueError as ex:
        # Show the form again with the message and what was typed (Django's form flow).
        return render(request, "index.html", tasks=tasks.list(), error=str(ex), title=title), 422
    changes.publish(TaskChange("added", tasks.add(cleaned)))
    return RedirectResponse(request.url_for("index"), 303)


@pages.post("/tasks/{task_id}/toggle")
def toggle_task_form(request: Request, task_id: int, tasks: Tasks, changes: Changes) -> Response:
    task = found(tasks.get(task_id), task_id)
    task = found(tasks.update(task_id, completed=not task.completed), task_id)
    changes.publish(TaskChange("updated", task))
    return RedirectResponse(request.url_for("index"), 303)


@pages.post("/tasks/{task_id}/delete")
def delete_task_form(request: Request, task_id: int, tasks: Tasks, changes: Changes) -> Response:
    task = found(tasks.delete(task_id), task_id)
    changes.publish(TaskChange("deleted", task))
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
def create_task(request: Request, body: TaskIn, tasks: Tasks, changes: Changes) -> Response:
    """Create a task (201, with its URL in ``Location``)."""
    # NOTE: read the host first: a forged Host is refused (400) before anything is stored.
    base = str(request.base_url).rstrip("/")
    task = tasks.add(body.title.strip(), body.completed)
    changes.publish(TaskChange("added", task))
    location = base + request.app.url_path_for("api:get_task", task_id=task.id)
    return JSONResponse(task, 201, {"location": location})


@api.get("/tasks/{task_id}")
def get_task(task_id: int, tasks: Tasks) -> Task:
    """Read one task."""
    return found(tasks.get(task_id), task_id)


@api.patch("/tasks/{task_id}")
def update_task(task_id: int, patch: TaskPatch, tasks: Tasks, changes: Changes) -> Task:
    """Change a task's title or completed flag."""
    title = None if patch.title is None else patch.title.strip()
    task = found(tasks.update(task_id, title=title, completed=patch.completed), task_id)
    changes.publish(TaskChange("updated", task))
    return task


@api.delete("/tasks/{task_id}")
def delete_task(task_id: int, tasks: Tasks, changes: Changes) -> None:
    """Delete a task (204)."""
    task = found(tasks.delete(task_id), task_id)
    changes.publish(TaskChange("deleted", task))


# -- the app -------------------------------------------------------------------


def migrate_database(database: Database, revision: str = "heads") -> None:
    """Migrate the demo's tables to ``revision`` (default: the latest).

    Idempotent: an up-to-date database is left as it is. Blocking (run it in
    a thread from async code).

    Raises:
        sqlalchemy.exc.OperationalError: When the database is unreachable.
    """
    migrations.migrate(database, revision, directory=MIGRATIONS, version_table=VERSION_TABLE)


def create_app(database_url: str | None = None) -> App:
    """Build the demo app over a database migrated at startup.

    It needs no configuration: the secret key comes from
    ``OAKLING_SECRET_KEY`` when set, else a random one made for this process
    (so anything signed with it, such as sessions, ends with the process).

    Args:
        database_url: Where tasks are stored. Default: the ``DATABASE_URL``
            setting (``OAKLING_DATABASE_URL`` in the environment or ``.env``),
            else :data:`DEFAULT_DATABASE_URL`. SQLite, PostgreSQL and MariaDB
            or MySQL URLs work unchanged (drivers: ``pip install 'oakling[db]'``,
            plus ``[postgres]`` or ``[mysql]``).
    """
    app = App(
        secret_key=os.environ.get("OAKLING_SECRET_KEY") or secrets.token_urlsafe(50),
        template_folder=HERE / "templates",
        static_dir=HERE / "static",  # served at /static, url_for("static", path=...)
    )
    database = Database(database_url or app.settings.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    app.install(database)

    async def migrate() -> None:
        # NOTE: Alembic blocks; a thread keeps the event loop free meanwhile.
        await run_in_threadpool(migrate_database, database)

    app.on_startup(migrate)
    feed: Broadcaster[TaskChange] = Broadcaster()
    app.state.feed = feed
    app.on_startup(feed.start)
    app.on_shutdown(feed.close)
    app.include(pages)
    app.include(api)
    return app
