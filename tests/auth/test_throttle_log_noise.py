"""Clearing a login counter leaves no "Task exception was never retrieved" in the log.

``limits``' async memory storage expires entries from a background task
that walks a snapshot of its keys, yielding between them; a ``clear`` of a
key it had not reached yet made that task die with a ``KeyError``, which
asyncio logs (with a traceback) when the task is collected. A successful
login clears its account's counter, so a busy site logged it again and
again.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from oakling.auth.throttling import LoginThrottle, ThrottleStorage

IP = "203.0.113.9"


async def _login_after_other_attempts(throttle: LoginThrottle) -> None:
    """Count attempts for two accounts, then succeed for the later one."""
    await throttle.attempt("bob", IP)
    await throttle.failed(IP)
    assert await throttle.attempt("ann", IP) is None
    # NOTE: the storage's expiry task starts here, and waits on its first key.
    await asyncio.sleep(0)
    await throttle.succeeded("ann")
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    # NOTE: memory counters are now limits' synchronous storage (expired by
    # a timer thread, no task); any task left must still end cleanly.
    if others:
        await asyncio.wait(others)
    for task in others:
        assert task.exception() is None, repr(task.exception())


def _run_collecting_errors(throttle: LoginThrottle) -> list[dict[str, Any]]:
    """Run the scenario on a fresh loop; return what reached its exception handler."""
    errors: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        loop.run_until_complete(_login_after_other_attempts(throttle))
        loop.run_until_complete(throttle.close())
    finally:
        loop.close()
    gc.collect()
    return errors


def test_clearing_a_counter_during_expiry_kills_no_task() -> None:
    throttle = LoginThrottle(ThrottleStorage("memory://"))
    assert _run_collecting_errors(throttle) == []


def test_the_cleared_account_starts_again_from_zero() -> None:
    throttle = LoginThrottle(ThrottleStorage("memory://"), per_account="2 per hour")

    async def scenario() -> None:
        assert await throttle.attempt("ann", IP) is None
        assert await throttle.attempt("ann", IP) is None
        assert await throttle.attempt("ann", IP) is not None  # the cap
        await asyncio.sleep(0)
        await throttle.succeeded("ann")
        assert await throttle.attempt("ann", IP) is None
        assert await throttle.attempt("ann", IP) is None
        assert await throttle.attempt("ann", IP) is not None
        await throttle.close()

    asyncio.run(scenario())
