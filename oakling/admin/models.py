"""The admin's audit log: one :class:`LogEntry` per add, change, delete and action.

Django's ``django.contrib.admin.models.LogEntry`` on :class:`oakling.db.Model`,
table ``admin_log``. The model is named by its label (``tasks.task``) instead
of Django's content type, and the change message is JSON naming the
changed fields with their values (Django's structured message, rendered in the
reader's language by :meth:`LogEntry.get_change_message`). Like the auth
battery's models, the table ships as a model on ``Model.metadata``: the
project's ``oakling db makemigrations`` writes its migration (the demo's is
``examples/tasks/migrations/versions/0004_*``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ForeignKey, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from oakling.auth.models import User, _UTCDateTime
from oakling.db import Model
from oakling.i18n.translation import gettext_noop as N_

__all__ = ["ADDITION", "CHANGE", "DELETION", "LogEntry"]

ADDITION = 1
CHANGE = 2
DELETION = 3

# NOTE: stored English; the templates translate them where shown.
_ACTION_NAMES = {ADDITION: N_("Added"), CHANGE: N_("Changed"), DELETION: N_("Deleted")}


def _now() -> datetime:
    return datetime.now(UTC)


class LogEntry(Model):
    """One change made through the admin (Django's ``LogEntry``)."""

    __tablename__ = "admin_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_time: Mapped[datetime] = mapped_column(_UTCDateTime(), default=_now, index=True)
    # NOTE: SET NULL, not Django's CASCADE: deleting an account keeps the trail.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey(User.id, ondelete="SET NULL"), index=True
    )
    username: Mapped[str] = mapped_column(String(150), default="")
    model: Mapped[str] = mapped_column(String(200), index=True)
    object_id: Mapped[str] = mapped_column(String(255), index=True)
    object_repr: Mapped[str] = mapped_column(String(200))
    action_flag: Mapped[int] = mapped_column(SmallInteger)
    change_message: Mapped[str] = mapped_column(Text, default="")

    def get_change_message(self) -> str:
        """Return the change message in the current language (Django's ``get_change_message``).

        Stored as JSON (:mod:`oakling.admin.changes`); a plain-text message
        (older entries) is returned as it is.
        """
        from .changes import render_change_message

        return render_change_message(self.change_message)

    @property
    def action_name(self) -> str:
        """``"Added"``, ``"Changed"`` or ``"Deleted"``."""
        return _ACTION_NAMES.get(self.action_flag, "?")

    def __repr__(self) -> str:
        return f"<LogEntry {self.action_name} {self.model}:{self.object_id}>"
