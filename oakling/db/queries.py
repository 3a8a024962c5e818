"""Query helpers users expect: get-or-404, page/size pagination, keyset cursors.

Each helper has a sync form taking a :class:`~sqlalchemy.orm.Session` and an
async one (``a`` prefix) taking an :class:`~sqlalchemy.ext.asyncio.AsyncSession`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Select, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from oakling.exceptions import HTTPException

__all__ = [
    "MAX_PAGE_SIZE",
    "KeysetPage",
    "Page",
    "afirst_or_404",
    "aget_or_404",
    "apaginate",
    "apaginate_keyset",
    "encode_cursor",
    "first_or_404",
    "get_or_404",
    "paginate",
    "paginate_keyset",
]

_T = TypeVar("_T")

#: The largest page a client can ask for; larger sizes are capped to it.
MAX_PAGE_SIZE = 100


@dataclasses.dataclass(frozen=True)
class Page(Generic[_T]):
    """One page of results with the totals a page navigation needs.

    Attributes:
        items: The rows of this page.
        total: Rows matching the query, on every page.
        page: This page's number, from 1.
        size: The page size asked for (after capping).
        pages: The number of pages (0 when nothing matches).
    """

    items: list[_T]
    total: int
    page: int
    size: int
    pages: int

    @property
    def has_next(self) -> bool:
        """Whether a page follows this one."""
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        """Whether a page precedes this one."""
        return self.page > 1


@dataclasses.dataclass(frozen=True)
class KeysetPage(Generic[_T]):
    """One page of a keyset (cursor) pagination.

    Attributes:
        items: The rows of this page, in key order.
        next: The opaque cursor to pass as ``after`` for the next page, or
            None on the last page.
    """

    items: list[_T]
    next: str | None


def _not_found(model: Any) -> HTTPException:
    return HTTPException(404, f"{getattr(model, '__name__', 'Object')} not found")


def _coerce_ident(model: Any, ident: Any) -> Any:
    """Convert ``ident`` to the primary key's Python type, or None if it cannot be."""
    columns = inspect(model).primary_key
    if len(columns) != 1 or isinstance(ident, (tuple, dict)):
        return ident
    try:
        python_type = columns[0].type.python_type
    except NotImplementedError:
        return ident
    if isinstance(ident, python_type):
        return ident
    try:
        return msgspec.convert(ident, python_type, strict=False)
    except (msgspec.ValidationError, TypeError):
        return None


def get_or_404(session: Session, model: type[_T], ident: Any) -> _T:
    """Return the ``model`` row with primary key ``ident`` (Flask-SQLAlchemy's).

    Raises:
        HTTPException: 404 when no row has that key, or ``ident`` cannot be
            a key of that type (``"abc"`` for an integer key).
    """
    key = _coerce_ident(model, ident)
    found = None if key is None else session.get(model, key)
    if found is None:
        raise _not_found(model)
    return found


async def aget_or_404(session: AsyncSession, model: type[_T], ident: Any) -> _T:
    """Return the ``model`` row with primary key ``ident`` (async :func:`get_or_404`).

    Raises:
        HTTPException: 404 when no row has that key.
    """
    key = _coerce_ident(model, ident)
    found = None if key is None else await session.get(model, key)
    if found is None:
        raise _not_found(model)
    return found


def _entity_name(stmt: Select[Any]) -> str:
    descriptions = stmt.column_descriptions
    entity = descriptions[0].get("entity") if descriptions else None
    return getattr(entity, "__name__", "Object")


def first_or_404(session: Session, stmt: Select[Any]) -> Any:
    """Return the first row's first column of ``stmt`` (an entity for ``select(Model)``).

    Raises:
        HTTPException: 404 when ``stmt`` finds nothing.
    """
    found = session.scalars(stmt.limit(1)).first()
    if found is None:
        raise HTTPException(404, f"{_entity_name(stmt)} not found")
    return found


async def afirst_or_404(session: AsyncSession, stmt: Select[Any]) -> Any:
    """Return the first result of ``stmt`` (async :func:`first_or_404`).

    Raises:
        HTTPException: 404 when ``stmt`` finds nothing.
    """
    found = (await session.scalars(stmt.limit(1))).first()
    if found is None:
        raise HTTPException(404, f"{_entity_name(stmt)} not found")
    return found


def _check_page(page: int, size: int, max_size: int) -> int:
    if page < 1:
        raise HTTPException(400, "page must be 1 or more")
    if size < 1:
        raise HTTPException(400, "size must be 1 or more")
    return min(size, max_size)


def _count_stmt(stmt: Select[Any]) -> Select[int]:
    return select(func.count()).select_from(stmt.order_by(None).subquery())


def _make_page(items: Sequence[Any], total: int, page: int, size: int) -> Page[Any]:
    pages = math.ceil(total / size) if total else 0
    if page > 1 and page > pages:
        # NOTE: Flask-SQLAlchemy's error_out: a page past the end is a 404.
        raise HTTPException(404, f"page {page} does not exist (there are {pages})")
    return Page(list(items), total, page, size, pages)


def paginate(
    session: Session,
    stmt: Select[Any],
    page: int = 1,
    size: int = 20,
    *,
    max_size: int = MAX_PAGE_SIZE,
) -> Page[Any]:
    """Return page ``page`` (from 1) of ``size`` results of ``stmt`` with the total.

    Two queries: ``COUNT(*)`` over ``stmt``, then the page with LIMIT/OFFSET.
    ``stmt`` should be ordered, or pages may overlap. Items are each row's
    first column (model instances for ``select(Model)``).

    Raises:
        HTTPException: 400 for ``page`` or ``size`` below 1 (``size`` above
            ``max_size`` is capped); 404 for a page past the last one.
    """
    size = _check_page(page, size, max_size)
    total = session.scalar(_count_stmt(stmt)) or 0
    items = session.scalars(stmt.limit(size).offset((page - 1) * size)).all()
    return _make_page(items, total, page, size)


async def apaginate(
    session: AsyncSession,
    stmt: Select[Any],
    page: int = 1,
    size: int = 20,
    *,
    max_size: int = MAX_PAGE_SIZE,
) -> Page[Any]:
    """Return one page of ``stmt`` with the total (async :func:`paginate`).

    Raises:
        HTTPException: 400 for ``page`` or ``size`` below 1; 404 past the end.
    """
    size = _check_page(page, size, max_size)
    total = await session.scalar(_count_stmt(stmt)) or 0
    items = (await session.scalars(stmt.limit(size).offset((page - 1) * size))).all()
    return _make_page(items, total, page, size)


def encode_cursor(value: Any) -> str:
    """Return the opaque cursor for key ``value`` (URL-safe base64 of its JSON)."""
    return base64.urlsafe_b64encode(msgspec.json.encode(value)).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str, column: Any) -> Any:
    try:
        raw = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError) as ex:
        raise HTTPException(400, "Invalid cursor") from ex
    try:
        python_type = column.type.python_type
    except (AttributeError, NotImplementedError):
        return raw
    try:
        return msgspec.convert(raw, python_type, strict=False)
    except (msgspec.ValidationError, TypeError) as ex:
        raise HTTPException(400, "Invalid cursor") from ex


def _keyset_stmt(
    stmt: Select[Any], column: Any, after: str | None, size: int, descending: bool
) -> Select[Any]:
    if after is not None:
        key = _decode_cursor(after, column)
        stmt = stmt.where(column < key if descending else column > key)
    order = column.desc() if descending else column.asc()
    return stmt.order_by(None).order_by(order).limit(size + 1)


def _keyset_page(rows: Sequence[Any], column: Any, size: int) -> KeysetPage[Any]:
    items = list(rows[:size])
    if len(rows) <= size or not items:
        return KeysetPage(items, None)
    last = items[-1]
    key = getattr(last, column.key) if hasattr(last, column.key) else last
    return KeysetPage(items, encode_cursor(key))


def paginate_keyset(
    session: Session,
    stmt: Select[Any],
    order_by: Any,
    after: str | None = None,
    size: int = 20,
    *,
    descending: bool = False,
    max_size: int = MAX_PAGE_SIZE,
) -> KeysetPage[Any]:
    """Return the ``size`` results of ``stmt`` that follow cursor ``after``.

    Keyset ("seek") pagination: ``WHERE key > last_key ORDER BY key LIMIT
    size``, so deep pages cost as little as the first and rows inserted
    meanwhile shift nothing. ``order_by`` must be a unique, non-null column
    (the primary key, or a unique timestamp); it replaces ``stmt``'s order.

    Args:
        session: The session.
        stmt: The query, e.g. ``select(Task)``.
        order_by: The key column, e.g. ``Task.id``.
        after: The ``next`` cursor of the previous page; None for the first.
        size: Items per page, capped to ``max_size``.
        descending: Walk from the largest key down.
        max_size: The largest size allowed.

    Raises:
        HTTPException: 400 for a size below 1 or a cursor this function
            did not make.
    """
    size = _check_page(1, size, max_size)
    rows = session.scalars(_keyset_stmt(stmt, order_by, after, size, descending)).all()
    return _keyset_page(rows, order_by, size)


async def apaginate_keyset(
    session: AsyncSession,
    stmt: Select[Any],
    order_by: Any,
    after: str | None = None,
    size: int = 20,
    *,
    descending: bool = False,
    max_size: int = MAX_PAGE_SIZE,
) -> KeysetPage[Any]:
    """Return the results following cursor ``after`` (async :func:`paginate_keyset`).

    Raises:
        HTTPException: 400 for a size below 1 or an invalid cursor.
    """
    size = _check_page(1, size, max_size)
    rows = (await session.scalars(_keyset_stmt(stmt, order_by, after, size, descending))).all()
    return _keyset_page(rows, order_by, size)
