"""Inlines and fieldsets: children edited on the parent's page, in one transaction."""

from __future__ import annotations

import re
from typing import Any

import pytest

from oakling.admin import Admin, LogEntry, ModelAdmin, StackedInline, TabularInline
from oakling.testing import TestClient

from .conftest import BookAdmin, add_user, csrf, login
from .shop import Author, Book

BACKENDS = pytest.mark.parametrize("admin_url", ["sqlite", "postgresql", "mariadb"], indirect=True)
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class BookInline(TabularInline):
    model = Book
    fields = ("title", "pages", "is_published")
    extra = 2


class BookStacked(StackedInline):
    model = Book
    fields = ("title", "pages")
    extra = 1


class AuthorWithBooks(ModelAdmin):
    list_display = ("name", "email")
    search_fields = ("name",)
    inlines = (BookInline,)
    fieldsets = (
        (None, {"fields": ("name",)}),
        ("Contact", {"fields": (("email", "secret_note"),), "description": "How to reach them"}),
    )


def inline_site(inline: type[Any] = BookInline) -> Admin:
    site = Admin()
    site.register(Book, BookAdmin)
    admin_class = type("AuthorAdmin", (AuthorWithBooks,), {"inlines": (inline,)})
    site.register(Author, admin_class)
    return site


def make_author(app: Any, name: str = "Ann", books: tuple[str, ...] = ()) -> tuple[int, list[int]]:
    with app.extensions["db"].session() as session:
        author = Author(name=name)
        session.add(author)
        session.flush()
        made = [Book(title=title, author_id=author.id) for title in books]
        session.add_all(made)
        session.commit()
        return author.id, [book.id for book in made]


def rows(page: str) -> int:
    match = re.search(r'name="book_set-TOTAL_FORMS" value="(\d+)"', page)
    assert match, page
    return int(match.group(1))


def post_form(client: TestClient, path: str, fields: dict[str, str]) -> Any:
    data = {"csrf_token": csrf(client, path), "name": "Ann", "email": "", "secret_note": ""}
    data.update(fields)
    return client.post(path, data=data)


@BACKENDS
def test_add_change_and_delete_children_with_the_parent(admin_app: Any, users: Any) -> None:
    app = admin_app(inline_site())
    users(app)
    author_id, (keep, drop) = make_author(app, books=("Keep", "Drop"))
    path = f"/admin/shop/author/{author_id}/change"
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        page = client.get(path)
        assert page.status_code == 200
        assert rows(page.text) == 4  # two children and two blank rows
        assert 'value="Keep"' in page.text and "<legend>Contact</legend>" in page.text
        assert "How to reach them" in page.text
        response = post_form(
            client,
            path,
            {
                "name": "Ann B",
                "book_set-TOTAL_FORMS": "4",
                "book_set-0-id": str(keep),
                "book_set-0-title": "Kept",
                "book_set-0-pages": "12",
                "book_set-1-id": str(drop),
                "book_set-1-title": "Drop",
                "book_set-1-DELETE": "on",
                "book_set-2-title": "New one",
                "book_set-2-pages": "",
                "book_set-3-title": "",  # a blank extra row adds nothing
            },
        )
        assert response.status_code == 303, response.text
    with app.extensions["db"].session() as session:
        books = {book.title: book for book in session.query(Book).all()}
        assert set(books) == {"Kept", "New one"}
        assert books["Kept"].pages == 12 and books["New one"].author_id == author_id
        assert session.get(Author, author_id).name == "Ann B"
        entries = session.query(LogEntry).filter_by(object_id=str(author_id)).all()
        assert len(entries) == 1
        message = entries[0].get_change_message()
        assert "Changed name (“Ann” → “Ann B”)." in message
        assert (
            "Changed title (“Keep” → “Kept”) and pages (empty → “12”) for book “Kept”." in message
        )
        assert "Deleted book “Drop”." in message and "Added book “New one”." in message


@BACKENDS
def test_an_invalid_child_saves_nothing(admin_app: Any, users: Any) -> None:
    app = admin_app(inline_site())
    users(app)
    author_id, (keep,) = make_author(app, books=("Keep",))
    path = f"/admin/shop/author/{author_id}/change"
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        response = post_form(
            client,
            path,
            {
                "name": "Renamed",
                "book_set-TOTAL_FORMS": "2",
                "book_set-0-id": str(keep),
                "book_set-0-title": "x" * 201,  # over String(200)
                "book_set-1-title": "Added",
            },
        )
        assert response.status_code == 400
        assert "cannot be longer than 200 characters" in response.text
    with app.extensions["db"].session() as session:
        assert [book.title for book in session.query(Book).all()] == ["Keep"]
        assert session.get(Author, author_id).name == "Ann"
        assert session.query(LogEntry).count() == 0


def test_add_page_adds_the_parent_and_its_children(admin_app: Any, users: Any) -> None:
    app = admin_app(inline_site(BookStacked))
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        page = client.get("/admin/shop/author/add")
        assert rows(page.text) == 1 and "New book" in page.text
        response = post_form(
            client,
            "/admin/shop/author/add",
            {"name": "Cleo", "book_set-TOTAL_FORMS": "1", "book_set-0-title": "First"},
        )
        assert response.status_code == 303, response.text
    with app.extensions["db"].session() as session:
        author = session.query(Author).filter_by(name="Cleo").one()
        assert [book.title for book in session.query(Book).filter_by(author_id=author.id)] == [
            "First"
        ]
        entry = session.query(LogEntry).one()
        assert entry.get_change_message() == "Added. Added book “First”."


def test_forged_inline_id_of_another_parents_child_is_refused(admin_app: Any, users: Any) -> None:
    app = admin_app(inline_site())
    users(app)
    author_id, _ = make_author(app, "Ann")
    _, (theirs,) = make_author(app, "Bob", books=("Bob's book",))
    path = f"/admin/shop/author/{author_id}/change"
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        for forged in (str(theirs), "999999", "1 OR 1=1", "-1"):
            response = post_form(
                client,
                path,
                {
                    "book_set-TOTAL_FORMS": "1",
                    "book_set-0-id": forged,
                    "book_set-0-title": "Stolen",
                    "book_set-0-DELETE": "on",
                },
            )
            assert response.status_code == 400, forged
            assert "does not belong to this object" in response.text
    with app.extensions["db"].session() as session:
        book = session.get(Book, theirs)
        assert book is not None and book.title == "Bob's book" and book.author.name == "Bob"
        assert session.query(LogEntry).count() == 0


def test_a_post_without_the_inline_rows_leaves_the_children(admin_app: Any, users: Any) -> None:
    app = admin_app(inline_site())
    users(app)
    author_id, _ = make_author(app, books=("Keep",))
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        response = post_form(client, f"/admin/shop/author/{author_id}/change", {"name": "Ann C"})
        assert response.status_code == 303
    with app.extensions["db"].session() as session:
        assert [book.title for book in session.query(Book).all()] == ["Keep"]
        assert session.get(Author, author_id).name == "Ann C"


@pytest.mark.parametrize("total", ["x", "-1", "1001", "99999999999", " 1"])
def test_malformed_total_forms_is_a_400(admin_app: Any, users: Any, total: str) -> None:
    app = admin_app(inline_site())
    users(app)
    author_id, _ = make_author(app)
    path = f"/admin/shop/author/{author_id}/change"
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        response = post_form(client, path, {"book_set-TOTAL_FORMS": total})
        assert response.status_code == 400
        assert "TOTAL_FORMS is not a number" in response.text or "at most 1000" in response.text


def test_xss_in_inline_rows_is_escaped(admin_app: Any, users: Any) -> None:
    app = admin_app(inline_site())
    users(app)
    author_id, (kept,) = make_author(app, books=(XSS,))
    path = f"/admin/shop/author/{author_id}/change"
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        # saved through an inline row: a new child and a change to the other
        response = post_form(
            client,
            path,
            {
                "book_set-TOTAL_FORMS": "2",
                "book_set-0-id": str(kept),
                "book_set-0-title": XSS + " changed",
                "book_set-1-title": XSS,
            },
        )
        assert response.status_code == 303, response.text
        for page_path in (path, f"/admin/shop/author/{author_id}/history"):
            page = client.get(page_path).text
            assert "<script>alert" not in page and "<img src=x" not in page, page_path
            assert "&lt;script&gt;" in page, page_path  # shown, as text
        # an invalid row echoes the value escaped
        bad = post_form(
            client,
            path,
            {"book_set-TOTAL_FORMS": "1", "book_set-0-title": XSS, "book_set-0-pages": "x"},
        )
        assert bad.status_code == 400
        assert "<script>alert" not in bad.text


def test_child_permissions_apply_to_inline_rows(admin_app: Any, users: Any) -> None:
    app = admin_app(inline_site())
    users(app)
    add_user(
        app,
        "editor",
        is_staff=True,
        perms=("shop.view_author", "shop.change_author", "shop.view_book"),
    )
    author_id, (keep,) = make_author(app, books=("Keep",))
    path = f"/admin/shop/author/{author_id}/change"
    with TestClient(app, follow_redirects=False) as client:
        login(client, "editor")
        page = client.get(path).text
        # may view books, not add, change or delete them: no blank rows, disabled inputs
        assert rows(page) == 1 and "book_set-0-DELETE" not in page
        assert re.search(r'<input[^>]*disabled[^>]*name="book_set-0-title"', page) or re.search(
            r'<input[^>]*name="book_set-0-title"[^>]*disabled', page
        )
        for fields in (
            {"book_set-TOTAL_FORMS": "1", "book_set-0-title": "Sneaked in"},
            {"book_set-TOTAL_FORMS": "1", "book_set-0-id": str(keep), "book_set-0-DELETE": "on"},
        ):
            response = post_form(client, path, fields)
            assert response.status_code == 400
            assert "You may not" in response.text
        # a change to the title of a row it may only view changes nothing
        response = post_form(
            client,
            path,
            {"book_set-TOTAL_FORMS": "1", "book_set-0-id": str(keep), "book_set-0-title": "New"},
        )
        assert response.status_code == 303
    with app.extensions["db"].session() as session:
        assert [book.title for book in session.query(Book).all()] == ["Keep"]


def test_inline_needs_a_foreign_key_to_the_parent() -> None:
    class Nothing(TabularInline):
        model = Author

    site = Admin()
    with pytest.raises(TypeError, match="foreign keys"):
        site.register(Book, type("BadAdmin", (ModelAdmin,), {"inlines": (Nothing,)}))


def test_change_messages_never_copy_secret_values() -> None:
    from oakling.admin.changes import describe_changes
    from oakling.admin.forms import FormField

    class Obj:
        password = "argon2id$v=19$m=65536$new-hash"
        api_token = "tok_new"
        title = "x" * 150
        name = "New"

    specs = {name: FormField(name, "column") for name in ("password", "api_token", "title", "name")}
    before = {"password": "argon2id$old", "api_token": "tok_old", "title": "y", "name": "Old"}
    message = describe_changes(None, specs, before, Obj(), list(specs))  # type: ignore[arg-type]
    assert "argon2id" not in message and "tok_" not in message
    assert message.startswith("password, api token, ")
    # a long value is cut to 60 characters
    assert f"title (“y” → “{'x' * 59}…”)" in message
    assert message.endswith("and name (“Old” → “New”)")
    # a text of over 200 characters is named without its values
    Obj.title = "z" * 201
    assert "title and name" in describe_changes(None, specs, before, Obj(), list(specs))  # type: ignore[arg-type]
