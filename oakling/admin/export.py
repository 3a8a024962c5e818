"""CSV export of a changelist: the filtered, searched and sorted rows, as text.

The link on a changelist carries its query string (``q``, the filters, ``o``)
to ``/<app>/<model>/export``; the file has the ``list_display`` columns. It
needs ``has_export_permission`` (by default the view permission: whoever may
page through the list may download it).

SECURITY: a cell that a spreadsheet would run as a formula (starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return: OWASP's "CSV
injection") is prefixed with ``'``, so it is shown as text. Numbers are left
as they are.
"""

from __future__ import annotations

import csv
import decimal
import io
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import joinedload

from oakling.responses import Response

if TYPE_CHECKING:
    from .changelist import ChangeList

__all__ = ["csv_cell", "csv_response"]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """Return ``value`` as one CSV cell's text, neutralised against formulas.

    None is empty, booleans "Yes"/"No", datetimes ISO 8601 in UTC, enums
    their value; numbers as they are; any other text starting with
    ``= + - @``, a tab or a carriage return gets a leading ``'``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float | decimal.Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return str(value.isoformat(sep=" ", timespec="seconds"))
    if isinstance(value, date | time):
        return str(value.isoformat())
    text = str(value.value) if hasattr(value, "name") and hasattr(value, "value") else str(value)
    if text.startswith(_FORMULA_STARTS):
        # SECURITY: shown as text by Excel, LibreOffice and Google Sheets.
        return "'" + text
    return text


def csv_response(changelist: ChangeList, max_rows: int) -> Response | None:
    """Return the changelist's rows (at most ``max_rows``) as a CSV download.

    Returns:
        The response, or None when the list holds more than ``max_rows``
        rows (the view answers 400: filter the list first).
    """
    model_admin = changelist.model_admin
    statement = changelist.ordering(changelist.filtered_statement())
    relations = sorted({column.relation for column in changelist.columns if column.relation})
    options = [joinedload(getattr(model_admin.model, name)) for name in relations]
    statement = statement.options(*options).limit(max_rows + 1)
    rows = list(changelist.session.scalars(statement).unique().all())
    if len(rows) > max_rows:
        return None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([csv_cell(column.label) for column in changelist.columns])
    for obj in rows:
        writer.writerow([csv_cell(column.getter(obj)) for column in changelist.columns])
    filename = f"{model_admin.model_name}.csv"
    return Response(
        buffer.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )
