"""Django's cache API on every backend (memory, Redis, SQLite, PostgreSQL, MariaDB).

Each test runs through the sync methods and through their async forms.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cache_support import Api, close_cache, make_cache

from oakling.cache import PickleSerializer


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2, {"b": None}]},
        [1, "two", 3.5],
        "text é",
        b"\x00bytes\xff",
        None,
        True,
        0,
        -12,
        2**40,
        1.5,
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    ],
)
def test_values_round_trip(api: Api, value: object) -> None:
    api.set("key", value)
    assert api.get("key", "missing") == value


def test_missing_key_gives_the_default(api: Api) -> None:
    assert api.get("nope") is None
    assert api.get("nope", "fallback") == "fallback"
    assert api.has_key("nope") is False


def test_add_stores_only_a_missing_key(api: Api) -> None:
    assert api.add("key", "first") is True
    assert api.add("key", "second") is False
    assert api.get("key") == "first"


def test_values_expire_after_their_timeout(api: Api) -> None:
    api.set("short", 1, timeout=1)
    api.set("forever", 2, timeout=None)
    assert api.get("short") == 1
    time.sleep(1.3)
    assert api.get("short") is None
    assert api.get("forever") == 2
    # Django: an expired key can be added again
    assert api.add("short", 3) is True


def test_timeout_zero_keeps_nothing(api: Api) -> None:
    api.set("key", 1)
    api.set("key", 2, timeout=0)
    assert api.get("key") is None


def test_default_timeout_is_the_caches(backend: str, mode: str, tmp_path: Path) -> None:
    client = Api(make_cache(backend, tmp_path, timeout=1), mode)
    try:
        client.set("key", 1)
        time.sleep(1.3)
        assert client.get("key") is None
    finally:
        client.close()


def test_touch_gives_a_new_timeout(api: Api) -> None:
    api.set("key", 1, timeout=1)
    assert api.touch("key", 10) is True
    time.sleep(1.3)
    assert api.get("key") == 1
    assert api.touch("missing", 10) is False


def test_delete_says_whether_the_key_existed(api: Api) -> None:
    api.set("key", 1)
    assert api.delete("key") is True
    assert api.delete("key") is False
    assert api.get("key") is None


def test_incr_and_decr_are_on_integers(api: Api) -> None:
    api.set("n", 10)
    assert api.incr("n") == 11
    assert api.incr("n", 5) == 16
    assert api.decr("n", 6) == 10
    assert api.get("n") == 10


def test_incr_of_a_missing_key_raises_value_error(api: Api) -> None:
    with pytest.raises(ValueError, match="not found"):
        api.incr("missing")
    assert api.get("missing") is None  # NOTE: not created by the failed incr


def test_incr_of_a_string_raises_value_error(api: Api) -> None:
    api.set("s", "abc")
    with pytest.raises(ValueError):
        api.incr("s")


def test_incr_keeps_the_timeout(api: Api) -> None:
    api.set("n", 1, timeout=1)
    api.incr("n")
    time.sleep(1.3)
    assert api.get("n") is None


def test_many_keys_at_once(api: Api) -> None:
    assert api.set_many({"a": 1, "b": "two", "c": [3]}) == []
    assert api.get_many(["a", "b", "c", "missing"]) == {"a": 1, "b": "two", "c": [3]}
    api.delete_many(["a", "c"])
    assert api.get_many(["a", "b", "c"]) == {"b": "two"}


def test_get_or_set_computes_only_a_missing_value(api: Api) -> None:
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        return "computed"

    assert api.get_or_set("key", compute) == "computed"
    assert api.get_or_set("key", compute) == "computed"
    assert calls == [1]
    assert api.get_or_set("plain", "value") == "value"
    assert api.get("plain") == "value"


def test_key_prefix_and_version_isolate_keys(backend: str, mode: str, tmp_path: Path) -> None:
    first = Api(make_cache(backend, tmp_path, prefix="one"), mode)
    second = Api(make_cache(backend, tmp_path, prefix="two"), mode)
    try:
        first.set("key", "first")
        second.set("key", "second")
        assert first.get("key") == "first"
        assert second.get("key") == "second"
        first.set("v", "old", version=1)
        first.set("v", "new", version=2)
        assert first.get("v") == "old"
        assert first.get("v", version=2) == "new"
    finally:
        first.close()
        second.close()


def test_clear_deletes_only_this_caches_keys(backend: str, mode: str, tmp_path: Path) -> None:
    mine = Api(make_cache(backend, tmp_path, prefix="mine"), mode)
    other = Api(make_cache(backend, tmp_path, prefix="other"), mode)
    try:
        mine.set("key", 1)
        other.set("key", 2)
        mine.clear()
        assert mine.get("key") is None
        assert other.get("key") == 2
    finally:
        mine.close()
        other.close()


def test_custom_key_function(backend: str, tmp_path: Path) -> None:
    cache = make_cache(
        backend, tmp_path, key_function=lambda key, prefix, version: f"custom/{prefix}/{key}"
    )
    try:
        assert cache.make_key("k") == f"custom/{cache.key_prefix}/k"
        cache.set("k", 1)
        assert cache.get("k") == 1
    finally:
        close_cache(cache)


def test_incr_version_moves_the_key(backend: str, tmp_path: Path) -> None:
    cache = make_cache(backend, tmp_path)
    try:
        cache.set("k", "v")
        assert cache.incr_version("k") == 2
        assert cache.get("k") is None
        assert cache.get("k", version=2) == "v"
    finally:
        close_cache(cache)


def test_long_and_unicode_keys(api: Api) -> None:
    long_key = "x" * 400
    api.set(long_key, 1)
    api.set("ключ ✓", 2)
    assert api.get(long_key) == 1
    assert api.get("x" * 399) is None
    assert api.get("ключ ✓") == 2


def test_keys_are_case_sensitive(api: Api) -> None:
    # MariaDB's default collation would read "Key" for "key".
    api.set("key", "lower")
    assert api.get("KEY") is None
    assert api.get("key ") is None


def test_msgspec_refuses_objects_with_a_clear_error(backend: str, tmp_path: Path) -> None:
    cache = make_cache(backend, tmp_path)
    try:
        with pytest.raises(TypeError, match="pickle"):
            cache.set("obj", object())
    finally:
        close_cache(cache)


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


def test_pickle_serializer_holds_objects(backend: str, tmp_path: Path) -> None:
    cache = make_cache(backend, tmp_path, serializer="pickle")
    try:
        cache.set("obj", Point(3))
        assert cache.get("obj").x == 3
        cache.set("n", 1)
        assert cache.incr("n") == 2
    finally:
        close_cache(cache)


def test_a_value_another_serializer_wrote_is_a_miss(backend: str, tmp_path: Path) -> None:
    prefix = "shared-serializer"
    writer = make_cache(backend, tmp_path, prefix=prefix, serializer=PickleSerializer())
    reader = make_cache(backend, tmp_path, prefix=prefix)
    try:
        writer.set("k", ("a", "tuple"))
        assert reader.get("k", "default") == "default"
    finally:
        close_cache(writer)
        close_cache(reader)
