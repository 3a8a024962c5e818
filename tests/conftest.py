"""Shared fixtures: sync/async handler parametrisation and service gating."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

import pytest

# In CI (CI=true, or OAKLING_REQUIRE_SERVICES=1) a test that would skip because
# a service or tool is missing fails instead: CI must run every check.
REQUIRE_SERVICES = (
    os.environ.get("OAKLING_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"
)


def skip_or_fail(reason: str) -> None:
    """Skip on a newcomer's machine; fail in CI, where everything must run."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sync", "async"])
def as_handler(
    request: pytest.FixtureRequest,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return a decorator giving the handler as written (sync) or as ``async def``.

    The same test body then runs through both paths: sync handlers in the
    thread pool, async ones on the loop.
    """

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        if request.param == "sync":
            return func

        async def async_version(*args: Any, **kwargs: Any) -> Any:
            result = func(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        functools.update_wrapper(async_version, func)
        return async_version

    wrap.kind = request.param  # type: ignore[attr-defined]
    return wrap
