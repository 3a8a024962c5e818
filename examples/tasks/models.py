"""The demo's table: one SQLAlchemy model, migrated by ``examples/tasks/migrations``.

The model is the storage format only. Handlers never see it: the repository
(:class:`examples.tasks.repository.SqlTaskRepository`) turns rows into frozen
:class:`examples.tasks.repository.Task` values, which stay valid after the
request's session is closed.

Each task belongs to a user of the auth battery (``owner_id``, a foreign
key to ``auth_user.id``): the repository only ever reads and writes the
tasks of the user it was made for. Deleting a user deletes their tasks
(``ON DELETE CASCADE``). The column is nullable only for tasks stored before
migration ``0002`` added it: they have no owner, so nobody sees them.

Changing the model means a new migration in ``examples/tasks/migrations``
(``oakling db ... makemigrations``: the command is in ``app.py``'s docstring).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

# NOTE: imported for their tables: the foreign key below names auth_user,
# the demo's sessions live in oakling_session, and with TASKS_OUTBOX its
# announcements wait in oakling_task_outbox (its migrations make all three).
import oakling.auth.models  # noqa: F401
import oakling.sessions.database  # noqa: F401
import oakling.tasks.durable  # noqa: F401
from oakling.auth.models import User
from oakling.db import Model

__all__ = ["MAX_TITLE_LENGTH", "Task"]

MAX_TITLE_LENGTH = 100
"""The longest title a task may have, in characters."""


class Task(Model):
    """A stored task (table ``tasks_task``: the demo's prefix, as Django names app tables)."""

    __tablename__ = "tasks_task"
    # NOTE: ids are never reused, as on PostgreSQL and MariaDB: without
    # AUTOINCREMENT, SQLite would give a deleted last task's id (and URL)
    # to the next task.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(MAX_TITLE_LENGTH))
    completed: Mapped[bool] = mapped_column(default=False)
    # NOTE: NULL only for tasks older than migration 0002; the repository
    # always sets it, and never shows a task whose owner is not the user.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_user.id", ondelete="CASCADE"), index=True
    )
    # NOTE: for the admin's owner column, search and filter (joined there);
    # the repository reads owner_id only.
    owner: Mapped[User | None] = relationship()

    def __str__(self) -> str:
        return self.title
