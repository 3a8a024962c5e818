"""Running one task: its sessions, its transaction, its time limit, its own outbox.

Shared by the in-process backend and the Celery worker, so a task behaves the
same on both: parameters annotated ``Session``/``AsyncSession`` get a session
of the app's Database in a transaction committed when the function returns
and rolled back when it raises (Django's ``ATOMIC_REQUESTS``, per task); tasks
it enqueues are sent only after that commit.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec

from oakling.concurrency import run_in_threadpool
from oakling.exceptions import ImproperlyConfigured

from .outbox import ROLLED_BACK, TRANSACTION_MARK, Outbox, _current

if TYPE_CHECKING:
    from .plugin import Tasks
    from .tasks import Task

__all__ = ["execute"]


async def execute(task: Task[Any, Any], values: msgspec.Struct, plugin: Tasks) -> Any:
    """Run ``task`` once with checked ``values``; return its result.

    Raises:
        TimeoutError: When it ran past its ``time_limit`` (an async task is
            cancelled; a sync one is abandoned in its thread).
        Exception: Whatever the task raised.
    """
    sig = task.signature()
    kwargs = {name: getattr(values, name) for name in sig.names}
    outbox = Outbox(plugin)
    token = _current.set(outbox)
    try:
        if task.is_async:
            call: Any = _call_async(task, kwargs, sig.injected, plugin)
        else:
            call = run_in_threadpool(_call_sync, task, kwargs, sig.injected, plugin)
        limit = task.options.time_limit
        result = await (asyncio.wait_for(call, limit) if limit else call)
    except BaseException:
        outbox.drop()
        raise
    finally:
        _current.reset(token)
    if outbox.state == ROLLED_BACK:
        outbox.drop()
    else:
        await outbox.release()
    return result


def _database(plugin: Tasks) -> Any:
    app = plugin.app
    database = app.extensions.get("db") if app is not None else None
    if database is None:
        raise ImproperlyConfigured(
            "a task asks for a database session but the app has no Database installed"
        )
    from .outbox import follow_transactions

    follow_transactions()
    return database


def _with_app(kwargs: dict[str, Any], injected: dict[str, str], plugin: Tasks) -> dict[str, str]:
    """Put the app in ``kwargs`` for ``App`` parameters; return the session parameters."""
    sessions = {}
    for name, kind in injected.items():
        if kind == "app":
            if plugin.app is None:
                raise ImproperlyConfigured("a task asks for the App but runs for none")
            kwargs[name] = plugin.app
        else:
            sessions[name] = kind
    return sessions


def _call_sync(
    task: Task[Any, Any], kwargs: dict[str, Any], injected: dict[str, str], plugin: Tasks
) -> Any:
    injected = _with_app(kwargs, injected, plugin)
    if not injected:
        return task.func(**kwargs)
    if any(kind == "async" for kind in injected.values()):
        raise TypeError(f"task {task.name!r}: a plain def task takes a Session, not AsyncSession")
    session = _database(plugin).session()
    session.info[TRANSACTION_MARK] = True
    with session:
        try:
            result = task.func(**kwargs, **dict.fromkeys(injected, session))
        except BaseException:
            session.rollback()
            raise
        session.commit()
    return result


async def _call_async(
    task: Task[Any, Any], kwargs: dict[str, Any], injected: dict[str, str], plugin: Tasks
) -> Any:
    injected = _with_app(kwargs, injected, plugin)
    if not injected:
        return await task.func(**kwargs)
    if any(kind == "sync" for kind in injected.values()):
        raise TypeError(f"task {task.name!r}: an async def task takes AsyncSession, not Session")
    session = _database(plugin).async_session()
    session.info[TRANSACTION_MARK] = True
    async with session:
        try:
            result = await task.func(**kwargs, **dict.fromkeys(injected, session))
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
    return result
