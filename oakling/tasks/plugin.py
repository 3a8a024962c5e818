"""The Tasks plugin: settings -> backend, the request outbox, the 422 for bad arguments."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from oakling.exceptions import ImproperlyConfigured
from oakling.responses import JSONResponse

from .backends import Backend, CeleryBackend, InProcessBackend
from .outbox import TasksMiddleware
from .tasks import TaskArgumentsError, registry

if TYPE_CHECKING:
    from oakling.applications import App
    from oakling.requests import HTTPConnection

__all__ = ["Tasks", "default_tasks"]

logger = logging.getLogger("oakling.tasks")

_default: Tasks | None = None


class Tasks:
    """Background tasks for an app: ``App(plugins=[Tasks()])``, ``app.extensions["tasks"]``.

    The backend comes from settings alone:

    - no ``TASKS_BROKER_URL`` (``OAKLING_TASKS_BROKER_URL``): in-process,
      after the response, **not durable** (:class:`InProcessBackend`);
    - ``TASKS_BROKER_URL=amqp://...`` (RabbitMQ) or ``redis://...``: Celery
      (:class:`CeleryBackend`); run ``oakling worker`` (and ``oakling beat``
      for periodic tasks) beside the web processes. ``TASKS_RESULT_BACKEND``
      (``redis://...``) keeps results and idempotency keys;
      ``TASKS_DEFAULT_QUEUE`` names the queue (default ``celery``).
    - ``TASKS_OUTBOX=true`` (Celery, with ``oakling.db``): a request's tasks
      are rows of its own transaction until the broker has them, and a relay
      (``TASKS_OUTBOX_INTERVAL``, ``TASKS_OUTBOX_GRACE``) sends what an outage
      left (:mod:`oakling.tasks.durable`).

    Args:
        broker_url: Overrides ``TASKS_BROKER_URL``.
        result_backend: Overrides ``TASKS_RESULT_BACKEND``.
        beat: Run periodic tasks (interval schedules) in this process
            when the backend is in-process; default the ``TASKS_BEAT``
            setting, else off (with several processes each would run them).
    """

    name = "tasks"

    def __init__(
        self,
        *,
        broker_url: str | None = None,
        result_backend: str | None = None,
        beat: bool | None = None,
    ) -> None:
        self._broker_url = broker_url
        self._result_backend = result_backend
        self._beat = beat
        self.app: App | None = None
        self._backend: Backend | None = None
        self._beat_jobs: list[asyncio.Task[None]] = []
        self._relay: Any = None

    def install(self, app: App) -> None:
        """Register on ``app``: extension, middleware, 422 handler, shutdown.

        Raises:
            ImproperlyConfigured: If the app already has a ``tasks`` extension.
        """
        global _default
        existing = app.extensions.get(self.name)
        if existing is not None and existing is not self:
            raise ImproperlyConfigured("the app already has Tasks installed")
        app.extensions[self.name] = self
        self.app = app
        app.add_middleware(TasksMiddleware, plugin=self, oakling_app=app)
        app.error_handlers[TaskArgumentsError] = _bad_arguments
        app.on_startup(self._start)
        app.on_shutdown(self._stop)
        _default = self

    def activate(self) -> None:
        """Make this plugin the one ``enqueue`` uses outside a request.

        ``install`` does it, so in a process with one app (a server, a
        worker, a script calling ``create_app()``) nothing is needed; a
        process holding several apps (tests) picks one.
        """
        global _default
        _default = self

    # -- settings -------------------------------------------------------------

    @property
    def broker_url(self) -> str | None:
        """``TASKS_BROKER_URL``: the Celery broker, or None for in-process."""
        if self._broker_url is not None:
            return self._broker_url or None
        return _text(self._setting("TASKS_BROKER_URL"))

    @property
    def result_backend(self) -> str | None:
        """``TASKS_RESULT_BACKEND``: Celery's result store, or None."""
        if self._result_backend is not None:
            return self._result_backend or None
        return _text(self._setting("TASKS_RESULT_BACKEND"))

    def _setting(self, name: str) -> Any:
        if self.app is None:
            return None
        value = self.app.settings.get(name)
        return value or None

    @property
    def backend(self) -> Backend:
        """The backend the settings chose (made on first use)."""
        backend = self._backend
        if backend is None:
            url = self.broker_url
            if url:
                backend = CeleryBackend(
                    self, url, self.result_backend, self._setting("TASKS_DEFAULT_QUEUE")
                )
            else:
                backend = InProcessBackend(self)
            self._backend = backend
        return backend

    @property
    def outbox_database(self) -> Any:
        """The ``Database`` holding the outbox when ``TASKS_OUTBOX`` is on, else None.

        Only with a durable backend (Celery): in-process tasks are lost with
        the process anyway. See :mod:`oakling.tasks.durable`.

        Raises:
            ImproperlyConfigured: ``TASKS_OUTBOX`` is on but the app has no
                ``Database`` plugin.
        """
        if not _flag(self._setting("TASKS_OUTBOX")) or not self.backend.durable:
            return None
        assert self.app is not None
        database = self.app.extensions.get("db")
        if database is None:
            raise ImproperlyConfigured(
                "TASKS_OUTBOX needs oakling.db: install Database() before Tasks()"
            )
        return database

    # -- lifespan -------------------------------------------------------------

    async def _start(self) -> None:
        database = self.outbox_database
        if database is not None:
            from .durable import Relay

            interval = float(self._setting("TASKS_OUTBOX_INTERVAL") or 5)
            grace = float(self._setting("TASKS_OUTBOX_GRACE") or 10)
            self._relay = Relay(self, database, interval=interval, grace=grace)
            self._relay.start()
        beat = self._beat
        if beat is None:
            raw = self._setting("TASKS_BEAT")
            beat = str(raw).lower() in {"1", "true", "yes", "on"} if raw else False
        if not beat or self.backend.durable:
            return
        for task in registry.values():
            schedule = task.options.schedule
            if schedule is None:
                continue
            if not isinstance(schedule, int | float):
                logger.warning(
                    "task %s: only interval schedules run in-process; use oakling beat",
                    task.name,
                )
                continue
            self._beat_jobs.append(asyncio.create_task(self._every(task, float(schedule))))

    async def _every(self, task: Any, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                task.enqueue()
            except Exception:  # noqa: BLE001 - the schedule goes on
                logger.exception("periodic task %s could not be enqueued", task.name)

    async def _stop(self) -> None:
        if self._relay is not None:
            await self._relay.stop()
            self._relay = None
        for job in self._beat_jobs:
            job.cancel()
        self._beat_jobs = []
        if self._backend is not None:
            await self._backend.close()


def _flag(value: Any) -> bool:
    return str(value).lower() in {"1", "true", "yes", "on"} if value else False


def _text(value: Any) -> str | None:
    return str(value) if value else None


def default_tasks() -> Tasks:
    """Return the plugin installed (or activated) last, for enqueue outside a request.

    With none installed, a bare in-process one: tasks run at once, without
    database sessions.
    """
    global _default
    if _default is None:
        _default = Tasks()
    return _default


def _bad_arguments(conn: HTTPConnection, ex: Exception) -> JSONResponse:
    assert isinstance(ex, TaskArgumentsError)
    logger.info("%s", ex)
    return JSONResponse({"detail": ex.errors}, status_code=422)
