"""Where tasks live: a small repository interface and its SQL implementation.

Handlers depend on :class:`TaskRepository` (through ``Depends(get_repository)``
in ``app.py``), never on a concrete class, so the storage can change without
touching them, and tests can swap in their own with ``app.dependency_overrides``.

A repository holds one user's tasks: it is made for the logged-in user
(``owner_id``), and every query it runs is filtered by that owner. Another
user's task is, for it, a task that does not exist: the handlers answer 404,
never 403, so ids of other users' tasks cannot be told from unused ones.

:class:`SqlTaskRepository` stores tasks with ``oakling.db`` in the table of
:class:`examples.tasks.models.Task`, through the request's session: the
request's transaction (committed when the handler succeeds, rolled back on an
error) makes each change all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from examples.tasks import models
from examples.tasks.models import MAX_TITLE_LENGTH

__all__ = ["MAX_ID", "MAX_TITLE_LENGTH", "SqlTaskRepository", "Task", "TaskRepository"]

MAX_ID = 2**31 - 1
"""The largest id a task can have: SQL ``INTEGER`` on PostgreSQL and MariaDB."""


class Task(msgspec.Struct, frozen=True):
    """A task: what the pages show and the JSON API sends.

    Frozen, so a task handed out by a repository cannot be changed behind
    its back; ``update()`` returns a new one.
    """

    id: int
    title: str
    completed: bool = False


class TaskRepository(Protocol):
    """One user's tasks, as the handlers need them; titles arrive already validated."""

    def list(self) -> Sequence[Task]:
        """Return every task of the user, oldest first."""
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


def _frozen(row: models.Task) -> Task:
    return Task(id=row.id, title=row.title, completed=row.completed)


class SqlTaskRepository:
    """One user's tasks in a SQL table, through one SQLAlchemy session.

    Every query is filtered by ``owner_id``: a task of another user (or one
    stored before tasks had owners) is never read, changed or deleted; for
    this repository it does not exist.

    It never commits: whoever owns the session does (in the demo, the
    per-request transaction of ``oakling.db``). Each change is flushed at
    once, so a new task has its id, and a failing statement raises here,
    inside the handler, rather than at commit time.

    Args:
        session: The session to work in (one per request; not thread-safe).
        owner_id: The id of the user (``auth_user.id``) whose tasks these are.
    """

    def __init__(self, session: Session, owner_id: int) -> None:
        self.session = session
        self.owner_id = owner_id

    def _row(self, task_id: int) -> models.Task | None:
        # SECURITY: an id past the column's range is unknown, not a driver
        # error (a 500): PostgreSQL and MariaDB refuse numbers past INTEGER,
        # SQLite past 64 bits.
        if not 1 <= task_id <= MAX_ID:
            return None
        # SECURITY: the owner is part of the query, not checked afterwards:
        # no code path can hand out another user's row.
        return self.session.scalar(
            select(models.Task).where(
                models.Task.id == task_id, models.Task.owner_id == self.owner_id
            )
        )

    def list(self) -> Sequence[Task]:
        """Return every task of the owner, oldest first (by id)."""
        rows = self.session.scalars(
            select(models.Task)
            .where(models.Task.owner_id == self.owner_id)
            .order_by(models.Task.id)
        )
        return tuple(_frozen(row) for row in rows)

    def get(self, task_id: int) -> Task | None:
        """Return the task with this id, or None."""
        row = self._row(task_id)
        return None if row is None else _frozen(row)

    def add(self, title: str, completed: bool = False) -> Task:
        """Store a new task of the owner and return it with the id the database gave it."""
        row = models.Task(title=title, completed=completed, owner_id=self.owner_id)
        self.session.add(row)
        self.session.flush()
        return _frozen(row)

    def update(
        self, task_id: int, *, title: str | None = None, completed: bool | None = None
    ) -> Task | None:
        """Change the given fields (None keeps one); return the task, or None if unknown."""
        row = self._row(task_id)
        if row is None:
            return None
        if title is not None:
            row.title = title
        if completed is not None:
            row.completed = completed
        self.session.flush()
        return _frozen(row)

    def delete(self, task_id: int) -> Task | None:
        """Remove the task; return what was removed, or None if unknown."""
        row = self._row(task_id)
        if row is None:
            return None
        task = _frozen(row)
        self.session.delete(row)
        self.session.flush()
        return task
