"""Result handles: what ``enqueue`` returns (Celery's ``AsyncResult``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from typing import Any

from oakling.exceptions import ImproperlyConfigured

__all__ = ["PENDING", "TaskResult", "TaskFailed"]

# NOTE: Celery's state names, so a result reads the same on every backend.
PENDING = "PENDING"
STARTED = "STARTED"
RETRY = "RETRY"
SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
DROPPED = "DROPPED"  # NOTE: never sent: the request rolled back (oakling's own)

_READY = frozenset({SUCCESS, FAILURE, DROPPED})


class TaskFailed(Exception):
    """The task raised (after its retries); ``TaskResult.get`` re-raises it as this."""


class TaskResult:
    """A handle on one enqueued task: its id, state and (when kept) its result.

    Attributes:
        id: The task id (a UUID; the same for the same idempotency key).
        task_name: The task's registered name.
    """

    def __init__(self, task_id: str, task_name: str, store: ResultStore | None) -> None:
        self.id = task_id
        self.task_name = task_name
        self._store = store

    def __repr__(self) -> str:
        return f"<TaskResult {self.task_name} {self.id} {self.status}>"

    @property
    def status(self) -> str:
        """Celery's state: ``PENDING``, ``STARTED``, ``RETRY``, ``SUCCESS``, ``FAILURE``.

        Also ``DROPPED``: held by a request that rolled back, never sent.
        """
        if self._store is None:
            return PENDING
        return self._store.state(self.id)[0]

    def ready(self) -> bool:
        """Return whether the task has finished (or was dropped)."""
        return self.status in _READY

    def get(self, timeout: float = 10.0) -> Any:
        """Wait for the task and return its return value (blocking).

        Args:
            timeout: Seconds to wait.

        Raises:
            TimeoutError: When it has not finished within ``timeout``.
            TaskFailed: When it failed (its error message in the text).
            ImproperlyConfigured: When no result backend is configured.
        """
        if self._store is None:
            raise ImproperlyConfigured(
                "results are not kept: set TASKS_RESULT_BACKEND (redis://...) to keep them"
            )
        return self._store.wait(self.id, timeout)

    async def aget(self, timeout: float = 10.0) -> Any:
        """Wait for the task without blocking the loop; see :meth:`get`."""
        deadline = time.monotonic() + timeout
        while True:
            if self.ready():
                return self.get(timeout=0.1)
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {self.task_name} {self.id} did not finish in {timeout} s")
            await asyncio.sleep(0.01)


class ResultStore:
    """Where a backend keeps states and results; the interface of both stores."""

    def state(self, task_id: str) -> tuple[str, Any]:
        """Return ``(state, result or error text)``."""
        raise NotImplementedError

    def set(self, task_id: str, state: str, value: Any = None) -> None:
        """Record a new state."""
        raise NotImplementedError

    def wait(self, task_id: str, timeout: float) -> Any:
        """Block until ready; return the result (see :meth:`TaskResult.get`)."""
        deadline = time.monotonic() + timeout
        while True:
            state, value = self.state(task_id)
            if state == SUCCESS:
                return value
            if state == FAILURE:
                raise TaskFailed(value)
            if state == DROPPED:
                raise TaskFailed("the task was dropped: its request rolled back")
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} did not finish in {timeout} s")
            time.sleep(0.01)


class MemoryResults(ResultStore):
    """The in-process backend's results: the last ``size`` tasks, in memory."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._states: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def state(self, task_id: str) -> tuple[str, Any]:
        """Return ``(state, value)``; ``PENDING`` for an id not seen."""
        return self._states.get(task_id, (PENDING, None))

    def set(self, task_id: str, state: str, value: Any = None) -> None:
        """Record ``state``; the oldest entries go beyond ``size``."""
        with self._lock:
            self._states[task_id] = (state, value)
            self._states.move_to_end(task_id)
            while len(self._states) > self.size:
                self._states.popitem(last=False)
