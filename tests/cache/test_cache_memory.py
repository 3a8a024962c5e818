"""The memory backend's bounds: least recently used keys go first."""

from __future__ import annotations

import pytest

from oakling.cache import MemoryCache


def test_least_recently_used_keys_are_evicted_first() -> None:
    cache = MemoryCache(max_entries=3)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.set("c", 3)
    assert cache.get("a") == 1  # NOTE: "a" is now the most recently used
    cache.set("d", 4)
    assert cache.get("b") is None
    assert cache.get_many(["a", "c", "d"]) == {"a": 1, "c": 3, "d": 4}
    assert len(cache) == 3


def test_the_size_bound_evicts_by_bytes() -> None:
    cache = MemoryCache(max_entries=1000, max_size=3000)
    for index in range(10):
        cache.set(f"k{index}", "x" * 1000)
    assert len(cache) <= 3
    assert cache.get("k9") == "x" * 1000
    assert cache.get("k0") is None


def test_a_value_larger_than_the_bound_is_not_kept() -> None:
    cache = MemoryCache(max_size=100)
    cache.set("huge", "x" * 1000)
    assert cache.get("huge") is None


def test_values_read_are_copies() -> None:
    cache = MemoryCache()
    value = {"items": [1]}
    cache.set("k", value)
    value["items"].append(2)
    read = cache.get("k")
    read["items"].append(3)
    assert cache.get("k") == {"items": [1]}


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryCache(max_entries=0)


def test_dummy_cache_keeps_nothing() -> None:
    from oakling.cache import DummyCache

    cache = DummyCache()
    cache.set("k", 1)
    assert cache.get("k") is None
    assert cache.add("k", 1) is True
    assert cache.get_or_set("k", lambda: 5) == 5
    with pytest.raises(ValueError):
        cache.incr("k")
