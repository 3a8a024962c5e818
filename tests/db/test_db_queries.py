"""get_or_404 / first_or_404, page/size pagination and keyset cursors, sync and async."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from oakling.db import (
    Database,
    afirst_or_404,
    aget_or_404,
    apaginate,
    apaginate_keyset,
    first_or_404,
    get_or_404,
    paginate,
    paginate_keyset,
)
from oakling.exceptions import HTTPException

ROWS = 23


def _fill(database: Database, models: SimpleNamespace) -> list[int]:
    with database.session() as session:
        session.add_all(models.Author(name=f"author {index:02d}") for index in range(ROWS))
        session.commit()
        return list(session.scalars(select(models.Author.id).order_by(models.Author.id)))


async def _run(kind: str, database: Database, work: Any) -> Any:
    """Run ``work(session, call)`` with a sync Session or an AsyncSession.

    ``call(func, async_func, *args)`` calls the sync helper or awaits the
    async one, so the test body is the same for both.
    """
    if kind == "sync":
        with database.session() as session:

            async def call_sync(func: Any, async_func: Any, *args: Any, **kwargs: Any) -> Any:
                return func(session, *args, **kwargs)

            return await work(call_sync)
    try:
        async with database.async_session() as async_session:

            async def call_async(func: Any, async_func: Any, *args: Any, **kwargs: Any) -> Any:
                return await async_func(async_session, *args, **kwargs)

            return await work(call_async)
    finally:
        await database.dispose()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_get_and_first_or_404(database: Database, models: SimpleNamespace, kind: str) -> None:
    ids = _fill(database, models)
    author = models.Author

    async def work(call: Any) -> None:
        found = await call(get_or_404, aget_or_404, author, ids[0])
        assert found.name == "author 00"
        assert (await call(get_or_404, aget_or_404, author, str(ids[1]))).name == "author 01"
        for missing in (max(ids) + 1000, "abc"):
            with pytest.raises(HTTPException) as caught:
                await call(get_or_404, aget_or_404, author, missing)
            assert caught.value.status_code == 404
            assert caught.value.detail == f"{author.__name__} not found"
        stmt = select(author).where(author.name == "author 05")
        assert (await call(first_or_404, afirst_or_404, stmt)).name == "author 05"
        with pytest.raises(HTTPException) as caught:
            await call(first_or_404, afirst_or_404, select(author).where(author.name == "nobody"))
        assert caught.value.status_code == 404

    await _run(kind, database, work)


@pytest.mark.anyio
async def test_paginate_totals(database: Database, models: SimpleNamespace, kind: str) -> None:
    ids = _fill(database, models)
    stmt = select(models.Author).order_by(models.Author.id)

    async def work(call: Any) -> None:
        seen: list[int] = []
        for number in (1, 2, 3):
            page = await call(paginate, apaginate, stmt, number, 10)
            assert (page.total, page.pages, page.size, page.page) == (ROWS, 3, 10, number)
            assert page.has_next == (number < 3)
            assert page.has_prev == (number > 1)
            seen += [item.id for item in page.items]
        assert seen == ids
        capped = await call(paginate, apaginate, stmt, 1, 10_000)
        assert capped.size == 100 and len(capped.items) == ROWS
        for bad_page, bad_size in ((0, 10), (1, 0), (-3, 5)):
            with pytest.raises(HTTPException) as caught:
                await call(paginate, apaginate, stmt, bad_page, bad_size)
            assert caught.value.status_code == 400
        with pytest.raises(HTTPException) as caught:
            await call(paginate, apaginate, stmt, 4, 10)
        assert caught.value.status_code == 404
        empty = await call(paginate, apaginate, stmt.where(models.Author.id < 0), 1, 10)
        assert (empty.items, empty.total, empty.pages) == ([], 0, 0)

    await _run(kind, database, work)


@pytest.mark.anyio
@pytest.mark.parametrize("descending", [False, True])
async def test_keyset_walks_every_row_once(
    database: Database, models: SimpleNamespace, kind: str, descending: bool
) -> None:
    ids = _fill(database, models)
    column = models.Author.id

    async def work(call: Any) -> None:
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            page = await call(
                paginate_keyset,
                apaginate_keyset,
                select(models.Author),
                column,
                cursor,
                5,
                descending=descending,
            )
            pages += 1
            seen += [item.id for item in page.items]
            cursor = page.next
            if cursor is None:
                break
        assert seen == (sorted(ids, reverse=True) if descending else ids)
        assert pages == 5  # 23 rows in pages of 5: the last page has 3 and no cursor
        forged = base64.urlsafe_b64encode(b'"not a number"').decode()
        for bad in ("%%%", "bm90IGpzb24", forged):
            with pytest.raises(HTTPException) as caught:
                await call(paginate_keyset, apaginate_keyset, select(models.Author), column, bad, 5)
            assert caught.value.status_code == 400

    await _run(kind, database, work)
