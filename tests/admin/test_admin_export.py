"""CSV export of the filtered list: permissions, filters, and CSV injection."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from oakling.testing import TestClient

from .conftest import add_books, add_user, login
from .shop import Book


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_export_has_the_filtered_searched_sorted_rows(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    add_books(app, 3, author_name="Ann")
    add_books(app, 2, author_name="Bob")
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        page = client.get("/admin/shop/book?q=bob&o=0").text
        assert 'href="/admin/shop/book/export?q=bob&amp;o=0"' in page
        response = client.get("/admin/shop/book/export?q=bob&o=0")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"] == 'attachment; filename="book.csv"'
        assert "no-store" in response.headers["cache-control"]
        rows = read_csv(response.text)
        assert rows[0] == ["Title", "Author name", "Is published", "Genre", "Pages", "Link"]
        assert [row[0] for row in rows[1:]] == ["Book 000", "Book 001"]
        assert rows[1][1:5] == ["Bob", "No", "novel", "0"]
        # the query string is checked as on the list: no hidden lookups
        assert client.get("/admin/shop/book/export?author__secret_note=x").status_code == 400


@pytest.mark.parametrize(
    "payload",
    ['=HYPERLINK("http://evil","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1"],
)
def test_csv_injection_is_neutralised(admin_app: Any, users: Any, payload: str) -> None:
    app = admin_app()
    users(app)
    (book_id,) = add_books(app, 1)
    with app.extensions["db"].session() as session:
        book = session.get(Book, book_id)
        book.title = payload
        book.pages = -5
        session.commit()
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        rows = read_csv(client.get("/admin/shop/book/export").text)
        assert rows[1][0] == "'" + payload
        assert rows[1][4] == "-5"  # a number stays a number


def test_export_needs_permission(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    add_books(app, 1)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "staff")  # staff without any permission
        assert client.get("/admin/shop/book/export").status_code == 403
    with TestClient(app, follow_redirects=False) as client:
        login(client, "viewer")  # may view books: may export them
        assert client.get("/admin/shop/book/export").status_code == 200
    with TestClient(app, follow_redirects=False) as client:
        response = client.get("/admin/shop/book/export")  # anonymous
        assert response.status_code == 303 and "/auth/login" in response.headers["location"]


def test_export_can_be_turned_off_and_is_bounded(admin_app: Any, users: Any) -> None:
    from oakling.admin import Admin

    from .conftest import BookAdmin

    site = Admin()
    site.register(Book, type("Small", (BookAdmin,), {"list_max_export": 2}))
    app = admin_app(site)
    users(app)
    add_books(app, 3)
    add_user(app, "other", is_staff=True, is_superuser=True)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        response = client.get("/admin/shop/book/export")
        assert response.status_code == 400 and "more than 2 rows" in response.text
        assert client.get("/admin/shop/book/export?q=002").status_code == 200

    site = Admin()
    site.register(Book, type("NoExport", (BookAdmin,), {"list_export": False}))
    app = admin_app(site)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        assert "Export CSV" not in client.get("/admin/shop/book").text
        assert client.get("/admin/shop/book/export").status_code == 403
