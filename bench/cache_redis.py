"""Redis cache-hit cost per request: oakling's cache against a plain redis-py ``GET``.

In-process, on a real Redis (``OAKLING_BENCH_REDIS_URL``, default
``redis://127.0.0.1:6379/1``), one event loop, the same key and value:

- ``redis-py GET``: ``await client.get(key)`` on a ``redis.asyncio`` client,
  the floor any Redis cache pays (one round trip);
- ``RedisCache.aget``: oakling's cache API (key prefix and version, outage
  handling, MessagePack decoding);
- ``cache_page hit``: a whole request to an oakling app whose view is
  ``@cache_page`` on the Redis cache: the request served from Redis,
  the handler not run (one round trip; two when the page varies on headers);
- ``plaintext (no cache)``: the same app's uncached ``PlainTextResponse``
  route, for scale.

Usage::

    python bench/cache_redis.py [--requests N] [--repeat R] [--json]

Reports microseconds per operation (median and best of the repeats, runs
interleaved) and each row over ``redis-py GET``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from oakling import App, PlainTextResponse
from oakling.cache import Cache, cache_page
from oakling.cache.backends.redis import RedisCache

REDIS_URL = os.environ.get("OAKLING_BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789"
HELLO = "Hello, World!"


def build_app(cache: RedisCache) -> App:
    app = App(secret_key=SECRET_KEY, plugins=[Cache({"default": cache})])

    @app.get("/cached")
    @cache_page(3600)
    async def cached() -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    @app.get("/plaintext")
    async def plaintext() -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    return app


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def main_async(requests: int, repeat: int) -> dict[str, Any]:
    import redis.asyncio

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    cache = RedisCache(REDIS_URL, key_prefix=prefix)
    app = build_app(cache)
    app.build()
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    await client.set("bench:plain", b"x" * 64)
    await cache.aset("value", "x" * 64)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app_call(path: str) -> None:
        await app(_scope(path), receive, send)

    await app_call("/cached")  # NOTE: the miss that stores the page
    sent.clear()
    await app_call("/cached")
    assert sent[1]["body"] == HELLO.encode(), "the page is not served from the cache"
    assert any(key == b"age" for key, _ in sent[0]["headers"]), "not a cache hit"

    async def redis_get() -> None:
        await client.get("bench:plain")

    async def cache_get() -> None:
        await cache.aget("value")

    async def page_hit() -> None:
        sent.clear()
        await app_call("/cached")

    async def plaintext() -> None:
        sent.clear()
        await app_call("/plaintext")

    cases: dict[str, Callable[[], Awaitable[None]]] = {
        "redis-py GET": redis_get,
        "RedisCache.aget": cache_get,
        "cache_page hit": page_hit,
        "plaintext (no cache)": plaintext,
    }
    runs: dict[str, list[float]] = {name: [] for name in cases}
    for func in cases.values():  # NOTE: warm up
        for _ in range(min(requests, 200)):
            await func()
    for _ in range(repeat):
        for name, func in cases.items():
            started = time.perf_counter()
            for _ in range(requests):
                await func()
            runs[name].append((time.perf_counter() - started) / requests * 1e6)
    await cache.aclear()
    await cache.aclose()
    await client.delete("bench:plain")
    await client.aclose()
    floor = statistics.median(runs["redis-py GET"])
    return {
        "redis": REDIS_URL,
        "requests": requests,
        "repeat": repeat,
        "results": [
            {
                "case": name,
                "median_us": round(statistics.median(values), 2),
                "best_us": round(min(values), 2),
                "x_redis_get": round(statistics.median(values) / floor, 2),
            }
            for name, values in runs.items()
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = asyncio.run(main_async(args.requests, args.repeat))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"Redis cache hit, in-process: {report['requests']} x {report['repeat']}, {REDIS_URL}")
    print(f"{'case':<24} {'median us':>10} {'best us':>9} {'x GET':>7}")
    for row in report["results"]:
        print(
            f"{row['case']:<24} {row['median_us']:>10.2f} {row['best_us']:>9.2f} "
            f"{row['x_redis_get']:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
