"""Fixtures for the rate-limit tests.

- ``redis_url``: the real Redis (db 2 for this suite by default), flushed
  of this suite's keys; a skip (a failure in CI) when it is down.

Helpers (a private redis-server, ``peer_from_header``) are in ratelimit_support.py.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import skip_or_fail


@pytest.fixture
def redis_url() -> str:
    """The real Redis's URL, with this suite's counters cleared."""
    import redis

    url = os.environ.get("OAKLING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        for key in client.scan_iter("LIMITS:*oakling-rl*"):
            client.delete(key)
    except redis.RedisError as ex:
        skip_or_fail(f"Redis at {url} unreachable: {ex}")
    return url
