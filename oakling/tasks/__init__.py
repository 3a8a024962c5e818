"""oakling.tasks: background tasks, in-process by default, on Celery at scale.

``pip install oakling`` is enough for the in-process backend; a broker needs
``pip install 'oakling[tasks]'`` (Celery)::

    from oakling import App
    from oakling.tasks import Tasks, task


    @task(retries=3, retry_backoff=2)
    def send_welcome(user_id: int) -> None: ...


    app = App(plugins=[Tasks()])  # TASKS_BROKER_URL from settings; in-process without


    @app.post("/signup")
    def signup(user_id: int) -> dict[str, int]:
        send_welcome.enqueue(user_id)  # checked now; sent once the request commits
        return {"id": user_id}

Celery is imported only when ``TASKS_BROKER_URL`` is set.
"""

from __future__ import annotations

from .outbox import Outbox, TasksMiddleware, current_outbox
from .plugin import Tasks
from .results import TaskFailed, TaskResult
from .tasks import Task, TaskArgumentsError, TaskOptions, registry, task

__all__ = [
    "Outbox",
    "Task",
    "TaskArgumentsError",
    "TaskFailed",
    "TaskOptions",
    "TaskResult",
    "Tasks",
    "TasksMiddleware",
    "current_outbox",
    "registry",
    "task",
]
