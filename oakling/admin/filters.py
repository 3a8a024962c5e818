"""List filters beyond one value: date ranges, and custom filters (Django's ``SimpleListFilter``).

A date or datetime column in ``list_filter`` filters with Django's parameters
``<name>__gte`` and ``<name>__lt`` (ISO dates, ``YYYY-MM-DD``; the end is
excluded) and, when the column is nullable, ``<name>__isnull`` (``1``/``0``).
The sidebar offers Django's choices (any date, today, past 7 days, this
month, this year, no date, has date) and a From/Before form that works
without JavaScript.

A custom filter is a :class:`SimpleListFilter` subclass in ``list_filter``::

    class DecadeFilter(SimpleListFilter):
        title = "decade published"
        parameter_name = "decade"

        def lookups(self, request, model_admin):
            return [("1980s", "in the eighties"), ("1990s", "in the nineties")]

        def queryset(self, request, statement):
            if self.value() == "1980s":
                return statement.where(Book.year.between(1980, 1989))
            return statement

Its parameter only takes the values ``lookups`` returns: anything else is a
400, like any other parameter the ``ModelAdmin`` does not expose.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Select

    from oakling.requests import Request

    from .options import ModelAdmin

__all__ = ["SimpleListFilter", "date_choices", "date_clauses", "parse_date_param"]


class SimpleListFilter:
    """A custom changelist filter (Django's ``admin.SimpleListFilter``).

    Attributes:
        title: The heading in the sidebar ("By <title>").
        parameter_name: The query parameter it reads.

    Subclasses define :meth:`lookups` and :meth:`queryset`.
    """

    title: str = ""
    parameter_name: str = ""

    def __init__(self, request: Request, value: str | None, model_admin: ModelAdmin) -> None:
        self.request = request
        self._value = value
        self.model_admin = model_admin

    def value(self) -> str | None:
        """Return the parameter's value (one of the lookups' values), or None."""
        return self._value

    def lookups(self, request: Request, model_admin: ModelAdmin) -> Sequence[tuple[str, str]]:
        """Return ``[(value, label), ...]``: the choices offered, and the only values taken."""
        raise NotImplementedError

    def queryset(self, request: Request, statement: Select[Any]) -> Select[Any]:
        """Return ``statement`` narrowed to ``self.value()`` (as is when it is None)."""
        raise NotImplementedError


def parse_date_param(suffix: str, raw: str) -> Any:
    """Parse one date-filter value: ``gte``/``lt`` an ISO date, ``isnull`` ``1``/``0``.

    Raises:
        ValueError: For anything else (the changelist answers 400).
    """
    if suffix == "isnull":
        if raw not in ("0", "1"):
            raise ValueError(raw)
        return raw == "1"
    # SECURITY: exactly YYYY-MM-DD; fromisoformat alone takes other shapes.
    if len(raw) != 10 or not raw.isascii():
        raise ValueError(raw)
    return dt.date.fromisoformat(raw)


def _bound(day: dt.date, is_datetime: bool, aware: bool) -> Any:
    if not is_datetime:
        return day
    moment = dt.datetime(day.year, day.month, day.day)
    return moment.replace(tzinfo=dt.UTC) if aware else moment


def date_clauses(column: Any, values: dict[str, Any], is_datetime: bool, aware: bool) -> list[Any]:
    """Return the SQL conditions of a date filter's parsed ``values`` (``{"gte": date}`` ...)."""
    clauses = []
    if "gte" in values:
        clauses.append(column >= _bound(values["gte"], is_datetime, aware))
    if "lt" in values:
        clauses.append(column < _bound(values["lt"], is_datetime, aware))
    if "isnull" in values:
        clauses.append(column.is_(None) if values["isnull"] else column.is_not(None))
    return clauses


def date_choices(nullable: bool, today: dt.date | None = None) -> list[tuple[str, dict[str, str]]]:
    """Return Django's date choices: ``[(label, {suffix: value})]``, "Any date" first."""
    today = today or dt.datetime.now(dt.UTC).date()
    tomorrow = today + dt.timedelta(days=1)
    month = today.replace(day=1)
    next_month = (month + dt.timedelta(days=32)).replace(day=1)
    year = today.replace(month=1, day=1)
    choices: list[tuple[str, dict[str, str]]] = [
        ("Any date", {}),
        ("Today", {"gte": today.isoformat(), "lt": tomorrow.isoformat()}),
        (
            "Past 7 days",
            {"gte": (today - dt.timedelta(days=6)).isoformat(), "lt": tomorrow.isoformat()},
        ),
        ("This month", {"gte": month.isoformat(), "lt": next_month.isoformat()}),
        (
            "This year",
            {"gte": year.isoformat(), "lt": year.replace(year=year.year + 1).isoformat()},
        ),
    ]
    if nullable:
        choices += [("No date", {"isnull": "1"}), ("Has date", {"isnull": "0"})]
    return choices
