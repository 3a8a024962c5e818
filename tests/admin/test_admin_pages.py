"""The admin's pages as a staff user sees them: index, list, forms, delete, history."""

from __future__ import annotations

from typing import Any

from oakling.admin import LogEntry
from oakling.testing import TestClient

from .conftest import add_books, csrf, login
from .shop import Author, Book


def test_anonymous_is_sent_to_login_with_next(admin_app: Any) -> None:
    app = admin_app()
    with TestClient(app, follow_redirects=False) as client:
        response = client.get("/admin/shop/book?q=x")
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/login?next=/admin/shop/book%3Fq%3Dx"


def test_index_lists_models_and_recent_actions(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        page = client.get("/admin/")
        assert page.status_code == 200, page.text
        assert 'href="/admin/shop/book"' in page.text
        assert 'href="/admin/shop/book/add"' in page.text
        assert 'href="/admin/auth/user"' in page.text
        assert "None available." in page.text
        token = csrf(client, "/admin/shop/author/add")
        saved = client.post(
            "/admin/shop/author/add", data={"csrf_token": token, "name": "Ann", "_save": ""}
        )
        assert saved.status_code == 303, saved.text
        assert "Added Ann" in client.get("/admin/").text


def test_add_change_and_history(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        token = csrf(client, "/admin/shop/author/add")
        assert 'name="secret_note"' not in client.get("/admin/shop/author/add").text
        response = client.post(
            "/admin/shop/author/add", data={"csrf_token": token, "name": "Ann", "_continue": ""}
        )
        assert response.status_code == 303
        author_url = response.headers["location"]
        assert author_url.endswith("/change")
        with app.extensions["db"].session() as session:
            author_id = session.query(Author).one().id
        # A book: a required field missing is a form error, not an error page.
        bad = client.post(
            "/admin/shop/book/add",
            data={"csrf_token": token, "title": "", "author_id": str(author_id), "genre": "NOVEL"},
        )
        assert bad.status_code == 400
        assert "This field is required." in bad.text
        good = client.post(
            "/admin/shop/book/add",
            data={
                "csrf_token": token,
                "title": "Dune",
                "author_id": str(author_id),
                "genre": "POETRY",
                "is_published": "y",
                "published_on": "2024-05-01",
                "pages": "412",
                "_addanother": "",
            },
        )
        assert good.status_code == 303, good.text
        assert good.headers["location"] == "/admin/shop/book/add"
        with app.extensions["db"].session() as session:
            book = session.query(Book).one()
            assert (book.title, book.genre.name, book.is_published, book.pages) == (
                "Dune",
                "POETRY",
                True,
                412,
            )
            book_id = book.id
        page = client.get(f"/admin/shop/book/{book_id}/change")
        assert page.status_code == 200
        assert 'value="Dune"' in page.text
        changed = client.post(
            f"/admin/shop/book/{book_id}/change",
            data={
                "csrf_token": token,
                "title": "Dune II",
                "author_id": str(author_id),
                "genre": "POETRY",
                "is_published": "y",
                "published_on": "2024-05-01",
                "pages": "412",
                "_save": "",
            },
        )
        assert changed.status_code == 303
        history = client.get(f"/admin/shop/book/{book_id}/history")
        assert history.status_code == 200
        assert "Added" in history.text
        assert "Changed title (“Dune” → “Dune II”)." in history.text


def test_unique_violation_is_a_form_error(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    add_books(app, 1, author_name="Ann")
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        token = csrf(client, "/admin/shop/author/add")
        response = client.post("/admin/shop/author/add", data={"csrf_token": token, "name": "Ann"})
        assert response.status_code == 400
        assert "Author with this name already exists." in response.text
    with app.extensions["db"].session() as session:
        assert session.query(Author).count() == 1
        assert session.query(LogEntry).count() == 0


def test_delete_with_confirmation(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    [book_id] = add_books(app, 1)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        page = client.get(f"/admin/shop/book/{book_id}/delete")
        assert page.status_code == 200
        assert "Are you sure" in page.text
        token = csrf(client, f"/admin/shop/book/{book_id}/delete")
        done = client.post(
            f"/admin/shop/book/{book_id}/delete", data={"csrf_token": token, "post": "yes"}
        )
        assert done.status_code == 303
    with app.extensions["db"].session() as session:
        assert session.query(Book).count() == 0
        entry = session.query(LogEntry).one()
        assert (entry.action_name, entry.object_id, entry.object_repr) == (
            "Deleted",
            str(book_id),
            "Book 000",
        )


def test_delete_confirmation_lists_what_cascades(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    add_books(app, 2, author_name="Ann")
    with app.extensions["db"].session() as session:
        author_id = session.query(Author).one().id
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        page = client.get(f"/admin/shop/author/{author_id}/delete")
        assert "Book: Book 000" in page.text and "Book: Book 001" in page.text
        token = csrf(client, "/admin/shop/author")
        bulk = client.post(
            "/admin/shop/author",
            data={
                "csrf_token": token,
                "action": "delete_selected",
                "_selected_action": str(author_id),
            },
        )
        assert "Book: Book 001" in bulk.text
