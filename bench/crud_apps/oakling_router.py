"""oakling: a ModelRouter over the table, as docs/rest.md writes it.

``CRUD_SESSION=async`` (the default) uses an AsyncSession (asyncpg);
``CRUD_SESSION=sync`` a Session (psycopg) in the thread pool.
"""

import os

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App
from oakling.db import Database, Model
from oakling.rest import ModelRouter

KIND = "asgi"
DSN = os.environ.get("CRUD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
POOL_SIZE = 8


class Task(Model):
    __tablename__ = "bench_crud_task"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    completed: Mapped[bool] = mapped_column(default=False)


app = App(
    secret_key=os.environ.get("OAKLING_SECRET_KEY", "crud-benchmark-only-" + "k" * 32),
    plugins=[Database(DSN, engine_options={"pool_size": POOL_SIZE, "max_overflow": 0})],
)
app.include(
    ModelRouter(
        Task,
        prefix="/tasks",
        permission="any",
        pagination="cursor",
        page_size=50,
        async_session=os.environ.get("CRUD_SESSION", "async") == "async",
    )
)
