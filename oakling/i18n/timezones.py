"""Time zones: store aware UTC datetimes, show them in the active zone.

Django's ``django.utils.timezone`` names: :func:`now` returns an aware
datetime in UTC (what to store), :func:`localtime` converts one into the
zone active in the current context, which the :class:`~oakling.i18n.I18n`
middleware sets per request from the user's setting, a cookie, or
``TIME_ZONE``. Zones are :mod:`zoneinfo` ones (IANA names such as
``"Europe/Berlin"``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import translation

__all__ = [
    "activate_timezone",
    "deactivate_timezone",
    "get_current_timezone",
    "get_current_timezone_name",
    "get_timezone",
    "localtime",
    "make_aware",
    "now",
    "override_timezone",
]

UTC = dt.UTC

# NOTE: IANA names are ASCII letters, digits, "_", "-", "+" and "/" parts;
# anything else (a path, "..") is refused before zoneinfo looks at the disk.
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]{0,30}(?:/[A-Za-z0-9_+\-]{1,30}){0,2}\Z")


class _ActiveZone:
    __slots__ = ("_resolve", "_zone")

    def __init__(self, zone: dt.tzinfo | None, resolve: Callable[[], dt.tzinfo] | None) -> None:
        self._zone = zone
        self._resolve = resolve

    @property
    def zone(self) -> dt.tzinfo:
        zone = self._zone
        if zone is None:
            assert self._resolve is not None
            zone = self._zone = self._resolve()
        return zone


#: The scope key of a request's zone, chosen on first use.
_SCOPE_KEY = "oakling.i18n.zone"
_active: ContextVar[_ActiveZone | None] = ContextVar("oakling.i18n.timezone", default=None)
_default: list[dt.tzinfo] = [UTC]


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> dt.tzinfo:
    return ZoneInfo(name)


def get_timezone(name: str) -> dt.tzinfo | None:
    """Return the zone named ``name`` (``"Europe/Berlin"``, ``"UTC"``), or None if unknown."""
    if not _ZONE_NAME.match(name):
        return None
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def set_default_timezone(zone: dt.tzinfo) -> None:
    """Make ``zone`` the zone used where none is active (the plugin sets ``TIME_ZONE``)."""
    _default[0] = zone


def get_current_timezone() -> dt.tzinfo:
    """Return the active zone, else the request's, else the default (``TIME_ZONE``, UTC)."""
    active = _active.get()
    if active is not None:
        return active.zone
    # NOTE: the middleware activates one object for language and zone.
    request = translation._current()
    if request is not None:
        zone = request.zone()
        if zone is not None:
            return zone  # type: ignore[no-any-return]
    scope = translation._request_scope()
    if scope is not None:
        # NOTE: the request's zone, chosen on first use and kept in its scope.
        zone = scope.get(_SCOPE_KEY)
        if zone is None:
            app = scope.get("app")
            i18n = app.extensions.get("i18n") if app is not None else None
            if i18n is not None:
                zone = scope[_SCOPE_KEY] = i18n.select_timezone(scope)
        if zone is not None:
            return zone  # type: ignore[no-any-return]
    return _default[0]


def get_current_timezone_name() -> str:
    """Return the active zone's IANA name (``"Europe/Berlin"``)."""
    zone = get_current_timezone()
    return getattr(zone, "key", None) or str(zone)


def activate_timezone(zone: dt.tzinfo | str) -> Token[_ActiveZone | None]:
    """Make ``zone`` active in the current context (Django's ``timezone.activate``).

    Raises:
        ValueError: If ``zone`` is a name zoneinfo does not know.
    """
    if isinstance(zone, str):
        found = get_timezone(zone)
        if found is None:
            raise ValueError(f"unknown time zone {zone!r}")
        zone = found
    return _active.set(_ActiveZone(zone, None))


def deactivate_timezone(token: Token[_ActiveZone | None] | None = None) -> None:
    """Restore the zone before ``token``'s activation, or the default one."""
    if token is None:
        _active.set(None)
    else:
        _active.reset(token)


@contextmanager
def override_timezone(zone: dt.tzinfo | str) -> Iterator[None]:
    """Run the block with ``zone`` active (Django's ``timezone.override``)."""
    token = activate_timezone(zone)
    try:
        yield
    finally:
        _active.reset(token)


def now() -> dt.datetime:
    """Return the current time as an aware datetime in UTC (what to store)."""
    return dt.datetime.now(UTC)


def make_aware(value: dt.datetime, zone: dt.tzinfo | None = None) -> dt.datetime:
    """Attach ``zone`` (default: the active one) to a naive datetime.

    Raises:
        ValueError: If ``value`` is already aware.
    """
    if value.tzinfo is not None and value.utcoffset() is not None:
        raise ValueError("make_aware expects a naive datetime")
    return value.replace(tzinfo=zone or get_current_timezone())


def localtime(value: dt.datetime | None = None, zone: dt.tzinfo | None = None) -> dt.datetime:
    """Return aware ``value`` (default: now) in ``zone`` (default: the active one).

    A naive ``value`` is taken to be UTC, which is how SQLite and MySQL hand
    back the aware UTC datetimes stored in them.
    """
    if value is None:
        value = now()
    elif value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone or get_current_timezone())
