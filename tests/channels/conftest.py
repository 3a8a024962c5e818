"""Fixtures of the channels tests: one layer per backend, started on the test's loop."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from oakling.channels import ChannelLayer
from tests.conftest import redis_problem, skip_or_fail

#: The shared Redis of the channels tests (``OAKLING_TEST_REDIS_URL``).
REDIS_URL = os.environ.get("OAKLING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_url() -> str:
    """Return the test Redis URL, or skip (fail in CI) when it is down."""
    problem = redis_problem(REDIS_URL)
    if problem:
        skip_or_fail(problem)
    return REDIS_URL


def unique_prefix() -> str:
    """A key prefix of one test: parallel runs and reruns never share channels."""
    return f"oakling-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=["memory", "redis"])
async def layer(request: pytest.FixtureRequest) -> AsyncIterator[ChannelLayer]:
    """A started layer on each backend (Redis: the shared test Redis)."""
    if request.param == "memory":
        made = ChannelLayer(max_queue=5, replay=10)
    else:
        made = ChannelLayer(redis_url(), max_queue=5, replay=10, prefix=unique_prefix())
    await made.start()
    yield made
    await made.close()
