"""``get_or_set`` computes a missing key once: per process, and across workers on shared stores."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from cache_support import SHARED_BACKENDS, close_cache, make_cache


@pytest.mark.parametrize("backend", ["memory", *SHARED_BACKENDS])
def test_threads_asking_for_a_missing_key_compute_it_once(backend: str, tmp_path: Path) -> None:
    cache = make_cache(backend, tmp_path)
    calls: list[int] = []
    results: list[object] = []

    def compute() -> str:
        calls.append(1)
        time.sleep(0.2)
        return "fresh"

    def worker() -> None:
        results.append(cache.get_or_set("hot", compute, 60))

    threads = [threading.Thread(target=worker) for _ in range(20)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == ["fresh"] * 20
        assert len(calls) == 1
    finally:
        close_cache(cache)


@pytest.mark.parametrize("backend", ["memory", *SHARED_BACKENDS])
def test_tasks_asking_for_a_missing_key_compute_it_once(backend: str, tmp_path: Path) -> None:
    cache = make_cache(backend, tmp_path)
    calls: list[int] = []

    async def compute() -> str:
        calls.append(1)
        await asyncio.sleep(0.2)
        return "fresh"

    async def main() -> list[object]:
        try:
            return list(
                await asyncio.gather(*(cache.aget_or_set("hot", compute, 60) for _ in range(100)))
            )
        finally:
            await cache.aclear()
            await cache.aclose()

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(main()) == ["fresh"] * 100
        assert len(calls) == 1
    finally:
        close_cache(cache, loop)
        loop.close()


@pytest.mark.parametrize("backend", SHARED_BACKENDS)
def test_workers_sharing_a_store_compute_a_missing_key_once(backend: str, tmp_path: Path) -> None:
    """Separate cache instances stand for separate worker processes: the lock is in the store."""
    workers = [make_cache(backend, tmp_path, prefix="stampede-shared") for _ in range(4)]
    calls: list[int] = []
    results: list[object] = []

    def compute() -> str:
        calls.append(1)
        time.sleep(0.3)
        return "fresh"

    def run(index: int) -> None:
        results.append(workers[index].get_or_set("hot", compute, 60))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == ["fresh"] * 4
        assert len(calls) == 1
    finally:
        for worker in workers:
            close_cache(worker)


def test_a_failing_computation_lets_the_waiters_compute(tmp_path: Path) -> None:
    cache = make_cache("memory", tmp_path)
    attempts: list[int] = []

    async def compute() -> str:
        attempts.append(1)
        await asyncio.sleep(0.05)
        if len(attempts) == 1:
            raise RuntimeError("database hiccup")
        return "second try"

    async def main() -> list[object]:
        return list(
            await asyncio.gather(
                *(cache.aget_or_set("k", compute) for _ in range(3)), return_exceptions=True
            )
        )

    results = asyncio.run(main())
    assert isinstance(results[0], RuntimeError)
    assert "second try" in results[1:]
