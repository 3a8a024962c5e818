"""The transactional outbox: a request's tasks are rows of its own transaction.

Opt-in with ``TASKS_OUTBOX=true`` (Celery backend, with ``oakling.db``). The
messages a request enqueued are inserted into ``oakling_task_outbox`` just
before its transaction commits (SQLAlchemy's ``before_commit``), so the data
and its tasks are kept or dropped together. After the commit they are sent as
without the outbox; once the broker has confirmed them, their rows are
deleted. When the broker is down the rows stay, the request is answered as if
it had been sent (its data and its tasks are both durable), and a relay in
every process that installs the plugin (web workers and ``oakling worker``)
sends them once the broker is back, then deletes them.

This closes the window the plain Celery backend leaves: the first request of
a broker outage commits its data but cannot send its task. The cost is one
INSERT per task in the request's transaction and one DELETE after the send.
Delivery stays at-least-once: a process that dies between the broker's
confirmation and the DELETE leaves a row the relay sends again, under the
same task id. It is the transactional outbox pattern (Richardson,
*Microservices Patterns*, "Transactional outbox").
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import Float, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from oakling.concurrency import run_in_threadpool
from oakling.db import Model
from oakling.exceptions import ServiceUnavailable

if TYPE_CHECKING:
    from oakling.db import Database

    from .outbox import TaskMessage
    from .plugin import Tasks

__all__ = ["OutboxEntry", "Relay", "forget", "relay_once", "stage"]

logger = logging.getLogger("oakling.tasks")


class OutboxEntry(Model):
    """One task waiting to be handed to the broker (table ``oakling_task_outbox``).

    Declared on ``oakling.db.Model``, so ``oakling db makemigrations`` adds
    the table to an app's migrations, like ``oakling_session``.
    """

    __tablename__ = "oakling_task_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_name: Mapped[str] = mapped_column(String(200))
    task_id: Mapped[str] = mapped_column(String(64))
    #: The checked arguments as JSON (``msgspec.to_builtins`` of the values).
    payload: Mapped[str] = mapped_column(Text)
    countdown: Mapped[float | None] = mapped_column(Float, default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    #: Seconds since the epoch (UTC) when the request's transaction wrote it.
    created_at: Mapped[float] = mapped_column(Float, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


def stage(session: Any, messages: list[TaskMessage]) -> None:
    """Insert ``messages`` into the outbox in ``session``'s transaction.

    Called from ``before_commit``; each message remembers its row's id.
    """
    now = time.time()
    entries = []
    for message in messages:
        if message.outbox_id is not None:
            continue
        entry = OutboxEntry(
            task_name=message.task.name,
            task_id=message.task_id,
            payload=msgspec.json.encode(message.payload()).decode(),
            countdown=message.countdown,
            idempotency_key=message.idempotency_key,
            created_at=now,
            attempts=0,
        )
        session.add(entry)
        entries.append((message, entry))
    if entries:
        session.flush()
        for message, entry in entries:
            message.outbox_id = entry.id


def forget(database: Database, ids: list[int]) -> None:
    """Delete the rows of messages the broker has confirmed (blocking)."""
    if not ids:
        return
    with database.session() as session:
        session.execute(delete(OutboxEntry).where(OutboxEntry.id.in_(ids)))
        session.commit()


def relay_once(plugin: Tasks, database: Database, grace: float, batch: int = 100) -> int:
    """Send the outbox rows older than ``grace`` seconds; return how many were sent.

    Rows are locked with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL, MariaDB
    10.6+, MySQL 8), so several relays share the work; SQLite has one
    writer anyway. Blocking (run it in a thread).

    Raises:
        ServiceUnavailable: When the broker is still down (the rows stay).
    """
    from .outbox import TaskMessage
    from .tasks import registry

    backend = plugin.backend
    sent = 0
    with database.session() as session:
        rows = session.scalars(
            select(OutboxEntry)
            .where(OutboxEntry.created_at < time.time() - grace)
            .order_by(OutboxEntry.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            task = registry.get(row.task_name)
            if task is None:
                logger.error("outbox: no task named %s (row %d kept)", row.task_name, row.id)
                continue
            values = task.load(msgspec.json.decode(row.payload))
            message = TaskMessage(
                task,
                values,
                row.task_id,
                row.idempotency_key,
                row.countdown,
                backend.result(row.task_id, row.task_name),
                outbox_id=row.id,
            )
            row.attempts += 1
            try:
                backend.send([message])
            except ServiceUnavailable:
                session.commit()  # NOTE: keeps the attempt count; the rows stay
                raise
            session.delete(row)
            sent += 1
        session.commit()
    return sent


class Relay:
    """Send what the outbox holds, every ``interval`` seconds, in the background.

    Started and stopped by the :class:`~oakling.tasks.Tasks` plugin's
    lifespan hooks when ``TASKS_OUTBOX`` is on.

    Args:
        plugin: The app's Tasks plugin (its backend sends).
        database: The app's Database (the outbox table's).
        interval: Seconds between two looks at the table.
        grace: Age in seconds a row must reach before the relay sends it:
            the request that wrote it sends it itself right after its commit.
    """

    def __init__(self, plugin: Tasks, database: Database, interval: float, grace: float) -> None:
        self.plugin = plugin
        self.database = database
        self.interval = interval
        self.grace = grace
        self._job: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop on the running event loop."""
        self._job = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop the loop (a send in progress finishes in its thread)."""
        if self._job is not None:
            self._job.cancel()
            try:
                await self._job
            except asyncio.CancelledError:
                pass
            self._job = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                sent = await run_in_threadpool(relay_once, self.plugin, self.database, self.grace)
            except ServiceUnavailable:
                continue  # NOTE: logged once per interval by oakling.outages
            except Exception:  # noqa: BLE001 - the relay must outlive a bad row or a DB outage
                logger.exception("outbox relay failed; retrying in %s s", self.interval)
                continue
            if sent:
                logger.info("outbox relay sent %d task(s) held during a broker outage", sent)
