"""Localized dates, times, numbers and currencies (Babel), in the active locale and zone.

Flask-Babel's function names; each uses the language active for the request
(:func:`~oakling.i18n.translation.get_language`, else the default) and, for
datetimes, the active zone (:func:`~oakling.i18n.timezones.get_current_timezone`).
Templates get them as filters: ``{{ task.created | datetimeformat }}``,
``{{ price | currencyformat("EUR") }}``, ``{{ task.created | timedeltaformat }}``
("3 days ago").
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any, Literal

from babel import Locale, dates, numbers

from . import timezones
from .translation import get_language

__all__ = [
    "format_currency",
    "format_date",
    "format_datetime",
    "format_decimal",
    "format_number",
    "format_percent",
    "format_scientific",
    "format_time",
    "format_timedelta",
    "get_locale",
]

Number = int | float | Decimal

_default_language = ["en"]


def set_default_language(tag: str) -> None:
    """Use ``tag`` where no language is active (the plugin sets ``LANGUAGE_CODE``)."""
    _default_language[0] = tag


@functools.lru_cache(maxsize=128)
def _locale(tag: str) -> Locale:
    return Locale.parse(tag, sep="-")


def get_locale() -> Locale:
    """Return the Babel ``Locale`` of the active language (Flask-Babel's ``get_locale``)."""
    return _locale(get_language() or _default_language[0])


def _aware(value: dt.datetime | None) -> dt.datetime:
    return timezones.localtime(value)


def format_datetime(value: dt.datetime | None = None, format: str = "medium") -> str:
    """Return ``value`` (default: now) in the active zone and locale.

    ``format`` is ``short``, ``medium``, ``long``, ``full`` or a CLDR pattern
    (``"yyyy-MM-dd HH:mm"``). A naive value is taken to be UTC.
    """
    return dates.format_datetime(_aware(value), format, locale=get_locale())


def format_date(value: dt.date | dt.datetime | None = None, format: str = "medium") -> str:
    """Return a date in the active locale (a datetime is first moved to the active zone)."""
    if value is None or isinstance(value, dt.datetime):
        value = _aware(value)
    return dates.format_date(value, format, locale=get_locale())


def format_time(value: dt.time | dt.datetime | None = None, format: str = "medium") -> str:
    """Return a time of day in the active zone and locale."""
    if value is None or isinstance(value, dt.datetime):
        value = _aware(value)
    return dates.format_time(value, format, locale=get_locale())


def format_timedelta(
    value: dt.timedelta | dt.datetime,
    granularity: Literal["year", "month", "week", "day", "hour", "minute", "second"] = "second",
    threshold: float = 0.85,
    add_direction: bool = True,
    format: Literal["narrow", "short", "medium", "long"] = "long",
) -> str:
    """Return a relative time: ``"in 3 days"``, ``"vor 2 Stunden"``.

    A datetime is measured from now (a past one reads "... ago"); a
    timedelta is positive for the future. Babel's ``format_timedelta``.
    """
    if isinstance(value, dt.datetime):
        value = _aware(value) - timezones.now()
    return dates.format_timedelta(
        value,
        granularity=granularity,
        threshold=threshold,
        add_direction=add_direction,
        format=format,
        locale=get_locale(),
    )


def format_number(value: Number) -> str:
    """Return a number with the locale's grouping: ``1.234.567`` in German."""
    return numbers.format_decimal(value, locale=get_locale())


def format_decimal(value: Number, format: str | None = None) -> str:
    """Return a decimal number in the locale, optionally by a CLDR pattern (``"#,##0.00"``)."""
    return numbers.format_decimal(value, format=format, locale=get_locale())


def format_currency(value: Number, currency: str, format: str | None = None) -> str:
    """Return an amount in ``currency`` (ISO 4217, ``"EUR"``): ``1.234,50 €`` in German."""
    return numbers.format_currency(value, currency, format=format, locale=get_locale())


def format_percent(value: Number, format: str | None = None) -> str:
    """Return a ratio as a percentage (``0.25`` → ``25 %`` in German)."""
    return numbers.format_percent(value, format=format, locale=get_locale())


def format_scientific(value: Number, format: str | None = None) -> str:
    """Return a number in scientific notation in the locale."""
    return numbers.format_scientific(value, format=format, locale=get_locale())


#: Template filter name -> function (Flask-Babel's filter names).
FILTERS: dict[str, Any] = {
    "datetimeformat": format_datetime,
    "dateformat": format_date,
    "timeformat": format_time,
    "timedeltaformat": format_timedelta,
    "numberformat": format_number,
    "decimalformat": format_decimal,
    "currencyformat": format_currency,
    "percentformat": format_percent,
    "scientificformat": format_scientific,
}
