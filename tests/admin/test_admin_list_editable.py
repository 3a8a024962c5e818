"""list_editable: columns edited in the changelist, saved in one POST."""

from __future__ import annotations

import re
from typing import Any

import pytest

from oakling.admin import Admin, LogEntry
from oakling.testing import TestClient

from .conftest import BookAdmin, add_books, add_user, csrf, login
from .shop import Book

XSS = '"><script>alert(1)</script>'


class EditableBookAdmin(BookAdmin):
    list_editable = ("is_published", "pages")


def editable_site() -> Admin:
    site = Admin()
    site.register(Book, EditableBookAdmin)
    return site


def post_rows(
    client: TestClient, rows: dict[int, dict[str, str]], path: str = "/admin/shop/book?o=0"
) -> Any:
    data: dict[str, str] = {
        "csrf_token": csrf(client, path),
        "_save": "",
        "form-TOTAL_FORMS": str(len(rows)),
    }
    for index, (book_id, fields) in enumerate(rows.items()):
        data[f"form-{index}-id"] = str(book_id)
        for name, value in fields.items():
            data[f"form-{index}-{name}"] = value
    return client.post(path, data=data)


def test_edit_several_rows_in_the_list(admin_app: Any, users: Any) -> None:
    app = admin_app(editable_site())
    users(app)
    first, second = add_books(app, 2)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        page = client.get("/admin/shop/book?o=0").text
        assert 'name="form-TOTAL_FORMS" value="2"' in page
        assert re.search(r'<input[^>]*name="form-0-pages"', page)
        assert 'aria-label="Pages (Book 000)"' in page
        response = post_rows(
            client, {first: {"pages": "12", "is_published": "y"}, second: {"pages": "1"}}
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/shop/book?o=0"
    with app.extensions["db"].session() as session:
        one, two = session.get(Book, first), session.get(Book, second)
        assert (one.pages, one.is_published) == (12, True)
        assert (two.pages, two.is_published) == (1, False)
        entries = session.query(LogEntry).all()
        assert [entry.object_id for entry in entries] == [str(first)]  # the unchanged row: no entry
        assert (
            entries[0].get_change_message()
            == "Changed is published (No → Yes) and pages (“0” → “12”)."
        )


def test_an_invalid_row_saves_nothing(admin_app: Any, users: Any) -> None:
    app = admin_app(editable_site())
    users(app)
    first, second = add_books(app, 2)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        response = post_rows(client, {first: {"pages": "7"}, second: {"pages": XSS}})
        assert response.status_code == 400
        assert "Not a valid integer value" in response.text
        assert "<script>alert(1)" not in response.text
    with app.extensions["db"].session() as session:
        assert session.get(Book, first).pages == 0
        assert session.query(LogEntry).count() == 0


@pytest.mark.parametrize("forged", ["999999", "x", "", "1 OR 1=1"])
def test_forged_row_ids_are_refused(admin_app: Any, users: Any, forged: str) -> None:
    site = Admin()

    class Scoped(EditableBookAdmin):
        def get_queryset(self, request: Any) -> Any:
            return super().get_queryset(request).where(Book.title != "Book 001")

    site.register(Book, Scoped)
    app = admin_app(site)
    users(app)
    mine, theirs = add_books(app, 2)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        for row_id in (str(theirs), forged):
            path = "/admin/shop/book"
            data = {
                "csrf_token": csrf(client, path),
                "_save": "",
                "form-TOTAL_FORMS": "1",
                "form-0-id": row_id,
                "form-0-pages": "99",
            }
            assert client.post(path, data=data).status_code == 400, row_id
    with app.extensions["db"].session() as session:
        assert session.get(Book, theirs).pages == 1 and session.get(Book, mine).pages == 0


def test_list_editable_needs_change_permission(admin_app: Any, users: Any) -> None:
    app = admin_app(editable_site())
    users(app)
    (book_id,) = add_books(app, 1)
    add_user(app, "looker", is_staff=True, perms=("shop.view_book",))
    with TestClient(app, follow_redirects=False) as client:
        login(client, "looker")
        page = client.get("/admin/shop/book").text
        assert "form-TOTAL_FORMS" not in page and 'name="form-0-pages"' not in page
        assert post_rows(client, {book_id: {"pages": "5"}}, "/admin/shop/book").status_code == 403
    with app.extensions["db"].session() as session:
        assert session.get(Book, book_id).pages == 0


def test_list_editable_is_checked_at_registration() -> None:
    site = Admin()
    with pytest.raises(TypeError, match="first column"):
        site.register(Book, type("A", (BookAdmin,), {"list_editable": ("title",)}))
    with pytest.raises(TypeError, match="not in list_display"):
        site.register(Book, type("B", (BookAdmin,), {"list_editable": ("published_on",)}))
    with pytest.raises(TypeError, match="not a column"):
        site.register(Book, type("C", (BookAdmin,), {"list_editable": ("author__name",)}))
