"""``date_hierarchy``: drill down a changelist by year, month and day (Django's).

``date_hierarchy = "published_on"`` (a date or datetime column) adds links
above the list: the years, then a year's months, then a month's days, read
from ``<name>__year``, ``<name>__month`` and ``<name>__day`` (Django's
parameters; a month needs its year, a day its month). Each level filters
with a range (``column >= start AND column < end``), which an index on the
column serves. The year links span the filtered list's first and last dates
(two ordered one-row queries, no scan of a big table); a year's months and a
month's days are those that hold rows (one grouped query over that period).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import Date, DateTime, extract

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.orm import Session

    from .options import ModelAdmin

__all__ = ["DateHierarchy", "MAX_YEARS"]

#: At most this many year links (the newest).
MAX_YEARS = 50
_MONTHS = "January February March April May June July August September October November December"


class DateHierarchy:
    """One request's drill-down: its parsed parameters and its links.

    Raises:
        ValueError: From :meth:`parse`, for a value that is not a plain
            number in range, or a month without a year, a day without a month.
        TypeError: From the constructor, when the field is not a date or
            datetime column of the model.
    """

    def __init__(self, model_admin: ModelAdmin) -> None:
        name = str(model_admin.date_hierarchy)
        if name not in model_admin.mapper.column_attrs:
            raise TypeError(f"{type(model_admin).__name__}.date_hierarchy: no column {name!r}")
        column = model_admin.mapper.column_attrs[name].columns[0]
        sql_type = getattr(column.type, "impl", column.type)
        if not isinstance(sql_type, Date | DateTime):
            raise TypeError(
                f"{type(model_admin).__name__}.date_hierarchy: {name!r} is not a date or datetime"
            )
        self.name = name
        self.column = getattr(model_admin.model, name)
        self.is_datetime = isinstance(sql_type, DateTime)
        self.aware = bool(getattr(sql_type, "timezone", False)) or bool(
            getattr(column.type, "timezone", False)
        )
        self.params = (f"{name}__year", f"{name}__month", f"{name}__day")
        self.year: int | None = None
        self.month: int | None = None
        self.day: int | None = None

    def parse(self, params: dict[str, str]) -> None:
        """Read the year, month and day from the changelist's parameters."""
        values: list[int | None] = []
        for param, low, high in zip(self.params, (1, 1, 1), (9998, 12, 31), strict=True):
            raw = params.get(param)
            if raw is None:
                values.append(None)
                continue
            if (
                not raw.isascii()
                or not raw.isdigit()
                or len(raw) > 4
                or not low <= int(raw) <= high
            ):
                raise ValueError(f"{param}={raw[:10]!r} is not a number from {low} to {high}")
            values.append(int(raw))
        year, month, day = values
        if (month is not None and year is None) or (day is not None and month is None):
            raise ValueError(f"{self.name}: a month needs its year, a day its month")
        if day is not None and year is not None and month is not None:
            dt.date(year, month, day)  # NOTE: ValueError for 31 February
        self.year, self.month, self.day = year, month, day

    def _bound(self, day: dt.date) -> Any:
        if not self.is_datetime:
            return day
        moment = dt.datetime(day.year, day.month, day.day)
        return moment.replace(tzinfo=dt.UTC) if self.aware else moment

    def _period(self) -> tuple[dt.date, dt.date] | None:
        if self.year is None:
            return None
        if self.month is None:
            return dt.date(self.year, 1, 1), dt.date(self.year + 1, 1, 1)
        start = dt.date(self.year, self.month, self.day or 1)
        if self.day is not None:
            return start, start + dt.timedelta(days=1)
        return start, (start + dt.timedelta(days=32)).replace(day=1)

    def narrow(self, statement: Select[Any]) -> Select[Any]:
        """Return ``statement`` limited to the chosen year, month or day."""
        period = self._period()
        if period is None:
            return statement
        return statement.where(
            self.column >= self._bound(period[0]), self.column < self._bound(period[1])
        )

    def links(
        self, session: Session, filtered: Select[Any], url_with: Any
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """Return ("back" link or None, [{"label", "url", "selected"}]) for the current level.

        ``filtered`` is the changelist's statement without this hierarchy's
        own narrowing; ``url_with`` its ``url_with``.
        """
        year_p, month_p, day_p = self.params
        if self.year is None:
            keys = filtered.with_only_columns(self.column).where(self.column.is_not(None))
            first = session.scalar(keys.order_by(self.column.asc()).limit(1))
            last = session.scalar(keys.order_by(self.column.desc()).limit(1))
            if first is None or last is None:
                return None, []
            years = range(max(first.year, last.year - MAX_YEARS + 1), last.year + 1)
            return None, [
                {
                    "label": str(year),
                    "url": url_with(**{year_p: str(year), "p": None}),
                    "selected": False,
                }
                for year in years
            ]
        assert self.year is not None
        if self.month is None:
            part = "month"
            span = (dt.date(self.year, 1, 1), dt.date(self.year + 1, 1, 1))
            back = {"label": "All dates", "url": url_with(**{year_p: None, "p": None})}
        else:
            part = "day"
            span = (
                dt.date(self.year, self.month, 1),
                _month_end(dt.date(self.year, self.month, 1)),
            )
            back = {
                "label": str(self.year),
                "url": url_with(**{month_p: None, day_p: None, "p": None}),
            }
        inside = filtered.where(
            self.column >= self._bound(span[0]), self.column < self._bound(span[1])
        )
        number = extract(part, self.column)
        # PERF: one grouped query over the chosen year or month, never the whole table.
        values = session.scalars(inside.with_only_columns(number).group_by(number).order_by(None))
        found = sorted(int(value) for value in values.all() if value is not None)
        names = _MONTHS.split()
        links = []
        for value in found:
            if part == "month":
                links.append(
                    {
                        "label": f"{names[value - 1]} {self.year}",
                        "url": url_with(**{month_p: str(value), day_p: None, "p": None}),
                        "selected": self.month == value,
                    }
                )
            else:
                links.append(
                    {
                        "label": f"{names[(self.month or 1) - 1]} {value}",
                        "url": url_with(**{day_p: str(value), "p": None}),
                        "selected": self.day == value,
                    }
                )
        return back, links


def _month_end(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
