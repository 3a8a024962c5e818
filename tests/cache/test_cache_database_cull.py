"""The database cache stays bounded: Django's ``MAX_ENTRIES`` and ``CULL_FREQUENCY``.

Run on SQLite, PostgreSQL and MariaDB, through the sync API and the async
one. The figures of the first two tests are Django's own
(``tests/cache/tests.py``: ``test_cull`` and ``test_zero_cull``, 49 keys in a
cache of 30). The table is shared by every cache using the database, so each
test starts from an empty one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cache_support import Api, make_cache
from sqlalchemy import delete, func, select

from oakling.cache import create_cache
from oakling.exceptions import ImproperlyConfigured


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bounded(kind: str, mode: str, tmp_path: Path) -> Iterator[Any]:
    """Return ``make(**options) -> Api`` on an emptied cache table."""
    made: list[Api] = []

    def make(**options: Any) -> Api:
        from oakling.cache.backends.database import CacheEntry

        cache = make_cache(kind, tmp_path, **options)
        with cache.database.session() as session, session.begin():  # type: ignore[attr-defined]
            session.execute(delete(CacheEntry))
        api = Api(cache, mode)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


def _rows(api: Api) -> int:
    from oakling.cache.backends.database import CacheEntry

    with api.cache.database.session() as session:  # type: ignore[attr-defined]
        return int(session.execute(select(func.count()).select_from(CacheEntry)).scalar_one())


def test_a_full_cache_culls_a_third_of_its_entries(bounded: Any) -> None:
    api = bounded(max_entries=30)  # CULL_FREQUENCY 3, Django's default
    for number in range(1, 50):
        api.set(f"cull{number}", "value", 1000)
    kept = [number for number in range(1, 50) if api.has_key(f"cull{number}")]
    assert len(kept) == 29  # Django's test_cull
    assert _rows(api) == 29
    # the oldest were deleted, the newest kept
    assert kept[-1] == 49
    assert 1 not in kept


def test_cull_frequency_zero_empties_a_full_cache(bounded: Any) -> None:
    api = bounded(max_entries=30, cull_frequency=0)
    for number in range(1, 50):
        api.set(f"cull{number}", "value", 1000)
    kept = [number for number in range(1, 50) if api.has_key(f"cull{number}")]
    # Django's DBCacheTests.test_zero_cull: 18 (counted before the write: the
    # 32nd set finds 31 rows and empties the table; LocMemCache's figure is 19)
    assert len(kept) == 18
    assert kept == list(range(32, 50))


def test_the_table_never_grows_past_max_entries_plus_one(bounded: Any) -> None:
    api = bounded(max_entries=10, cull_frequency=2)
    sizes = []
    for number in range(60):
        api.set(f"k{number}", number)
        sizes.append(_rows(api))
    assert max(sizes) == 11  # counted before each write, as Django
    assert api.get("k59") == 59


def test_expired_entries_are_culled_first(bounded: Any) -> None:
    api = bounded(max_entries=10, cull_frequency=2)
    for number in range(5):
        api.set(f"short{number}", number, 0.05)
    for number in range(6):
        api.set(f"keep{number}", number, 1000)
    time.sleep(0.1)
    api.set("new", "value", 1000)  # 11 rows counted: the 5 expired go, nothing else
    assert all(api.get(f"keep{number}") == number for number in range(6))
    assert api.get("new") == "value"
    assert _rows(api) == 7


def test_then_the_oldest_written_entries_are_culled(bounded: Any) -> None:
    api = bounded(max_entries=10, cull_frequency=2)
    for number in range(10):
        api.set(f"k{number}", number, 1000)
        time.sleep(0.002)  # NOTE: distinct write times on any clock
    api.set("k0", "rewritten", 1000)  # 10 rows: no cull; k0 is now the newest
    time.sleep(0.002)
    api.set("k10", 10, 1000)  # 10 rows counted: no cull, 11 rows
    api.set("new", "value", 1000)  # 11 rows counted: the 5 oldest written go
    assert [api.has_key(f"k{number}") for number in range(1, 6)] == [False] * 5
    assert all(api.get(f"k{number}") == number for number in range(6, 11))
    assert api.get("k0") == "rewritten"
    assert api.get("new") == "value"


def test_add_and_set_many_cull_too(bounded: Any) -> None:
    api = bounded(max_entries=10)
    for number in range(30):
        assert api.add(f"a{number}", number, 1000)
    assert _rows(api) <= 11
    for batch in range(10):
        api.set_many({f"m{batch}-{index}": index for index in range(3)}, 1000)
    assert _rows(api) <= 11 + 2  # counted once per set_many, before its 3 rows


def test_max_entries_none_never_culls(bounded: Any) -> None:
    api = bounded(max_entries=None)
    for number in range(400):
        api.set(f"k{number}", number)
    assert _rows(api) == 400
    assert api.get("k0") == 0


def test_max_entries_and_cull_frequency_come_from_caches_options(tmp_path: Path) -> None:
    cache = create_cache(
        {
            "BACKEND": "database",
            "LOCATION": f"sqlite:///{tmp_path / 'c.db'}",
            "OPTIONS": {"MAX_ENTRIES": 50, "CULL_FREQUENCY": 4},
        }
    )
    assert (cache.max_entries, cache.cull_frequency) == (50, 4)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "options", [{"MAX_ENTRIES": 0}, {"MAX_ENTRIES": -5}, {"CULL_FREQUENCY": -1}]
)
def test_bad_bounds_are_refused_at_startup(tmp_path: Path, options: dict[str, int]) -> None:
    config = {"BACKEND": "database", "LOCATION": f"sqlite:///{tmp_path / 'c.db'}"}
    with pytest.raises((ValueError, ImproperlyConfigured), match="MAX_ENTRIES|CULL_FREQUENCY"):
        create_cache({**config, "OPTIONS": options})
