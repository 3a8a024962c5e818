"""``CACHES``: named caches from settings, backends by name or dotted path, the plugin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from oakling import App
from oakling.cache import (
    BaseCache,
    Cache,
    DummyCache,
    InvalidCacheBackendError,
    MemoryCache,
    cache,
    caches,
    create_cache,
)
from oakling.cache.plugin import cache_command
from oakling.config import Settings
from oakling.exceptions import ImproperlyConfigured

SECRET = "cache-config-tests-secret-key-0123456789abcdefghij"


class RecordingCache(MemoryCache):
    """A custom backend, found by its dotted path."""


@pytest.fixture(autouse=True)
def _reset_caches():
    yield
    caches.configure({"default": {"BACKEND": "memory"}})


def test_django_style_entries_build_backends() -> None:
    built = create_cache(
        {
            "BACKEND": "memory",
            "TIMEOUT": 60,
            "KEY_PREFIX": "site",
            "VERSION": 3,
            "OPTIONS": {"MAX_ENTRIES": 10, "SERIALIZER": "pickle"},
        }
    )
    assert isinstance(built, MemoryCache)
    assert built.default_timeout == 60
    assert built.make_key("k") == "site:3:k"
    assert built.max_entries == 10
    assert type(built.serializer).__name__ == "PickleSerializer"


def test_a_custom_backend_by_dotted_path() -> None:
    built = create_cache({"BACKEND": f"{__name__}.RecordingCache"})
    assert isinstance(built, RecordingCache)


def test_a_key_function_by_dotted_path() -> None:
    built = create_cache({"KEY_FUNCTION": "tests.cache.test_cache_config.reversed_key"})
    assert built.make_key("abc") == "cba"


def reversed_key(key: str, prefix: str, version: int) -> str:
    return key[::-1]


@pytest.mark.parametrize(
    "entry",
    [
        {"BACKEND": "nope.Nothing"},
        {"BACKEND": "json.dumps"},
        {"BACKEND": "memory", "LOCATON": "typo"},
        {"BACKEND": "memory", "OPTIONS": {"NOT_AN_OPTION": 1}},
    ],
)
def test_bad_entries_are_clear_configuration_errors(entry: dict[str, object]) -> None:
    with pytest.raises(InvalidCacheBackendError):
        create_cache(entry)


def test_the_plugin_reads_the_caches_setting() -> None:
    # NOTE: OAKLING_CACHES in the environment arrives as this JSON string.
    raw = json.dumps(
        {"default": {"BACKEND": "memory", "KEY_PREFIX": "env"}, "off": {"BACKEND": "dummy"}}
    )
    app = App(settings=Settings(SECRET_KEY=SECRET, extra={"CACHES": raw}), plugins=[Cache()])
    assert app.extensions["cache"].caches is caches
    assert caches["default"].key_prefix == "env"
    assert isinstance(caches["off"], DummyCache)
    cache.set("k", 1)
    assert caches["default"].get("k") == 1
    with pytest.raises(InvalidCacheBackendError, match="not in CACHES"):
        caches["missing"]


@pytest.mark.parametrize("raw", ["[1, 2]", "{not json", '{"default": 1}'])
def test_caches_must_be_an_object(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="CACHES"):
        App(settings=Settings(SECRET_KEY=SECRET, extra={"CACHES": raw}), plugins=[Cache()])


def test_without_the_plugin_the_default_cache_is_memory() -> None:
    assert isinstance(caches["default"], BaseCache)
    cache.set("k", "v")
    assert cache.get("k") == "v"


def test_the_database_cache_uses_the_apps_database(tmp_path: Path) -> None:
    from oakling.cache.backends.database import DatabaseCache
    from oakling.db import Database

    database = Database(f"sqlite:///{tmp_path / 'app.db'}")
    App(
        settings=Settings(SECRET_KEY=SECRET),
        plugins=[database, Cache({"default": {"BACKEND": "database"}})],
    )
    built = caches["default"]
    assert isinstance(built, DatabaseCache)
    assert built.database is database


def test_the_database_cache_without_a_database_says_what_to_do() -> None:
    with pytest.raises(ImproperlyConfigured, match="Database"):
        App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache({"default": {"BACKEND": "db"}})])


def test_cache_clear_command_clears_every_cache_or_one() -> None:
    App(
        settings=Settings(SECRET_KEY=SECRET),
        plugins=[Cache({"default": {"BACKEND": "memory"}, "other": {"BACKEND": "memory"}})],
    )
    caches["default"].set("k", 1)
    caches["other"].set("k", 2)
    runner = CliRunner()
    result = runner.invoke(cache_command, ["clear", "--cache", "other"])
    assert result.exit_code == 0, result.output
    assert caches["other"].get("k") is None
    assert caches["default"].get("k") == 1
    result = runner.invoke(cache_command, ["clear"])
    assert result.exit_code == 0
    assert caches["default"].get("k") is None
    result = runner.invoke(cache_command, ["clear", "--cache", "nope"])
    assert result.exit_code != 0
    assert "no cache 'nope'" in result.output


def test_the_plugin_adds_the_cli_command() -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Cache()])
    assert cache_command in app.cli_commands
