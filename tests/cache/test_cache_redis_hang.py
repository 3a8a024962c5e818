"""Fault tests: a Redis that hangs (accepts, never answers) or answers late, under a cached app.

A :class:`~tests.redis_faults.HangingProxy` on a private port stands in
front of the shared Redis and is switched to "blackhole" or "slow" mode; a
private redis-server is frozen with SIGSTOP. Requests must not hang: the
first call pays the socket timeout, then the circuit breaker skips Redis
(a miss, no I/O) for the retry interval, and one request per interval
probes it. The outage is logged once; the cache works again within 1 s of
Redis answering.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest
from cache_support import REDIS_URL, _redis_problem

from oakling import App
from oakling.cache import Cache, cache, cache_page
from oakling.cache.backends.redis import RedisCache
from oakling.config import Settings
from oakling.testing import TestClient
from tests.conftest import skip_or_fail
from tests.redis_faults import HangingProxy, StoppedRedis, private_port

SECRET = "cache-hang-tests-secret-key-0123456789abcdefghijklmn"
# NOTE: well above what a request takes on a loaded machine, so a wait is a timeout.
TIMEOUT = 0.4


@pytest.fixture
def proxy() -> Iterator[HangingProxy]:
    problem = _redis_problem(REDIS_URL)
    if problem:
        skip_or_fail(problem)
    running = HangingProxy(REDIS_URL, private_port(10))
    running.start()
    yield running
    running.stop()


def _app(url: str, calls: list[str], **options: object) -> App:
    backend = {
        "BACKEND": "redis",
        "LOCATION": url,
        "KEY_PREFIX": f"hang{time.monotonic_ns()}",
        "OPTIONS": {"SOCKET_TIMEOUT": TIMEOUT, **options},
    }
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": backend})])

    @app.get("/counted")
    async def counted() -> dict[str, object]:
        async def compute() -> str:
            calls.append("computed")
            return "value"

        return {"value": await cache.aget_or_set("expensive", compute, 60)}

    @app.get("/sync")
    def sync_view() -> dict[str, object]:
        return {"value": cache.get_or_set("sync-key", lambda: calls.append("sync") or "v", 60)}

    @app.get("/page")
    @cache_page(60)
    def page() -> str:
        calls.append("page")
        return "page"

    return app


def _recovers(client: TestClient, calls: list[str], within: float) -> float | None:
    """Return seconds until ``/counted`` is served from the cache again, None if not ``within``."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        client.get("/counted")
        before = calls.count("computed")
        client.get("/counted")
        if calls.count("computed") == before:
            return time.monotonic() - started
        time.sleep(0.02)
    return None


@pytest.mark.parametrize("fault", ["blackhole", "slow"])
def test_a_hung_redis_costs_one_timeout_per_interval_not_one_per_request(
    proxy: HangingProxy, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []
    with TestClient(_app(proxy.url, calls), raise_server_exceptions=False) as client:
        assert client.get("/counted").json() == {"value": "value"}
        assert client.get("/page").text == "page"
        assert client.get("/sync").status_code == 200
        calls.clear()
        if fault == "blackhole":
            proxy.hang()
        else:
            proxy.slow(TIMEOUT * 5)  # NOTE: answers, but later than the timeout
        with caplog.at_level(logging.INFO, "oakling.outage"):
            durations = []
            started = time.monotonic()
            for _ in range(30):
                for path in ("/counted", "/page", "/sync"):
                    before = time.monotonic()
                    answer = client.get(path)
                    durations.append(time.monotonic() - before)
                    assert answer.status_code == 200
            took = time.monotonic() - started
        # every read was a miss: each request computed its value
        assert calls.count("computed") == 30
        assert calls.count("page") == 30
        assert calls.count("sync") == 30
        # no request waited two timeouts (redis-py's own retry of a timeout is off)
        assert max(durations) < TIMEOUT * 1.9, max(durations)
        # the ones that waited were the probes: at most one per 0.5 s interval, plus the first
        slow = [value for value in durations if value >= TIMEOUT * 0.9]
        assert len(slow) <= 2 + took / 0.5, (len(slow), took)
        assert len([value for value in durations if value < TIMEOUT / 4]) >= 60
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "Redis is unavailable" in warnings[0].getMessage()
        assert all(r.exc_info is None for r in caplog.records)

        caplog.clear()
        proxy.heal()
        with caplog.at_level(logging.INFO, "oakling.outage"):
            recovered = _recovers(client, calls, within=1.0)
        assert recovered is not None, "the cache did not work again within 1 s of Redis answering"
        assert any("available again" in r.getMessage() for r in caplog.records)


def test_the_socket_timeout_is_configurable(proxy: HangingProxy) -> None:
    fast = RedisCache(proxy.url, key_prefix="hang-fast", socket_timeout=0.1)
    slow = RedisCache(proxy.url, key_prefix="hang-slow", socket_timeout=0.8)
    try:
        fast.set("k", 1)
        slow.set("k", 1)
        proxy.hang()
        took = []
        for one in (fast, slow):
            started = time.monotonic()
            assert one.get("k", "miss") == "miss"
            took.append(time.monotonic() - started)
    finally:
        proxy.heal()
        fast.close()
        slow.close()
    # one timeout each (redis-py's retry of a timeout is turned off: not two)
    assert 0.09 < took[0] < 0.45, took
    assert 0.75 < took[1] < 1.4, took


def test_the_retry_interval_is_configurable_and_a_probe_follows_it(proxy: HangingProxy) -> None:
    redis_cache = RedisCache(
        proxy.url, key_prefix="hang-interval", socket_timeout=0.1, retry_interval=0.3
    )

    async def scenario() -> list[float]:
        await redis_cache.aset("k", 1)
        proxy.hang()
        waits = []
        started = time.monotonic()
        while time.monotonic() - started < 1.0:
            before = time.monotonic()
            assert await redis_cache.aget("k", "miss") == "miss"
            if time.monotonic() - before > 0.08:
                waits.append(before - started)
            await asyncio.sleep(0.01)
        await redis_cache.aclose()
        return waits

    try:
        waits = asyncio.run(scenario())
    finally:
        proxy.heal()
        redis_cache.close()
    # a probe at 0, then one each 0.3 s interval (each waited 0.1 s): about 3, never ~70
    assert 2 <= len(waits) <= 4, waits
    assert all(later - earlier >= 0.3 for earlier, later in zip(waits, waits[1:], strict=False))


def test_concurrent_requests_after_the_interval_send_one_probe_not_one_each(
    proxy: HangingProxy,
) -> None:
    redis_cache = RedisCache(proxy.url, key_prefix="hang-herd", socket_timeout=TIMEOUT)

    async def timed_get() -> float:
        started = time.monotonic()
        assert await redis_cache.aget("k", "miss") == "miss"
        return time.monotonic() - started

    async def scenario() -> list[float]:
        await redis_cache.aset("k", 1)
        proxy.hang()
        await timed_get()  # fails: the breaker opens
        await asyncio.sleep(0.6)  # past the interval: half-open
        durations = await asyncio.gather(*(timed_get() for _ in range(50)))
        await redis_cache.aclose()
        return list(durations)

    try:
        durations = asyncio.run(scenario())
    finally:
        proxy.heal()
        redis_cache.close()
    waited = [value for value in durations if value >= TIMEOUT * 0.9]
    # one probe paid the timeout; the 49 others were misses at once
    assert len(waited) == 1, sorted(durations)


def test_a_frozen_redis_server_is_a_miss_and_recovery_follows_sigcont(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = StoppedRedis(private_port(11))
    server.start()
    calls: list[str] = []
    try:
        with TestClient(_app(server.url, calls), raise_server_exceptions=False) as client:
            assert client.get("/counted").status_code == 200
            server.freeze()
            with caplog.at_level(logging.INFO, "oakling.outage"):
                started = time.monotonic()
                statuses = [client.get("/counted").status_code for _ in range(20)]
                took = time.monotonic() - started
                thawed = server.thaw()
                recovered = _recovers(client, calls, within=1.0)
            assert statuses == [200] * 20
            assert took < 20 * TIMEOUT / 2, took  # not a timeout per request
            assert recovered is not None, "no cache hit within 1 s of SIGCONT"
            assert time.monotonic() - thawed < 1.5
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1
    finally:
        server.stop()
