"""Settings: precedence, string conversion, errors, secret key rules, extras."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from oakling import config
from oakling.config import Settings, load_settings
from oakling.exceptions import ImproperlyConfigured
from oakling.requests import Limits

KEY = "k" * 40


def load(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Load with no .env file and only the given environment."""
    return load_settings(env_file=None, environ=environ or {}, **overrides)


def write_env(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    return path


# -- defaults and precedence ---------------------------------------------------


def test_defaults_when_nothing_is_set():
    settings = load()
    assert settings.DEBUG is False
    assert settings.SECRET_KEY is None
    assert settings.ALLOWED_HOSTS == []
    assert settings.MAX_BODY_SIZE == 2_621_440
    assert settings.THREAD_POOL_SIZE == 40
    assert settings.TEMPLATES_DIR == "templates"
    assert settings.STATIC_DIR is None
    assert settings.STATIC_URL == "/static"
    assert settings.extra == {}
    assert settings.sources == {}
    assert settings.limits() == Limits()


def test_list_default_is_not_shared_between_instances():
    first, second = load(), load()
    first.ALLOWED_HOSTS.append("example.com")
    assert second.ALLOWED_HOSTS == []


def test_precedence_code_over_environment_over_env_file_over_default(tmp_path):
    env_file = write_env(
        tmp_path,
        "OAKLING_TEMPLATES_DIR=from-file\n"
        "OAKLING_STATIC_URL=/from-file\n"
        "OAKLING_STATIC_DIR=from-file\n",
    )
    environ = {"OAKLING_TEMPLATES_DIR": "from-env", "OAKLING_STATIC_URL": "/from-env"}
    settings = load_settings(env_file=env_file, environ=environ, TEMPLATES_DIR="from-code")
    assert settings.TEMPLATES_DIR == "from-code"
    assert settings.STATIC_URL == "/from-env"
    assert settings.STATIC_DIR == "from-file"
    assert settings.MAX_FORM_FIELDS == 1000
    assert settings.sources == {
        "TEMPLATES_DIR": "TEMPLATES_DIR (code)",
        "STATIC_URL": "OAKLING_STATIC_URL (environment)",
        "STATIC_DIR": f"OAKLING_STATIC_DIR ({env_file.resolve()})",
    }


def test_default_env_file_is_dot_env_in_working_directory(tmp_path, monkeypatch):
    write_env(tmp_path, "OAKLING_MAX_FORM_FILES=7\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).MAX_FORM_FILES == 7


def test_missing_env_file_is_fine(tmp_path):
    settings = load_settings(env_file=tmp_path / "absent.env", environ={})
    assert settings.DEBUG is False


def test_environ_defaults_to_the_process_environment(monkeypatch):
    monkeypatch.setenv("OAKLING_MAX_FORM_FIELDS", "12")
    monkeypatch.setenv("OAKLING_SOME_BATTERY_SETTING", "on")
    settings = load_settings(env_file=None)
    assert settings.MAX_FORM_FIELDS == 12
    assert settings.get("SOME_BATTERY_SETTING") == "on"


def test_only_prefixed_names_are_read(tmp_path):
    env_file = write_env(tmp_path, "DEBUG=1\nMAX_BODY_SIZE=5\n")
    settings = load_settings(
        env_file=env_file, environ={"DEBUG": "1", "SECRET_KEY": KEY, "oakling_debug": "1"}
    )
    assert settings.DEBUG is False
    assert settings.SECRET_KEY is None
    assert settings.MAX_BODY_SIZE == 2_621_440
    # A differently cased prefix is not the prefix.
    assert settings.extra == {}


def test_custom_prefix():
    settings = load({"MYAPP_DEBUG": "1", "OAKLING_MAX_BODY_SIZE": "5", "MYAPP_X": "y"}, prefix="")
    assert settings.DEBUG is False  # "MYAPP_DEBUG" is no field name
    assert settings.extra == {}  # an empty prefix puts nothing in extra
    settings = load_settings(
        env_file=None, environ={"MYAPP_DEBUG": "1", "OAKLING_MAX_BODY_SIZE": "5"}, prefix="MYAPP_"
    )
    assert settings.DEBUG is True
    assert settings.MAX_BODY_SIZE == 2_621_440


def test_empty_prefix_reads_bare_field_names():
    settings = load_settings(env_file=None, environ={"DEBUG": "1", "PATH": "/bin"}, prefix="")
    assert settings.DEBUG is True
    assert "PATH" not in settings.extra


# -- conversion ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["1", "true", "True", "TRUE", "yes", "Yes", "on", "y", "t", " true "]
)
def test_true_spellings(text):
    assert load({"OAKLING_DEBUG": text}).DEBUG is True


@pytest.mark.parametrize("text", ["0", "false", "False", "no", "NO", "off", "n", "f"])
def test_false_spellings(text):
    assert load({"OAKLING_DEBUG": text}).DEBUG is False


@pytest.mark.parametrize("text", ["maybe", "", "2", "tru", "yess"])
def test_bad_bool_names_variable_source_and_type(text):
    with pytest.raises(ImproperlyConfigured) as info:
        load({"OAKLING_DEBUG": text})
    assert str(info.value) == f"OAKLING_DEBUG (environment): expected bool, got {text!r}"


@pytest.mark.parametrize(("text", "expected"), [("42", 42), (" 42 ", 42), ("0", 0)])
def test_int(text, expected):
    assert load({"OAKLING_MAX_FORM_FIELDS": text}).MAX_FORM_FIELDS == expected


@pytest.mark.parametrize("text", ["4x2", "", "forty", "1.5"])
def test_bad_int(text):
    with pytest.raises(ImproperlyConfigured, match=r"^OAKLING_MAX_FORM_FIELDS \(environment\)"):
        load({"OAKLING_MAX_FORM_FIELDS": text})


def test_negative_size_is_refused():
    with pytest.raises(ImproperlyConfigured) as info:
        load({"OAKLING_MAX_BODY_SIZE": "-1"})
    assert str(info.value) == "OAKLING_MAX_BODY_SIZE (environment): expected int >= 0, got '-1'"
    with pytest.raises(ImproperlyConfigured, match=r"expected int >= 1, got '0'"):
        load({"OAKLING_THREAD_POOL_SIZE": "0"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a.com,b.com,c.com", ["a.com", "b.com", "c.com"]),
        (" a.com , b.com ,", ["a.com", "b.com"]),
        ("a.com", ["a.com"]),
        ('["a.com", "b.com"]', ["a.com", "b.com"]),
        ("  []", []),
        ("", []),
    ],
)
def test_list_from_commas_or_json(text, expected):
    assert load({"OAKLING_ALLOWED_HOSTS": text}).ALLOWED_HOSTS == expected


@pytest.mark.parametrize(
    ("text", "detail"), [('["a.com"', "invalid JSON"), ("[1, 2]", "at `$[0]`")]
)
def test_bad_list(text, detail):
    with pytest.raises(ImproperlyConfigured) as info:
        load({"OAKLING_ALLOWED_HOSTS": text})
    message = str(info.value)
    assert message.startswith("OAKLING_ALLOWED_HOSTS (environment): expected list[str], got ")
    assert detail in message


def test_empty_value_of_optional_field_means_none():
    settings = load({"OAKLING_STATIC_DIR": "", "OAKLING_TEMPLATES_DIR": ""})
    assert settings.STATIC_DIR is None
    assert settings.TEMPLATES_DIR == ""  # not optional: the empty string as given


def test_string_values_are_kept_verbatim():
    settings = load({"OAKLING_SECRET_KEY": "  spaced key, with comma  "})
    assert settings.SECRET_KEY == "  spaced key, with comma  "


def test_error_names_the_env_file(tmp_path):
    env_file = write_env(tmp_path, "OAKLING_DEBUG=maybe\n")
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings(env_file=env_file, environ={})
    assert str(info.value) == f"OAKLING_DEBUG ({env_file.resolve()}): expected bool, got 'maybe'"


def test_error_names_code_as_the_source():
    with pytest.raises(ImproperlyConfigured) as info:
        load(MAX_BODY_SIZE="big")
    assert str(info.value) == "MAX_BODY_SIZE (code): expected int >= 0, got 'big'"
    with pytest.raises(ImproperlyConfigured, match=r"^DEBUG \(code\): expected bool, got \[1\]"):
        load(DEBUG=[1])


def test_environment_overrides_a_bad_env_file_value(tmp_path):
    env_file = write_env(tmp_path, "OAKLING_DEBUG=maybe\n")
    assert load_settings(env_file=env_file, environ={"OAKLING_DEBUG": "1"}).DEBUG is True


def test_code_values_are_converted_too():
    settings = load(ALLOWED_HOSTS=("a.com",), TEMPLATES_DIR=Path("tpl"), DEBUG="yes")
    assert settings.ALLOWED_HOSTS == ["a.com"]
    assert settings.TEMPLATES_DIR == "tpl"
    assert settings.DEBUG is True


def test_huge_bad_value_is_shortened_in_the_message():
    with pytest.raises(ImproperlyConfigured) as info:
        load({"OAKLING_MAX_BODY_SIZE": "9" * 5000 + "x"})
    assert len(str(info.value)) < 200


# -- .env parsing (python-dotenv) ------------------------------------------------


def test_env_file_quotes_comments_and_export(tmp_path):
    env_file = write_env(
        tmp_path,
        "# a comment line\n"
        "\n"
        'OAKLING_SECRET_KEY="a quoted value # not a comment"\n'
        "export OAKLING_STATIC_URL='/assets'  # trailing comment\n"
        "OAKLING_ALLOWED_HOSTS=a.com,b.com # hosts\n"
        'OAKLING_GREETING="line one\\nline two"\n'
        "OAKLING_BARE_KEY\n",
    )
    settings = load_settings(env_file=env_file, environ={})
    assert settings.SECRET_KEY == "a quoted value # not a comment"
    assert settings.STATIC_URL == "/assets"
    assert settings.ALLOWED_HOSTS == ["a.com", "b.com"]
    assert settings.get("GREETING") == "line one\nline two"
    # A key without "=" has no value: it is ignored, not set to None.
    assert "BARE_KEY" not in settings.extra


def test_loading_never_mutates_os_environ(tmp_path, monkeypatch):
    env_file = write_env(
        tmp_path, "OAKLING_DEBUG=1\nOAKLING_ONLY_IN_FILE=x\nUNPREFIXED_IN_FILE=y\n"
    )
    monkeypatch.setenv("OAKLING_MAX_FORM_FILES", "3")
    before = dict(os.environ)
    settings = load_settings(env_file=env_file)
    load_settings(env_file=env_file, environ={"OAKLING_X": "1"}, DEBUG=False)
    assert dict(os.environ) == before
    assert "OAKLING_ONLY_IN_FILE" not in os.environ
    assert settings.DEBUG is True
    assert settings.MAX_FORM_FILES == 3


# -- SECRET_KEY ------------------------------------------------------------------


def test_missing_secret_key_outside_debug_is_refused_with_instructions():
    settings = load()
    with pytest.raises(ImproperlyConfigured) as info:
        settings.check()
    message = str(info.value)
    assert message.startswith("SECRET_KEY is not set.")
    assert "OAKLING_SECRET_KEY" in message
    assert "secrets.token_urlsafe(50)" in message
    assert "OAKLING_DEBUG=1" in message


def test_empty_secret_key_is_refused():
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is not set"):
        load({"OAKLING_SECRET_KEY": ""}).check()


def test_short_secret_key_is_refused_outside_debug():
    with pytest.raises(ImproperlyConfigured, match=r"SECRET_KEY is too short \(31 characters"):
        load({"OAKLING_SECRET_KEY": "x" * 31}).check()
    load({"OAKLING_SECRET_KEY": "x" * 32}).check()
    load({"OAKLING_SECRET_KEY": "short", "OAKLING_DEBUG": "1"}).check()


def test_debug_without_key_gets_a_per_process_key(caplog, monkeypatch):
    monkeypatch.setattr(config, "_development_key_noted", False)
    with caplog.at_level(logging.WARNING, logger="oakling.config"):
        first = load({"OAKLING_DEBUG": "1"})
        second = Settings(DEBUG=True)
    first.check()
    assert first.SECRET_KEY is not None and len(first.SECRET_KEY) >= 32
    assert second.SECRET_KEY == first.SECRET_KEY
    notes = [record for record in caplog.records if "SECRET_KEY is not set" in record.message]
    assert len(notes) == 1
    assert "restart" in notes[0].message


def test_development_key_is_refused_once_debug_is_off():
    settings = Settings(DEBUG=True)
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured, match="development key"):
        settings.check()


def test_an_explicit_key_is_kept_in_debug():
    assert load({"OAKLING_DEBUG": "1", "OAKLING_SECRET_KEY": KEY}).SECRET_KEY == KEY


# -- subclasses and extra ----------------------------------------------------------


class MySettings(Settings):
    DATABASE_URL: str = "sqlite:///app.db"
    PAGE_SIZE: int = 20
    FEATURES: list[str] = []
    WEIGHTS: dict[str, int] = {}
    cache_ttl: float = 1.5


def test_subclass_fields_are_typed_and_read_from_the_environment():
    settings = load_settings(
        MySettings,
        env_file=None,
        environ={
            "OAKLING_DATABASE_URL": "postgresql://db/app",
            "OAKLING_PAGE_SIZE": "50",
            "OAKLING_FEATURES": "search,export",
            "OAKLING_WEIGHTS": '{"a": 1, "b": 2}',
            "OAKLING_CACHE_TTL": "0.25",
            "OAKLING_DEBUG": "1",
        },
    )
    assert type(settings) is MySettings
    assert settings.DATABASE_URL == "postgresql://db/app"
    assert settings.PAGE_SIZE == 50
    assert settings.FEATURES == ["search", "export"]
    assert settings.WEIGHTS == {"a": 1, "b": 2}
    assert settings.cache_ttl == 0.25
    assert settings.DEBUG is True
    assert settings.extra == {}


def test_path_fields_from_environment_and_code():
    class WithPaths(Settings):
        MEDIA_ROOT: Path = Path("media")
        BACKUP_DIR: Path | None = None
        SEARCH_PATH: list[Path] = []

    settings = load_settings(
        WithPaths,
        env_file=None,
        environ={"OAKLING_MEDIA_ROOT": "/srv/media", "OAKLING_SEARCH_PATH": "a,b/c"},
        BACKUP_DIR="/backups",
    )
    assert settings.MEDIA_ROOT == Path("/srv/media")
    assert settings.BACKUP_DIR == Path("/backups")
    assert settings.SEARCH_PATH == [Path("a"), Path("b/c")]
    with pytest.raises(ImproperlyConfigured, match=r"^MEDIA_ROOT \(code\): expected Path, got 3"):
        load_settings(WithPaths, env_file=None, environ={}, MEDIA_ROOT=3)


def test_subclass_defaults_and_bad_values():
    assert load_settings(MySettings, env_file=None, environ={}).DATABASE_URL == "sqlite:///app.db"
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings(MySettings, env_file=None, environ={"OAKLING_PAGE_SIZE": "many"})
    assert str(info.value) == "OAKLING_PAGE_SIZE (environment): expected int, got 'many'"


def test_lowercase_field_is_read_from_the_upper_cased_variable_only():
    settings = load_settings(
        MySettings, env_file=None, environ={"OAKLING_CACHE_TTL": "2", "OAKLING_cache_ttl": "bad"}
    )
    assert settings.cache_ttl == 2.0
    assert settings.extra == {"cache_ttl": "bad"}


def test_required_subclass_field_must_be_set():
    class Strict(Settings):
        API_TOKEN: str

    with pytest.raises(ImproperlyConfigured, match="API_TOKEN is required: set OAKLING_API_TOKEN"):
        load_settings(Strict, env_file=None, environ={})
    settings = load_settings(Strict, env_file=None, environ={"OAKLING_API_TOKEN": "t"})
    assert settings.API_TOKEN == "t"


def test_unknown_prefixed_variables_land_in_extra(tmp_path):
    env_file = write_env(tmp_path, "OAKLING_REDIS_URL=redis://file\nOAKLING_MAIL_HOST=smtp\n")
    settings = load_settings(
        env_file=env_file,
        environ={"OAKLING_REDIS_URL": "redis://env", "OAKLING_": "empty name", "OTHER": "x"},
        SESSION_MAX_AGE=60,
    )
    assert settings.extra == {
        "REDIS_URL": "redis://env",
        "MAIL_HOST": "smtp",
        "SESSION_MAX_AGE": 60,
    }
    assert settings.sources["REDIS_URL"] == "OAKLING_REDIS_URL (environment)"


def test_get_reads_fields_and_extra_with_optional_cast():
    settings = load(
        {"OAKLING_SESSION_SECURE": "yes", "OAKLING_ORIGINS": "a,b", "OAKLING_PORT": "8000"},
        SECRET_KEY=KEY,
    )
    assert settings.get("SECRET_KEY") == KEY
    assert settings.get("SESSION_SECURE") == "yes"
    assert settings.get("SESSION_SECURE", cast=bool) is True
    assert settings.get("ORIGINS", cast=list[str]) == ["a", "b"]
    assert settings.get("PORT", 80, cast=int) == 8000
    assert settings.get("MISSING") is None
    assert settings.get("MISSING", 80, cast=int) == 80
    assert settings.get("extra") is None  # bookkeeping fields are not settings


def test_get_cast_error_names_variable_and_source():
    settings = load({"OAKLING_PORT": "eighty"})
    with pytest.raises(ImproperlyConfigured) as info:
        settings.get("PORT", cast=int)
    assert str(info.value) == "OAKLING_PORT (environment): expected int, got 'eighty'"


def test_bookkeeping_names_cannot_be_overridden():
    with pytest.raises(TypeError, match="extra"):
        load(extra={"A": 1})
    settings = load({"OAKLING_EXTRA": "x", "OAKLING_SOURCES": "y"})
    assert settings.extra == {"EXTRA": "x", "SOURCES": "y"}


def test_cls_must_be_a_settings_class():
    class NotSettings(msgspec.Struct):
        DEBUG: bool = False

    with pytest.raises(TypeError, match="Settings"):
        load_settings(NotSettings, env_file=None, environ={})


# -- limits and repr ----------------------------------------------------------------


def test_limits_follow_the_settings():
    settings = load(
        {
            "OAKLING_MAX_BODY_SIZE": "1",
            "OAKLING_MAX_MULTIPART_SIZE": "2",
            "OAKLING_MAX_FORM_FIELDS": "3",
            "OAKLING_MAX_FORM_FILES": "4",
            "OAKLING_MAX_PART_SIZE": "5",
            "OAKLING_MAX_PART_HEADER_SIZE": "6",
            "OAKLING_FILE_UPLOAD_MAX_MEMORY_SIZE": "7",
        }
    )
    assert settings.limits() == Limits(
        max_body_size=1,
        max_multipart_size=2,
        max_fields=3,
        max_files=4,
        max_part_size=5,
        max_part_header_size=6,
        file_memory_size=7,
    )


def test_repr_hides_secrets():
    settings = load_settings(
        MySettings,
        env_file=None,
        environ={
            "OAKLING_SECRET_KEY": KEY,
            "OAKLING_DATABASE_URL": "postgresql://app:hunter2@db:5432/app",
            "OAKLING_STRIPE_API_KEY": "sk_live_abc",
            "OAKLING_MAIL_PASSWORD": "pw-123",
        },
    )
    text = repr(settings)
    for secret in (KEY, "hunter2", "sk_live_abc", "pw-123"):
        assert secret not in text
    assert "postgresql://app:********@db:5432/app" in text
    assert text.startswith("MySettings(")
    redacted = settings.redacted()
    assert redacted["SECRET_KEY"] == "********"
    assert redacted["STRIPE_API_KEY"] == "********"
    assert redacted["PAGE_SIZE"] == 20
    assert settings.SECRET_KEY == KEY  # only the view is masked
