"""The cache page's examples do what docs/cache.md says."""

from __future__ import annotations

import asyncio

from oakling.cache import caches
from oakling.testing import AsyncClient, TestClient


def test_cache_basics(load_example) -> None:  # type: ignore[no-untyped-def]
    module = load_example("cache_basics")
    with TestClient(module.app) as client:
        assert client.get("/reports/2026").json() == {"year": 2026, "tasks_done": 42}
        assert client.get("/reports/2026").json() == {"year": 2026, "tasks_done": 42}
        assert module.REPORT_CALLS == [2026]
        assert client.post("/visits").json() == {"visits": 1}
        assert client.post("/visits").json() == {"visits": 2}
    assert caches["local"].make_key("visits") == "local:1:visits"


def test_cache_basics_computes_once_under_concurrency(load_example) -> None:  # type: ignore[no-untyped-def]
    module = load_example("cache_basics")

    async def main() -> set[int]:
        async with AsyncClient(module.app) as client:
            answers = await asyncio.gather(*(client.get("/reports/1999") for _ in range(50)))
        return {answer.status_code for answer in answers}

    assert asyncio.run(main()) == {200}
    assert module.REPORT_CALLS == [1999]


def test_cache_views(load_example) -> None:  # type: ignore[no-untyped-def]
    module = load_example("cache_views")
    with TestClient(module.app) as client:
        assert client.get("/about").text == client.get("/about").text
        assert "age" in client.get("/about").headers
        client.get("/news")
        assert "age" in client.get("/news").headers  # served from the cache
        assert client.get("/logo.svg").headers["cache-control"] == "max-age=86400, public"
        first = client.get("/tasks/1")
        tag = first.headers["etag"]
        assert tag == '"task-1-v3"'
        assert client.get("/tasks/1", headers={"If-None-Match": tag}).status_code == 304
        assert client.put("/tasks/1", headers={"If-Match": tag}).status_code == 200
        assert client.put("/tasks/1", headers={"If-Match": tag}).status_code == 412
