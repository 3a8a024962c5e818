"""The app a Celery worker subprocess serves in the tests (``oakling worker --app``).

Settings come from the environment only: ``OAKLING_DATABASE_URL``,
``OAKLING_TASKS_BROKER_URL``, ``OAKLING_TASKS_RESULT_BACKEND``,
``OAKLING_TASKS_DEFAULT_QUEUE``, as in production.
"""

from __future__ import annotations

import os
import time

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App
from oakling.db import AsyncSession, Database, Model, Session
from oakling.tasks import Tasks, task


class Effect(Model):
    """One row per task run: what the end-to-end tests count."""

    __tablename__ = "tasks_test_effect"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]


@task(name="tests.effect")
def record_effect(text: str, session: Session) -> int:
    """Write a row in the worker's per-task transaction; return the worker's pid."""
    session.add(Effect(text=text, pid=os.getpid()))
    return os.getpid()


@task(name="tests.effect_async")
async def record_effect_async(text: str, session: AsyncSession) -> str:
    """The same through an async task and the worker loop's async engine."""
    session.add(Effect(text=f"async:{text}", pid=os.getpid()))
    return text.upper()


attempts_file = os.environ.get("TASKS_TEST_ATTEMPTS", "/nonexistent")


@task(name="tests.flaky", retries=2, retry_backoff=0.2)
def flaky(text: str, session: Session) -> int:
    """Fail twice (counting in a file), then write its row."""
    with open(attempts_file, "a+") as handle:
        handle.write("x")
        handle.seek(0)
        count = len(handle.read())
    if count < 3:
        raise ConnectionError(f"attempt {count}")
    session.add(Effect(text=text, pid=os.getpid()))
    return count


@task(name="tests.tick", schedule=0.5)
def tick(session: Session) -> None:
    """A periodic task: a row per run, sent by ``oakling beat``."""
    session.add(Effect(text="tick", pid=os.getpid()))


@task(name="tests.app_state")
async def app_state(app: App) -> dict[str, object]:
    """Return what the worker's app looks like: its startup hook ran, its settings."""
    return {
        "started_in": app.state.started_in,
        "queue": app.settings.get("TASKS_DEFAULT_QUEUE"),
        "plugins": sorted(type(plugin).__name__ for plugin in app.plugins),
    }


@task(name="tests.slow")
def slow_effect(text: str, marker: str, session: Session) -> int:
    """Note the start in ``marker``, wait, then write a row (killed meanwhile in a test)."""
    with open(marker, "a") as handle:
        handle.write(f"{os.getpid()}\n")
    time.sleep(3)
    session.add(Effect(text=text, pid=os.getpid()))
    return os.getpid()


def create_app() -> App:
    """Return the app, with Database and Tasks from the environment."""
    app = App(plugins=[Database(), Tasks()])

    @app.post("/effects")
    def add(text: str, session: Session, fail: bool = False, wait: bool = False) -> dict[str, str]:
        session.add(Effect(text=f"request:{text}", pid=os.getpid()))
        handle = record_effect.enqueue(text)
        if fail:
            raise RuntimeError("rolled back")
        return {"task_id": handle.id}

    @app.get("/effects")
    def listing(session: Session) -> list[str]:
        return list(session.scalars(select(Effect.text).order_by(Effect.id)))

    async def started() -> None:
        app.state.started_in = os.getpid()

    app.on_startup(started)
    return app
