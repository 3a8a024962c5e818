"""Transactional enqueue: a request's tasks leave only once its work is kept.

Django's ``transaction.on_commit`` pattern, made the default. Every HTTP
request of an app with the :class:`~oakling.tasks.Tasks` plugin gets an
:class:`Outbox` (a ``contextvars`` variable set by :class:`TasksMiddleware`);
``enqueue`` puts a checked message in it instead of sending it. When the
response starts, the outbox is settled:

- the request's transaction (``oakling.db``'s per-request session) rolled
  back, or there was none and the status is 5xx, or no response started:
  every message is **dropped**;
- otherwise (the transaction committed, or there was none): a durable
  backend (Celery) **sends** them before the status line goes out, so a
  broker failure still turns the answer into a 503 (never a 2xx for a task
  that was lost); the in-process backend **runs** them once the response has
  been sent, as Starlette's background tasks run.

The transaction is followed through SQLAlchemy's ``after_commit`` and
``after_rollback`` session events, for the sessions ``oakling.db`` marks as
a request's (or a task run's) transaction. Outside a request (a script, a
shell, a test) ``enqueue`` sends at once; inside a task run the worker's
transaction decides in the same way.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from oakling.concurrency import run_in_threadpool
from oakling.exceptions import ServiceUnavailable

from .results import DROPPED, TaskResult

if TYPE_CHECKING:
    from oakling.applications import App
    from oakling.types import ASGIApp, Message, Receive, Scope, Send

    from .plugin import Tasks
    from .tasks import Task

__all__ = ["Outbox", "TaskMessage", "TasksMiddleware", "current_outbox", "submit"]

logger = logging.getLogger("oakling.tasks")

# NOTE: the mark ``oakling.db`` puts in ``session.info`` of the sessions that
# carry a request's (or a task run's) transaction.
TRANSACTION_MARK = "oakling.transaction"

OPEN, COMMITTED, ROLLED_BACK = 0, 1, 2

_current: ContextVar[Outbox | None] = ContextVar("oakling.tasks.outbox", default=None)


@dataclass
class TaskMessage:
    """One enqueued task: what a backend sends or runs."""

    task: Task[Any, Any]
    values: msgspec.Struct
    task_id: str
    idempotency_key: str | None
    countdown: float | None
    result: TaskResult
    #: Its row in ``oakling_task_outbox`` once staged there (``TASKS_OUTBOX``).
    outbox_id: int | None = None

    def payload(self) -> dict[str, Any]:
        """Return the arguments as JSON-ready builtins (the message body)."""
        return msgspec.to_builtins(self.values)  # type: ignore[no-any-return]


class Outbox:
    """The messages a request (or a task run) holds until its transaction ends."""

    __slots__ = ("plugin", "pending", "state")

    def __init__(self, plugin: Tasks) -> None:
        self.plugin = plugin
        self.pending: list[TaskMessage] = []
        self.state = OPEN

    def drop(self) -> None:
        """Forget the held messages (their results read ``DROPPED``)."""
        for message in self.pending:
            self.plugin.backend.dropped(message)
        if self.pending:
            logger.debug("dropped %d task(s): the request did not commit", len(self.pending))
        self.pending = []

    async def release(self) -> None:
        """Send (durable backend) or run (in-process) the held messages, then forget them.

        Raises:
            ServiceUnavailable: When the broker refused them (durable backend).
        """
        messages, self.pending = self.pending, []
        if not messages:
            return
        backend = self.plugin.backend
        if backend.durable:
            database = self.plugin.outbox_database
            if database is None:
                await run_in_threadpool(backend.send, messages)
            else:
                await run_in_threadpool(_send_staged, backend, database, messages)
        else:
            await backend.run(messages)


def _send_staged(backend: Any, database: Any, messages: list[TaskMessage]) -> None:
    """Send messages that may be outbox rows; delete the rows the broker took.

    Raises:
        ServiceUnavailable: When the broker refused a message that is not
            in the outbox (no transaction committed it there).
    """
    from .durable import forget

    staged = all(message.outbox_id is not None for message in messages)
    try:
        backend.send(messages, log_failure=not staged)
    except ServiceUnavailable:
        if not staged:
            raise
        # NOTE: the data and its tasks are committed together: the relay sends them.
        logger.warning("broker down: %d task(s) kept in the outbox for the relay", len(messages))
        return
    forget(database, [message.outbox_id for message in messages if message.outbox_id])


def current_outbox() -> Outbox | None:
    """Return the outbox of the request or task run in progress, if any."""
    return _current.get()


def submit(
    task: Task[Any, Any],
    values: msgspec.Struct,
    *,
    idempotency_key: str | None,
    countdown: float | None,
) -> TaskResult:
    """Hold ``task`` in the current outbox, or send it now when there is none.

    Raises:
        ServiceUnavailable: When the broker is known to be down.
    """
    outbox = _current.get()
    if outbox is not None:
        plugin = outbox.plugin
    else:
        from .plugin import default_tasks  # NOTE: outside requests only (a cycle)

        plugin = default_tasks()
    backend = plugin.backend
    # NOTE: with the outbox, a request's task is a row of its transaction: a
    # broker outage no longer fails the request, so it is not probed here.
    staged = outbox is not None and plugin.outbox_database is not None
    backend.check(idempotency_key is not None, probe=not staged)
    task_id = task.task_id(idempotency_key)
    message = TaskMessage(
        task, values, task_id, idempotency_key, countdown, backend.result(task_id, task.name)
    )
    if outbox is not None:
        outbox.pending.append(message)
    else:
        backend.send_now(message)
    return message.result


# -- following the transaction ------------------------------------------------

_listening = False


def follow_transactions() -> None:
    """Listen to SQLAlchemy's session events (once per process; imports SQLAlchemy)."""
    global _listening
    if _listening:
        return
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
    _listening = True


def _before_commit(session: Any) -> None:
    outbox = _current.get()
    if (
        outbox is not None
        and outbox.pending
        and session.info.get(TRANSACTION_MARK)
        and outbox.plugin.outbox_database is not None
    ):
        from .durable import stage

        stage(session, outbox.pending)


def _after_commit(session: Any) -> None:
    outbox = _current.get()
    if outbox is not None and session.info.get(TRANSACTION_MARK) and outbox.state != ROLLED_BACK:
        outbox.state = COMMITTED


def _after_rollback(session: Any) -> None:
    outbox = _current.get()
    if outbox is not None and session.info.get(TRANSACTION_MARK):
        # NOTE: a rollback wins over any commit seen before it in the request.
        outbox.state = ROLLED_BACK


# -- the request side ---------------------------------------------------------


class TasksMiddleware:
    """Give each HTTP request an outbox and settle it when the response starts.

    Added by the :class:`~oakling.tasks.Tasks` plugin; see the module doc
    for the rules.

    Args:
        app: The next ASGI app.
        plugin: The app's Tasks plugin.
        oakling_app: The App, whose error pages answer a broker failure (503).
    """

    def __init__(self, app: ASGIApp, plugin: Tasks, oakling_app: App) -> None:
        self.app = app
        self.plugin = plugin
        self.oakling_app = oakling_app
        if "db" in oakling_app.extensions:
            follow_transactions()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection; HTTP requests get an outbox."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        outbox = Outbox(self.plugin)
        token = _current.set(outbox)
        run_after = False
        replaced = False

        async def settle_then_send(message: Message) -> None:
            nonlocal run_after, replaced
            if replaced:
                return  # NOTE: the 503 went out instead of this response
            if message["type"] == "http.response.start" and outbox.pending:
                state = outbox.state
                # NOTE: tasks follow the data: a commit sends them whatever
                # the status (a middleware's 503 after it); with no
                # transaction seen, a 5xx means the request failed.
                if state == ROLLED_BACK or (state == OPEN and message["status"] >= 500):
                    outbox.drop()
                elif outbox.plugin.backend.durable:
                    try:
                        await outbox.release()
                    except ServiceUnavailable as ex:
                        replaced = True
                        await self.oakling_app.send_error(scope, receive, send, ex)
                        return
                else:
                    run_after = True
            await send(message)

        try:
            await self.app(scope, receive, settle_then_send)
        except BaseException:
            outbox.drop()
            raise
        finally:
            _current.reset(token)
        if run_after:
            await outbox.release()
        elif outbox.pending:
            outbox.drop()  # NOTE: no response was started: the request failed


def mark_result_dropped(result: TaskResult) -> None:
    """Record that ``result``'s task was never sent."""
    store = result._store
    if store is not None:
        store.set(result.id, DROPPED)
