"""Typed settings read from code, the environment and a ``.env`` file.

An app's settings are one :class:`Settings` instance: a msgspec Struct whose
fields are the core's settings, with defaults. An app (or a battery with its
own package) adds typed settings by subclassing it::

    class MySettings(Settings):
        DATABASE_URL: str = "sqlite:///app.db"
        PAGE_SIZE: int = 20

    settings = load_settings(MySettings)
    app = App(settings=settings)

:func:`load_settings` fills each field from, highest precedence first:

1. keyword arguments given in code: ``load_settings(DEBUG=True)``;
2. the process environment: ``OAKLING_DEBUG=1``;
3. the ``.env`` file (``./.env`` by default; a missing file is fine), read with
   python-dotenv's ``dotenv_values``, so quotes, comments, ``export`` and
   ``${VAR}`` interpolation work as they do there;
4. the class default.

Decisions a user relies on:

- Only prefixed names are read, from both the environment and ``.env``: a field
  ``NAME`` is read from ``OAKLING_NAME`` (the field name upper-cased), never
  from a bare ``NAME``, so an unrelated ``DEBUG`` or ``PORT`` variable never
  changes an app by surprise. The ``.env`` file is read, never loaded:
  ``os.environ`` is not modified.
- Strings are converted to the field's type with msgspec (non-strict): ``int``
  and ``float`` as msgspec parses them; ``bool`` accepts ``1/true/yes/on/y/t``
  and ``0/false/no/off/n/f`` in any case (pydantic's set); ``list``, ``tuple``
  and ``set`` fields accept a JSON array (``["a", "b"]``) or comma-separated
  items (``a, b``; blank items dropped; empty means empty); ``dict`` and Struct
  fields accept JSON; ``pathlib.Path`` fields take the string as a path; an
  empty value for an optional (``X | None``) field means None. A value that does not convert raises
  :class:`~oakling.exceptions.ImproperlyConfigured` naming the variable, where
  it came from and the expected type:
  ``OAKLING_DEBUG (environment): expected bool, got 'maybe'``.
- Every ``OAKLING_*`` variable that names no field, and every unknown keyword
  given in code, lands in :attr:`Settings.extra` (prefix stripped), so a
  battery reads ``settings.get("REDIS_URL")`` or
  ``settings.get("SESSION_MAX_AGE", 1209600, cast=int)`` without the core
  declaring it. As with Django's settings, a misspelt name is not an error: it
  lands in ``extra``.
- :meth:`Settings.check` is the security gate, run by the app at startup (not
  by :func:`load_settings`, so scripts and CLI commands that never serve can
  load settings without a key). Outside debug it refuses a missing
  ``SECRET_KEY`` and one shorter than 32 characters. With ``DEBUG`` on and no
  key, a random key generated once per process is used (and logged once), so
  development works; sessions and signed values then do not survive a restart.
- ``repr()`` of settings hides secrets (names containing KEY, SECRET, PASS,
  TOKEN, API, SIGNATURE or CREDENTIAL, as Django's error reporter does, and
  passwords inside URLs); :meth:`Settings.redacted` gives the same view as a
  dict.

This plays the part of Django's ``settings.py`` plus django-environ, Flask's
``app.config.from_prefixed_env()`` and pydantic-settings' ``BaseSettings``.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import secrets
import types
import typing
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Annotated, Any, TypeVar, overload

import msgspec

from oakling.exceptions import ImproperlyConfigured
from oakling.requests import Limits

__all__ = ["Settings", "is_development_key", "load_settings"]

logger = logging.getLogger("oakling.config")

SettingsT = TypeVar("SettingsT", bound="Settings")
_T = TypeVar("_T")
_D = TypeVar("_D")

_NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
_PositiveInt = Annotated[int, msgspec.Meta(ge=1)]

# Fields of Settings that are bookkeeping, not settings: never read from the
# environment and not accepted as keyword overrides.
_RESERVED = frozenset({"extra", "sources"})

# NOTE: pydantic's spellings, which FastAPI users already write in .env files.
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})

# SECURITY: the names Django's SafeExceptionReporterFilter hides, plus CREDENTIAL.
_SENSITIVE_NAME = re.compile(r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|CREDENTIAL", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@")
_MASK = "********"

_MIN_SECRET_KEY_LENGTH = 32
_GENERATE_KEY_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"

# SECURITY: made once per process, so every Settings built in DEBUG without a
# key agrees on it; check() refuses it outside debug.
_DEVELOPMENT_SECRET_KEY = secrets.token_urlsafe(50)
_development_key_noted = False


class Settings(msgspec.Struct, kw_only=True):
    """The core's settings; subclass it to add typed settings of your own.

    Build one with :func:`load_settings` to read the environment and ``.env``,
    or directly (``Settings(DEBUG=True)``) in tests; direct construction does
    no type conversion. A subclass overriding ``__post_init__`` must call
    ``super().__post_init__()``.

    Attributes:
        DEBUG: Development mode: tracebacks in error pages, a generated
            ``SECRET_KEY`` when none is set. Never on in production.
        SECRET_KEY: The key signing sessions, CSRF tokens and other signed
            values. Required outside debug, at least 32 characters.
        SECRET_KEY_FALLBACKS: Previous keys, still accepted when verifying
            signed values but never used to sign (Django's setting): rotate
            a key by moving it here and setting a new ``SECRET_KEY``.
        ALLOWED_HOSTS: Host names the app answers for (Django's setting),
            enforced by the security battery on every request: empty there
            means the localhost names in debug and nothing otherwise. Without
            the battery only the Host's syntax is checked.
        MAX_BODY_SIZE: Bytes of a body read whole (2.5 MiB).
        MAX_MULTIPART_SIZE: Bytes of a whole multipart body (100 MiB).
        MAX_FORM_FIELDS: Form fields per request (1000).
        MAX_FORM_FILES: File parts per request (100).
        MAX_PART_SIZE: Bytes of one non-file multipart field (1 MiB).
        MAX_PART_HEADER_SIZE: Bytes of one multipart part's headers (8 KiB).
        FILE_UPLOAD_MAX_MEMORY_SIZE: Bytes of an upload kept in memory before
            it is spooled to disk (2.5 MiB).
        TEMPLATES_DIR: The Jinja2 templates folder, relative to the working
            directory unless absolute.
        STATIC_DIR: A folder served at ``STATIC_URL``; None serves nothing.
        STATIC_URL: The URL path static files are served under.
        THREAD_POOL_SIZE: Worker threads running plain ``def`` handlers.
        SERVER_NAME: ``host[:port]`` for ``app.url_for(..., _external=True)``
            outside a request (Flask's ``SERVER_NAME``); not used for routing.
        PREFERRED_URL_SCHEME: The scheme of those URLs (Flask's), ``http``.
        extra: Settings that name no field: ``OAKLING_*`` variables (prefix
            stripped) and unknown keywords given in code, as found (strings
            from the environment). Read them with :meth:`get`.
        sources: Where each setting not left at its default came from, as
            ``{"DEBUG": "OAKLING_DEBUG (environment)"}``; the other sources
            are ``"OAKLING_X (/abs/path/.env)"`` and ``"X (code)"``.
    """

    DEBUG: bool = False
    SECRET_KEY: str | None = None
    SECRET_KEY_FALLBACKS: list[str] = []
    ALLOWED_HOSTS: list[str] = []
    MAX_BODY_SIZE: _NonNegativeInt = 2_621_440
    MAX_MULTIPART_SIZE: _NonNegativeInt = 104_857_600
    MAX_FORM_FIELDS: _NonNegativeInt = 1000
    MAX_FORM_FILES: _NonNegativeInt = 100
    MAX_PART_SIZE: _NonNegativeInt = 1_048_576
    MAX_PART_HEADER_SIZE: _NonNegativeInt = 8192
    FILE_UPLOAD_MAX_MEMORY_SIZE: _NonNegativeInt = 2_621_440
    TEMPLATES_DIR: str = "templates"
    STATIC_DIR: str | None = None
    STATIC_URL: str = "/static"
    THREAD_POOL_SIZE: _PositiveInt = 40
    SERVER_NAME: str | None = None
    PREFERRED_URL_SCHEME: str = "http"
    extra: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def __post_init__(self) -> None:
        """Give a debug app without a key the per-process development key."""
        if self.DEBUG and not self.SECRET_KEY:
            self.SECRET_KEY = _DEVELOPMENT_SECRET_KEY
            _note_development_key()

    def check(self) -> None:
        """Refuse settings unsafe to serve with; the app calls it at startup.

        Outside debug, ``SECRET_KEY`` must be set, at least 32 characters
        long, and not the development key generated while ``DEBUG`` was on
        (Django refuses to start without a key too; its ``check --deploy``
        only warns about short ones).

        Raises:
            ImproperlyConfigured: With a message saying what to set and how.
        """
        if self.DEBUG:
            return
        key = self.SECRET_KEY
        if not key:
            raise ImproperlyConfigured(
                "SECRET_KEY is not set. Set OAKLING_SECRET_KEY in the environment or .env "
                f"(generate one with `{_GENERATE_KEY_HINT}`), "
                "or set OAKLING_DEBUG=1 for development."
            )
        if key == _DEVELOPMENT_SECRET_KEY:
            raise ImproperlyConfigured(
                "SECRET_KEY is the random development key generated while DEBUG was on; "
                "DEBUG is now off. Set OAKLING_SECRET_KEY in the environment or .env "
                f"(generate one with `{_GENERATE_KEY_HINT}`)."
            )
        if len(key) < _MIN_SECRET_KEY_LENGTH:
            raise ImproperlyConfigured(
                f"SECRET_KEY is too short ({len(key)} characters; at least "
                f"{_MIN_SECRET_KEY_LENGTH} are required outside debug). "
                f"Generate one with `{_GENERATE_KEY_HINT}`."
            )

    def limits(self) -> Limits:
        """Return the request size limits built from the ``MAX_*`` settings."""
        return Limits(
            max_body_size=self.MAX_BODY_SIZE,
            max_multipart_size=self.MAX_MULTIPART_SIZE,
            max_fields=self.MAX_FORM_FIELDS,
            max_files=self.MAX_FORM_FILES,
            max_part_size=self.MAX_PART_SIZE,
            max_part_header_size=self.MAX_PART_HEADER_SIZE,
            file_memory_size=self.FILE_UPLOAD_MAX_MEMORY_SIZE,
        )

    @overload
    def get(self, key: str, default: Any = None) -> Any: ...

    @overload
    def get(self, key: str, *, cast: type[_T]) -> _T | None: ...

    @overload
    def get(self, key: str, default: _D, *, cast: type[_T]) -> _T | _D: ...

    def get(self, key: str, default: Any = None, *, cast: Any = None) -> Any:
        """Return a setting by name: a declared field, else an ``extra`` one.

        This is how a battery reads settings the core does not declare, e.g.
        ``settings.get("REDIS_URL")`` for ``OAKLING_REDIS_URL``.

        Args:
            key: The setting's name without the prefix (``"REDIS_URL"``).
            default: Returned as is when the setting is not set anywhere.
            cast: A type to convert an ``extra`` value to, with the same rules
                as fields (``"yes"`` -> True, ``"a,b"`` -> a list, JSON for
                dicts). Declared fields are already typed and returned as is.

        Returns:
            The value, or ``default`` when the setting is absent.

        Raises:
            ImproperlyConfigured: If the value does not convert to ``cast``;
                the message names the variable and its source.
        """
        if key not in _RESERVED and key in self.__struct_fields__:
            return getattr(self, key)
        if key not in self.extra:
            return default
        value = self.extra[key]
        if cast is None:
            return value
        return _convert(value, cast, self.sources.get(key, f"{key} (settings.extra)"))

    def redacted(self) -> dict[str, Any]:
        """Return every setting, ``extra`` ones included, with secrets masked.

        A value is masked when its name looks secret (contains KEY, SECRET,
        PASS, TOKEN, API, SIGNATURE or CREDENTIAL, Django's list) and the
        password in a ``scheme://user:password@host`` URL is masked anywhere.
        Use it to show settings in logs, error pages or a CLI.

        Returns:
            ``{name: value}``, declared fields first, then ``extra`` keys.
        """
        shown: dict[str, Any] = {}
        for name in self.__struct_fields__:
            if name not in _RESERVED:
                shown[name] = _redact(name, getattr(self, name))
        for name, value in self.extra.items():
            shown.setdefault(name, _redact(name, value))
        return shown

    def __repr__(self) -> str:
        # SECURITY: msgspec's repr would print SECRET_KEY and URL passwords
        # into any log line or traceback that shows the settings.
        body = ", ".join(f"{name}={value!r}" for name, value in self.redacted().items())
        return f"{type(self).__name__}({body})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        """Return the redacted settings for rich's pretty printer."""
        return list(self.redacted().items())


@overload
def load_settings(
    *,
    env_file: str | os.PathLike[str] | None = ".env",
    environ: Mapping[str, str] | None = None,
    prefix: str = "OAKLING_",
    **overrides: Any,
) -> Settings: ...


@overload
def load_settings(
    cls: type[SettingsT],
    *,
    env_file: str | os.PathLike[str] | None = ".env",
    environ: Mapping[str, str] | None = None,
    prefix: str = "OAKLING_",
    **overrides: Any,
) -> SettingsT: ...


def load_settings(
    cls: type[Settings] = Settings,
    *,
    env_file: str | os.PathLike[str] | None = ".env",
    environ: Mapping[str, str] | None = None,
    prefix: str = "OAKLING_",
    **overrides: Any,
) -> Settings:
    """Build settings from code, the environment and a ``.env`` file.

    Precedence, highest first: ``overrides`` > ``environ`` > ``env_file`` >
    the class defaults. Field ``NAME`` is read from ``{prefix}NAME`` (the
    field name upper-cased) in both the environment and the file; bare names
    are ignored. Prefixed names that match no field, and unknown
    ``overrides``, go to ``extra`` (with an empty ``prefix``, unknown
    variables are ignored instead, or ``extra`` would hold the whole
    environment). Nothing is written to ``os.environ``. See the module
    docstring for how strings convert.

    Does not call :meth:`Settings.check`: the app does that at startup.

    Args:
        cls: :class:`Settings` or a subclass of it.
        env_file: The dotenv file, relative to the working directory unless
            absolute; a missing file is skipped; None reads no file. Parsed by
            python-dotenv (its ``${VAR}`` interpolation reads the real process
            environment, not ``environ``); a key without ``=`` is ignored.
        environ: The environment to read; ``os.environ`` by default.
        prefix: The variable prefix, ``OAKLING_`` by default.
        **overrides: Settings given in code, by field name (``DEBUG=True``).

    Returns:
        An instance of ``cls``.

    Raises:
        ImproperlyConfigured: If a value does not convert to its field's
            type (``OAKLING_DEBUG (environment): expected bool, got
            'maybe'``), or a field without default is set nowhere.
        TypeError: If ``cls`` is not a Settings class, or an override is
            named ``extra`` or ``sources``.
    """
    if not (isinstance(cls, type) and issubclass(cls, Settings)):
        raise TypeError(f"cls must be Settings or a subclass of it, not {cls!r}")
    reserved = _RESERVED.intersection(overrides)
    if reserved:
        raise TypeError(f"{', '.join(sorted(reserved))} cannot be given as a setting")
    fields = {field.name: field for field in msgspec.structs.fields(cls)}
    env_names = {name.upper(): name for name in fields if name not in _RESERVED}

    # field name -> (raw value, label naming variable and source); later sources win.
    found: dict[str, tuple[Any, str]] = {}
    extra: dict[str, Any] = {}
    extra_sources: dict[str, str] = {}

    def collect(values: Mapping[str, str | None], source: str) -> None:
        for variable, value in values.items():
            if value is None or not variable.startswith(prefix):
                continue
            suffix = variable[len(prefix) :]
            if not suffix:
                continue
            name = env_names.get(suffix)
            if name is not None:
                found[name] = (value, f"{variable} ({source})")
            elif prefix:
                extra[suffix] = value
                extra_sources[suffix] = f"{variable} ({source})"

    if env_file is not None:
        path = Path(env_file)
        if path.is_file():
            # PERF: python-dotenv is imported only when a .env file exists.
            from dotenv import dotenv_values

            collect(dotenv_values(path, encoding="utf-8"), str(path.resolve()))
    collect(os.environ if environ is None else environ, "environment")
    for name, value in overrides.items():
        if name in fields:
            found[name] = (value, f"{name} (code)")
        else:
            extra[name] = value
            extra_sources[name] = f"{name} (code)"

    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name in _RESERVED:
            continue
        if name in found:
            raw, label = found[name]
            values[name] = _convert(raw, field.type, label)
        elif field.required:
            variable = f"{prefix}{name.upper()}"
            raise ImproperlyConfigured(
                f"{name} is required: set {variable} in the environment or .env, "
                f"or pass {name}=... in code"
            )
    sources = {name: label for name, (_, label) in found.items()}
    sources.update(extra_sources)
    return cls(**values, extra=extra, sources=sources)


def is_development_key(key: str | None) -> bool:
    """Return whether ``key`` is this process's generated development key."""
    return key == _DEVELOPMENT_SECRET_KEY


def _note_development_key() -> None:
    global _development_key_noted
    if not _development_key_noted:
        _development_key_noted = True
        logger.warning(
            "DEBUG is on and SECRET_KEY is not set: using a random key generated for this "
            "process. Sessions and signed values will not survive a restart; set "
            "OAKLING_SECRET_KEY to keep them."
        )


def _convert(value: Any, annotation: Any, label: str) -> Any:
    """Convert ``value`` to ``annotation``, blaming ``label`` on failure."""
    try:
        if isinstance(value, str):
            return _from_string(value, annotation)
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        return msgspec.convert(value, annotation, strict=False, dec_hook=_decode_other)
    except (msgspec.ValidationError, msgspec.DecodeError, _InvalidText) as ex:
        message = f"{label}: expected {_describe(annotation)}, got {_show(value)}"
        detail = str(ex)
        if isinstance(ex, msgspec.ValidationError):
            if " - at `$" in detail:
                # NOTE: msgspec names the failing item of a list or dict this way.
                message += f" ({detail})"
        elif isinstance(ex, msgspec.DecodeError):
            message += f" (invalid JSON: {detail})"
        raise ImproperlyConfigured(message) from ex


class _InvalidText(ValueError):
    """A string that is none of the spellings its type accepts."""


def _from_string(text: str, annotation: Any) -> Any:
    """Convert text from the environment or ``.env`` to ``annotation``."""
    base, optional = _unwrap(annotation)
    stripped = text.strip()
    if optional and not stripped:
        return None
    if base is bool:
        lowered = stripped.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _InvalidText(text)
    if base is str:
        return msgspec.convert(text, annotation)
    origin = typing.get_origin(base) or base
    data: Any
    if origin in (list, tuple, set, frozenset):
        if stripped.startswith("["):
            data = msgspec.json.decode(stripped)
        else:
            data = [item.strip() for item in stripped.split(",") if item.strip()]
    elif origin is dict or (isinstance(base, type) and issubclass(base, msgspec.Struct)):
        data = msgspec.json.decode(stripped)
    else:
        data = stripped
    return msgspec.convert(data, annotation, strict=False, dec_hook=_decode_other)


def _decode_other(annotation: Any, value: Any) -> Any:
    """Build the types msgspec leaves to a hook: ``pathlib`` paths from strings."""
    if isinstance(annotation, type) and issubclass(annotation, PurePath) and isinstance(value, str):
        return annotation(value)
    # NOTE: msgspec turns a TypeError from the hook into a ValidationError.
    raise TypeError(f"Expected `{_describe(annotation)}`, got `{type(value).__name__}`")


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """Return the type under Annotated and ``| None``, and whether None was allowed."""
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            inner, _ = _unwrap(args[0])
            return inner, optional
        return annotation, optional
    return annotation, False


def _describe(annotation: Any) -> str:
    """Name a type as a reader writes it: ``bool``, ``list[str]``, ``int >= 0``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        text = _describe(args[0])
        for meta in args[1:]:
            if isinstance(meta, msgspec.Meta):
                text += "".join(
                    f" {symbol} {getattr(meta, attr)}"
                    for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
                    if getattr(meta, attr) is not None
                )
        return text
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_describe(arg) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if annotation is type(None):
        return "None"
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(_describe(a) for a in args)}]"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(repr(member.value) for member in annotation)
    return getattr(annotation, "__name__", repr(annotation))


def _show(value: Any) -> str:
    """Repr a rejected value, shortened so an error message stays one line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _redact(name: str, value: Any) -> Any:
    if value is None or value == "":
        return value
    if _SENSITIVE_NAME.search(name):
        return _MASK
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\g<head>{_MASK}@", value)
    return value
