"""Keyset ("seek") next-page links: where the order allows them, else OFFSET."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from sqlalchemy import event

from oakling.admin import Admin
from oakling.testing import TestClient

from .conftest import add_books, login
from .shop import Author, Book
from .test_admin_security import OwnBooks

BACKENDS = pytest.mark.parametrize("admin_url", ["sqlite", "postgresql", "mariadb"], indirect=True)
ROW = re.compile(r'<th scope="row"><a href="[^"]*/(\d+)/change">')


def _next(page: str) -> str | None:
    match = re.search(r'<a href="(\?[^"]*)" rel="next">', page)
    return unescape(match.group(1)) if match else None


def _ids(page: str) -> list[int]:
    return [int(found) for found in ROW.findall(page)]


def _walk(client: TestClient, start: str) -> tuple[list[int], list[str]]:
    """Follow next links from ``start``; return the ids in order and the links."""
    seen: list[int] = []
    links: list[str] = []
    url: str | None = start
    while url is not None:
        page = client.get("/admin/shop/book" + url)
        assert page.status_code == 200, page.text
        seen.extend(_ids(page.text))
        url = _next(page.text)
        if url is not None:
            links.append(url)
    return seen, links


def _statements(app: Any, client: TestClient, path: str) -> tuple[Any, list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []
    engine = app.extensions["db"].async_engine().sync_engine

    def record(*args: Any) -> None:
        seen.append((str(args[2]), args[3]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return response, seen


@BACKENDS
def test_next_links_seek_by_the_last_key_and_never_skip_or_repeat(
    admin_app: Any, users: Any
) -> None:
    app = admin_app()
    users(app)
    ids = add_books(app, 13)
    with app.extensions["db"].session() as session:
        for book in session.query(Book):  # duplicate titles: the id breaks the ties
            book.title = f"Same {book.id % 3}"
            book.is_published = book.id % 2 == 0
        session.commit()
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        newest_first, links = _walk(client, "")
        assert newest_first == sorted(ids, reverse=True)
        assert all("k=" in link for link in links)
        # title ascending, then is_published descending, then the id (descending)
        by_title, links = _walk(client, "?o=0.-2")
        with app.extensions["db"].session() as session:
            books = session.query(Book).all()
        expected = [
            book.id for book in sorted(books, key=lambda b: (b.title, -int(b.is_published), -b.id))
        ]
        assert by_title == expected
        assert all("k=" in link for link in links)
        response, statements = _statements(app, client, "/admin/shop/book" + links[1])
        assert response.status_code == 200
        rows = [
            (sql, params)
            for sql, params in statements
            if "FROM shop_book" in sql and "ORDER BY" in sql and "count" not in sql
        ]
        assert len(rows) == 1 and "shop_book.title >=" in rows[0][0], rows
        sql, params = rows[0]
        # NOTE: SQLite always renders "LIMIT ? OFFSET ?"; the offset is then 0.
        assert "OFFSET" not in sql.upper() or list(params)[-1] == 0, rows


@BACKENDS
def test_an_order_on_a_nullable_or_related_column_pages_by_offset(
    admin_app: Any, users: Any
) -> None:
    app = admin_app()
    users(app)
    ids = add_books(app, 12)
    with app.extensions["db"].session() as session:
        for book in session.query(Book):
            book.pages = None if book.id % 4 == 0 else book.id % 3
        session.commit()
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        for order in ("?o=4", "?o=-4.0", "?o=1"):  # pages is nullable; author__name is joined
            seen, links = _walk(client, order)
            assert sorted(seen) == sorted(ids) and len(seen) == len(ids), order
            assert links and all("k=" not in link for link in links), order


def test_sorting_or_filtering_drops_the_keyset_position(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    add_books(app, 12)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        first = client.get("/admin/shop/book").text
        second = client.get("/admin/shop/book" + (_next(first) or "")).text
        assert "k=" in (_next(second) or "")
        links = [unescape(link) for link in re.findall(r'href="(\?[^"]*)"', second)]
        others = [link for link in links if link != _next(second)]
        assert "?p=1" in others and all("k=" not in link for link in others)
        headers = re.findall(r'<th scope="col"[^>]*>\s*<a href="([^"]+)"', second)
        assert headers and all("k=" not in unescape(link) for link in headers)


@pytest.mark.parametrize("raw", ["x", "1 OR 1=1", "-1", "9" * 30, "1&k=2"])
def test_a_malformed_key_is_a_400(admin_app: Any, users: Any, raw: str) -> None:
    app = admin_app()
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        response = client.get("/admin/shop/book", params={"p": "2", "k": raw})
        assert response.status_code == 400


def test_a_forged_key_outside_the_queryset_falls_back_to_offset(admin_app: Any, users: Any) -> None:
    from oakling.auth import Permission, User

    site = Admin()
    site.register(Book, OwnBooks)
    site.register(Author)
    app = admin_app(site)
    ids = users(app)
    with app.extensions["db"].session() as session:
        staff = session.get(User, ids["staff"])
        staff.user_permissions.append(
            session.query(Permission).filter_by(codename="shop.view_book").one()
        )
        session.commit()
    own = add_books(app, 7, author_name="staff")
    others = add_books(app, 7, author_name="root")  # newer ids than the staff's books
    with TestClient(app, follow_redirects=False) as client:
        login(client, "staff")
        by_offset = _ids(client.get("/admin/shop/book?p=2").text)
        assert by_offset == sorted(own, reverse=True)[5:]
        walked, links = _walk(client, "")  # get_queryset joins the author: keyset still works
        assert walked == sorted(own, reverse=True) and links and "k=" in links[0]
        # SECURITY: the position of a row the user may not see is not used:
        # the page is the same as without k, so k tells nothing about it.
        for forged in (others[0], others[-1], 999_999):
            page = client.get(f"/admin/shop/book?p=2&k={forged}")
            assert page.status_code == 200
            assert _ids(page.text) == by_offset, forged
