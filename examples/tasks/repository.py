"""Where tasks live: a small repository interface and its in-memory implementation.

Handlers depend on :class:`TaskRepository` (through ``Depends(get_repository)``
in ``app.py``), never on a concrete class, so a database-backed repository can
replace :class:`MemoryTaskRepository` without touching them, and tests can
swap in their own with ``app.dependency_overrides``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import msgspec

__all__ = ["MAX_TITLE_LENGTH", "MemoryTaskRepository", "Task", "TaskRepository"]

MAX_TITLE_LENGTH = 100
"""The longest title a task may have, in characters."""


class Task(msgspec.Struct, frozen=True):
    """A task: what the pages show and the JSON API sends.

    Frozen, so a task handed out by a repository cannot be changed behind
    its back; ``update()`` returns a new one.
    """

    id: int
    title: str
    completed: bool = False


class TaskRepository(Protocol):
    """The storage the handlers need; titles arrive already validated."""

    def list(self) -> Sequence[Task]:
        """Return every task, oldest first."""
        ...

    def get(self, task_id: int) -> Task | None:
        """Return the task with this id, or None."""
        ...

    def add(self, title: str, completed: bool = False) -> Task:
        """Store a new task and return it with its id."""
        ...

    def update(
        self, task_id: int, *, title: str | None = None, completed: bool | None = None
    ) -> Task | None:
        """Change the given fields (None keeps one); return the task, or None if unknown."""
        ...

    def delete(self, task_id: int) -> Task | None:
        """Remove the task; return what was removed, or None if unknown."""
        ...


class MemoryTaskRepository:
    """Tasks in a dict, lost when the process ends: the demo's default storage.

    Thread-safe: sync handlers run in a thread pool, so two requests may
    call it at once; one lock makes each method atomic.
    """

    def __init__(self) -> None:
        self._tasks: dict[int, Task] = {}
        self._next_id = 1
        self._lock = threading.Lock()

    def list(self) -> Sequence[Task]:
        """Return every task, oldest first (dicts keep insertion order)."""
        with self._lock:
            return tuple(self._tasks.values())

    def get(self, task_id: int) -> Task | None:
        """Return the task with this id, or None."""
        with self._lock:
            return self._tasks.get(task_id)

    def add(self, title: str, completed: bool = False) -> Task:
        """Store a new task and return it with its id (1, 2, 3 ...; never reused)."""
        with self._lock:
            task = Task(id=self._next_id, title=title, completed=completed)
            self._tasks[task.id] = task
            self._next_id += 1
            return task

    def update(
        self, task_id: int, *, title: str | None = None, completed: bool | None = None
    ) -> Task | None:
        """Change the given fields (None keeps one); return the task, or None if unknown."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return None
            task = msgspec.structs.replace(
                task,
                title=task.title if title is None else title,
                completed=task.completed if completed is None else completed,
            )
            self._tasks[task_id] = task
            return task

    def delete(self, task_id: int) -> Task | None:
        """Remove the task; return what was removed, or None if unknown."""
        with self._lock:
            return self._tasks.pop(task_id, None)
