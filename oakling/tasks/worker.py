"""The Celery app bound to an oakling app: what ``oakling worker`` and ``oakling beat`` run.

Each registered task becomes a Celery task of the same name whose body checks
the message against the task's annotations, then runs it with
:func:`oakling.tasks.runner.execute` on one event loop per worker process (a
background thread), so async tasks and the app's async database engine
share that loop across tasks. Retries wait the task's backoff (Celery's
``self.retry``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

import msgspec

from oakling.exceptions import ImproperlyConfigured

from .backends import CeleryBackend
from .runner import execute
from .tasks import Task, TaskArgumentsError, registry

if TYPE_CHECKING:
    from celery import Celery

    from oakling.applications import App

    from .plugin import Tasks

__all__ = ["celery_app"]

logger = logging.getLogger("oakling.tasks")


class _Loop:
    """One event loop in a daemon thread, made on first use (after a fork)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="oakling-tasks", daemon=True).start()
                self._loop = loop
                self.run(self._startup(), None)
            return self._loop

    async def _startup(self) -> None:
        # NOTE: the app's plugins get their startup hooks, as under a server.
        self.app.build()
        for func in self.app.startup_funcs:
            result = func()
            if asyncio.iscoroutine(result):
                await result

    def run(self, coro: Any, timeout: float | None) -> Any:
        loop = self._loop if self._loop is not None else self.loop()
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise


def celery_app(app: App) -> Celery:
    """Return the Celery app for ``app``'s Tasks plugin, with every task registered.

    Raises:
        ImproperlyConfigured: When the app has no Tasks plugin or no broker.
    """
    plugin: Tasks | None = app.extensions.get("tasks")
    if plugin is None:
        raise ImproperlyConfigured("the app has no Tasks plugin: App(plugins=[Tasks()])")
    backend = plugin.backend
    if not isinstance(backend, CeleryBackend):
        raise ImproperlyConfigured(
            "the app runs tasks in-process: set TASKS_BROKER_URL (amqp://... or redis://...) "
            "to run a worker"
        )
    celery = backend.celery
    if getattr(celery, "_oakling_bound", False):
        return celery
    loop = _Loop(app)
    for task in list(registry.values()):
        _register(celery, task, plugin, loop)
    schedule = {
        task.name: {"task": task.name, "schedule": task.options.schedule, "args": [{}]}
        for task in registry.values()
        if task.options.schedule is not None
    }
    celery.conf.beat_schedule = schedule
    celery._oakling_bound = True  # NOTE: our own mark on Celery's (untyped) app
    return celery


def _register(celery: Celery, task: Task[Any, Any], plugin: Tasks, loop: _Loop) -> None:
    options = task.options

    def run(self: Any, payload: Any) -> Any:
        try:
            values = task.load(payload)
        except TaskArgumentsError:
            logger.error("task %s %s: bad message, dropped", task.name, self.request.id)
            raise
        try:
            timeout = options.time_limit
            result = loop.run(execute(task, values, plugin), timeout + 1 if timeout else None)
        except Exception as ex:
            if self.request.retries < options.retries and isinstance(ex, options.retry_on):
                raise self.retry(
                    exc=ex, countdown=options.backoff(self.request.retries + 1)
                ) from ex
            raise
        return msgspec.to_builtins(result)

    celery.task(
        name=task.name,
        bind=True,
        max_retries=options.retries,
        acks_late=True,
        queue=options.queue,
    )(run)
