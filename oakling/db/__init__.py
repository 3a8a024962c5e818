"""oakling.db: SQLAlchemy 2 models, sessions per request, and several databases.

Install with ``pip install 'oakling[db]'`` (plus ``[postgres]`` or ``[mysql]``
for those servers)::

    from sqlalchemy import String, select
    from sqlalchemy.orm import Mapped, mapped_column

    from oakling import App
    from oakling.db import Database, Model, Session, get_or_404


    class Task(Model):
        __tablename__ = "task"

        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(String(100))


    app = App(plugins=[Database()])  # DATABASE_URL, else sqlite:///<project>.db


    @app.get("/tasks/{task_id:int}")
    def show(task_id: int, session: Session) -> dict[str, object]:
        task = get_or_404(session, Task, task_id)
        return {"id": task.id, "title": task.title}

The migrations CLI (``oakling db ...``) lives in :mod:`oakling.db.cli` and
the pytest fixtures in :mod:`oakling.db.testing`; neither is imported here.
"""

from __future__ import annotations

try:
    import sqlalchemy  # noqa: F401
except ImportError as ex:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"oakling.db needs SQLAlchemy ({ex}); install it with: pip install 'oakling[db]'"
    ) from ex

from .engines import async_url, default_url, sync_url
from .errors import RETRY_AFTER_SECONDS, is_unavailable
from .models import NAMING_CONVENTION, Model, bind_key_of
from .plugin import Database
from .queries import (
    MAX_PAGE_SIZE,
    KeysetPage,
    Page,
    afirst_or_404,
    aget_or_404,
    apaginate,
    apaginate_keyset,
    encode_cursor,
    first_or_404,
    get_or_404,
    paginate,
    paginate_keyset,
)
from .sessions import (
    AsyncSession,
    RoutingSession,
    Session,
    no_transaction,
    provide_async_session,
    provide_session,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "NAMING_CONVENTION",
    "RETRY_AFTER_SECONDS",
    "AsyncSession",
    "Database",
    "KeysetPage",
    "Model",
    "Page",
    "RoutingSession",
    "Session",
    "afirst_or_404",
    "aget_or_404",
    "apaginate",
    "apaginate_keyset",
    "async_url",
    "bind_key_of",
    "default_url",
    "encode_cursor",
    "first_or_404",
    "get_or_404",
    "is_unavailable",
    "no_transaction",
    "paginate",
    "paginate_keyset",
    "provide_async_session",
    "provide_session",
    "sync_url",
]
