"""Work to run after the response has been sent (Starlette's BackgroundTask)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from oakling.concurrency import run_in_threadpool

__all__ = ["BackgroundTask", "BackgroundTasks"]


class BackgroundTask:
    """A callable with its arguments, run once the response is sent.

    A plain ``def`` runs in the thread pool, an ``async def`` on the loop.
    """

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.is_async = inspect.iscoroutinefunction(func)

    async def __call__(self) -> None:
        """Run the task(s)."""
        if self.is_async:
            await self.func(*self.args, **self.kwargs)
        else:
            await run_in_threadpool(self.func, *self.args, **self.kwargs)


class BackgroundTasks(BackgroundTask):
    """Several background tasks, run in the order they were added."""

    def __init__(self) -> None:
        self.tasks: list[BackgroundTask] = []

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue ``func(*args, **kwargs)`` to run after the response."""
        self.tasks.append(BackgroundTask(func, *args, **kwargs))

    async def __call__(self) -> None:
        """Run the task(s)."""
        for task in self.tasks:
            await task()
