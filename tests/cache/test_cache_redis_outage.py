"""Fault tests: a private redis-server killed and restarted under a cached app.

The server runs on port 6392 (reserved for these tests), never the shared
Redis on 6379. A cache that is down is a miss: no 500, one log line per
interval, writes dropped, and the cache works again within 1 s of Redis
coming back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest

from oakling import App
from oakling.cache import Cache, cache, cache_page
from oakling.cache.backends.redis import RedisCache
from oakling.config import Settings
from oakling.testing import TestClient
from tests.conftest import PrivateRedis

PORT = 6392
URL = f"redis://127.0.0.1:{PORT}/0"
SECRET = "cache-outage-tests-secret-key-0123456789abcdefghij"


@pytest.fixture
def server() -> Iterator[PrivateRedis]:
    running = PrivateRedis(PORT)
    running.start()
    yield running
    running.stop()


def _app(calls: list[str]) -> App:
    app = App(
        settings=Settings(SECRET_KEY=SECRET),
        plugins=[Cache({"default": {"BACKEND": "redis", "LOCATION": URL}})],
    )

    @app.get("/counted")
    async def counted() -> dict[str, object]:
        async def compute() -> str:
            calls.append("computed")
            return "value"

        return {"value": await cache.aget_or_set("expensive", compute, 60)}

    @app.get("/sync")
    def sync_view() -> dict[str, object]:
        cache.set("sync-key", 1)
        return {"value": cache.get("sync-key", "missing"), "added": cache.add("x", 1)}

    @app.get("/page")
    @cache_page(60)
    def page() -> str:
        calls.append("page")
        return "page"

    return app


def test_redis_down_is_a_miss_not_a_500(
    server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []
    with TestClient(_app(calls), raise_server_exceptions=False) as client:
        assert client.get("/counted").json() == {"value": "value"}
        assert client.get("/page").text == "page"
        assert calls == ["computed", "page"]
        server.stop()
        with caplog.at_level(logging.INFO, "oakling.outage"):
            started = time.monotonic()
            for _ in range(20):
                assert client.get("/counted").status_code == 200
                assert client.get("/page").text == "page"
                answer = client.get("/sync")
                assert answer.status_code == 200
                assert answer.json() == {"value": "missing", "added": False}
            took = time.monotonic() - started
        # NOTE: every read is a miss, so each request computes
        assert calls.count("computed") == 21
        assert calls.count("page") == 21
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "Redis is unavailable" in warnings[0].getMessage()
        assert all(r.exc_info is None for r in caplog.records)
        assert took < 5, f"60 requests with Redis down took {took:.1f} s"

        server.start()
        caplog.clear()
        with caplog.at_level(logging.INFO, "oakling.outage"):
            deadline = time.monotonic() + 1.0
            recovered = False
            while time.monotonic() < deadline:
                client.get("/counted")
                before = calls.count("computed")
                client.get("/counted")
                if calls.count("computed") == before:
                    recovered = True
                    break
                time.sleep(0.05)
        assert recovered, "the cache did not work again within 1 s of Redis coming back"
        assert any("available again" in r.getMessage() for r in caplog.records)


def test_the_cache_api_never_raises_while_redis_is_down(server: PrivateRedis) -> None:
    redis_cache = RedisCache(URL, key_prefix="outage")
    server.stop()

    async def async_calls() -> list[object]:
        return [
            await redis_cache.aget("k", "default"),
            await redis_cache.aset("k", 1),
            await redis_cache.aadd("k", 1),
            await redis_cache.adelete("k"),
            await redis_cache.atouch("k"),
            await redis_cache.aget_many(["a", "b"]),
            await redis_cache.aset_many({"a": 1}),
            await redis_cache.ahas_key("k"),
            await redis_cache.aget_or_set("k", lambda: "computed"),
        ]

    try:
        assert redis_cache.get("k", "default") == "default"
        assert redis_cache.set("k", 1) is None
        assert redis_cache.add("k", 1) is False
        assert redis_cache.delete("k") is False
        assert redis_cache.get_many(["a"]) == {}
        assert redis_cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
        assert redis_cache.get_or_set("k", lambda: "computed") == "computed"
        redis_cache.clear()
        with pytest.raises(ValueError):
            redis_cache.incr("k")  # NOTE: every key is missing while the cache is down
        assert asyncio.run(async_calls()) == [
            "default",
            None,
            False,
            False,
            False,
            {},
            ["a"],
            False,
            "computed",
        ]
    finally:
        redis_cache.close()
