"""Attacks on the admin: permissions, forged ids, CSRF, XSS, lookups, headers."""

from __future__ import annotations

import re
from typing import Any

import pytest

from oakling.admin import Admin, ModelAdmin
from oakling.testing import TestClient

from .conftest import BookAdmin, add_books, csrf, login
from .shop import Author, Book

XSS = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def test_every_admin_response_is_never_cached_and_never_framed(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        responses = [client.get("/admin/")]  # the redirect to the login page
        login(client, "root")
        responses += [
            client.get("/admin/"),
            client.get("/admin/shop/book"),
            client.get("/admin/shop/book?nope=1"),  # 400
            client.get("/admin/shop/book/999/change"),  # 404
            client.get("/admin/shop/book/add"),
        ]
    for response in responses:
        assert response.headers["x-frame-options"] == "DENY", response.url
        cache = response.headers["cache-control"]
        assert "no-store" in cache and "private" in cache, response.url


def test_non_staff_user_is_refused(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "plain")
        assert client.get("/admin/").status_code == 403
        assert client.get("/admin/shop/book").status_code == 403


def test_staff_without_permission_gets_403_on_get_and_post(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    [book_id] = add_books(app, 1)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "staff")
        index = client.get("/admin/")
        assert "/admin/shop/book" not in index.text
        token = csrf(client, "/admin/")
        for path in (
            "/admin/shop/book",
            f"/admin/shop/book/{book_id}/change",
            "/admin/shop/book/add",
            f"/admin/shop/book/{book_id}/delete",
            f"/admin/shop/book/{book_id}/history",
        ):
            assert client.get(path).status_code == 403, path
            if not path.endswith("/history"):
                posted = client.post(path, data={"csrf_token": token, "title": "x", "post": "yes"})
                assert posted.status_code == 403, path
    with app.extensions["db"].session() as session:
        assert session.query(Book).one().title == "Book 000"


def test_viewer_can_view_but_not_change_delete_or_act(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    [book_id] = add_books(app, 1)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "viewer")
        page = client.get(f"/admin/shop/book/{book_id}/change")
        assert page.status_code == 200
        assert "disabled" in page.text and "_save" not in page.text
        assert "Delete selected" not in client.get("/admin/shop/book").text
        token = csrf(client, "/admin/shop/book")
        data = {"csrf_token": token, "title": "Hacked", "author_id": "1", "genre": "NOVEL"}
        assert client.post(f"/admin/shop/book/{book_id}/change", data=data).status_code == 403
        for name in ("delete_selected", "publish"):
            response = client.post(
                "/admin/shop/book",
                data={
                    "csrf_token": token,
                    "action": name,
                    "_selected_action": str(book_id),
                    "post": "yes",
                },
            )
            assert response.status_code == 403, name
    with app.extensions["db"].session() as session:
        book = session.query(Book).one()
        assert (book.title, book.is_published) == ("Book 000", False)


def test_action_post_without_csrf_token_is_refused(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    [book_id] = add_books(app, 1)
    # NOTE: the test client skips CSRF unless asked; here it checks, and sends no token.
    with TestClient(
        app, follow_redirects=False, enforce_csrf_checks=True, fill_csrf_token=False
    ) as client:
        login(client, "root")
        for data in (
            {"action": "delete_selected", "_selected_action": str(book_id), "post": "yes"},
            {"action": "publish", "_selected_action": str(book_id)},
        ):
            assert client.post("/admin/shop/book", data=data).status_code == 403
        assert (
            client.post(f"/admin/shop/book/{book_id}/delete", data={"post": "yes"}).status_code
            == 403
        )
    with app.extensions["db"].session() as session:
        assert session.query(Book).one().is_published is False


def test_custom_action_and_bulk_delete_with_confirmation(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    ids = add_books(app, 3)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        token = csrf(client, "/admin/shop/book")
        done = client.post(
            "/admin/shop/book",
            data={
                "csrf_token": token,
                "action": "publish",
                "_selected_action": [str(i) for i in ids[:2]],
            },
        )
        assert done.status_code == 303
        confirm = client.post(
            "/admin/shop/book",
            data={
                "csrf_token": token,
                "action": "delete_selected",
                "_selected_action": [str(i) for i in ids[1:]],
            },
        )
        assert confirm.status_code == 200
        assert (
            "Book 001" in confirm.text
            and "Book 002" in confirm.text
            and "Book 000" not in confirm.text
        )
        with app.extensions["db"].session() as session:
            assert session.query(Book).count() == 3  # nothing deleted before confirming
        deleted = client.post(
            "/admin/shop/book",
            data={
                "csrf_token": token,
                "action": "delete_selected",
                "_selected_action": [str(i) for i in ids[1:]],
                "post": "yes",
            },
        )
        assert deleted.status_code == 303
        history = client.get(f"/admin/shop/book/{ids[0]}/history").text
        assert "Action: Mark selected books as published." in history
    with app.extensions["db"].session() as session:
        assert [(b.title, b.is_published) for b in session.query(Book)] == [("Book 000", True)]


class OwnBooks(BookAdmin):
    """Staff see only the books of the author named like them."""

    def get_queryset(self, request: Any) -> Any:
        query = super().get_queryset(request)
        if request.user.is_superuser:
            return query
        return query.join(Book.author).where(Author.name == request.user.username)


def test_object_outside_the_queryset_is_exactly_like_a_missing_one(
    admin_app: Any, users: Any
) -> None:
    site = Admin()
    site.register(Book, OwnBooks)
    app = admin_app(site)
    ids = users(app)
    from oakling.auth import Permission

    with app.extensions["db"].session() as session:
        from oakling.auth import User

        staff = session.get(User, ids["staff"])
        for codename in ("shop.view_book", "shop.change_book", "shop.delete_book"):
            staff.user_permissions.append(
                session.query(Permission).filter_by(codename=codename).one()
            )
        session.commit()
    [other] = add_books(app, 1, author_name="root")
    [own] = add_books(app, 1, author_name="staff")
    with TestClient(app, follow_redirects=False) as client:
        login(client, "staff")
        assert client.get(f"/admin/shop/book/{own}/change").status_code == 200
        hidden = client.get(f"/admin/shop/book/{other}/change")
        missing = client.get("/admin/shop/book/987654/change")
        assert hidden.status_code == missing.status_code == 404
        # the same body, but for the CSRF token (masked afresh on every page)
        unmask = re.compile(r'value="[A-Za-z0-9]{64}"')
        assert unmask.sub("", hidden.text) == unmask.sub("", missing.text)
        for bad in ("abc", "-1", "1.5", "9" * 40, "%20%31", "1;DROP"):
            assert client.get(f"/admin/shop/book/{bad}/change").status_code == 404, bad
        token = csrf(client, "/admin/shop/book")
        # forged ids in a bulk action: only own objects are touched
        client.post(
            "/admin/shop/book",
            data={
                "csrf_token": token,
                "action": "delete_selected",
                "_selected_action": [str(other), str(own)],
                "post": "yes",
            },
        )
        assert (
            client.post(
                "/admin/shop/book",
                data={
                    "csrf_token": token,
                    "action": "delete_selected",
                    "_selected_action": ["x' OR 1=1"],
                },
            ).status_code
            == 400
        )
        assert (
            client.post(
                f"/admin/shop/book/{other}/delete", data={"csrf_token": token, "post": "yes"}
            ).status_code
            == 404
        )
        assert (
            "root"
            not in client.get("/admin/shop/book").text.split("<tbody>")[1].split("</tbody>")[0]
        )
    with app.extensions["db"].session() as session:
        assert [b.id for b in session.query(Book)] == [other]


def test_xss_payloads_are_escaped_everywhere(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        token = csrf(client, "/admin/shop/author/add")
        assert (
            client.post(
                "/admin/shop/author/add",
                data={"csrf_token": token, "name": XSS, "email": "javascript:alert(3)"},
            ).status_code
            == 303
        )
        with app.extensions["db"].session() as session:
            author_id = session.query(Author).one().id
        assert (
            client.post(
                "/admin/shop/book/add",
                data={
                    "csrf_token": token,
                    "title": XSS,
                    "author_id": str(author_id),
                    "genre": "NOVEL",
                    "link": "javascript:alert(4)",
                },
            ).status_code
            == 303
        )
        with app.extensions["db"].session() as session:
            book_id = session.query(Book).one().id
        pages = [
            client.get("/admin/"),
            client.get("/admin/shop/book"),
            client.get("/admin/shop/author"),
            client.get(f"/admin/shop/book/{book_id}/change"),
            client.get(f"/admin/shop/book/{book_id}/delete"),
            client.get(f"/admin/shop/book/{book_id}/history"),
            client.post(
                "/admin/shop/book",
                data={
                    "csrf_token": token,
                    "action": "delete_selected",
                    "_selected_action": str(book_id),
                },
            ),
            client.get("/admin/shop/book?q=" + XSS),
        ]
        for page in pages:
            assert page.status_code == 200, page.url
            assert "<script>alert(1)" not in page.text, page.url
            assert "<img src=x" not in page.text, page.url
            assert 'href="javascript:' not in page.text, page.url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1].text


def test_only_http_urls_are_links(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    add_books(app, 1)
    with app.extensions["db"].session() as session:
        book = session.query(Book).one()
        book.link = "https://example.com/a?b=1&c=2"
        session.commit()
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        page = client.get("/admin/shop/book")
    assert (
        '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">'
        in page.text
    )


def test_unregistered_model_is_404_and_several_sites_coexist(admin_app: Any, users: Any) -> None:
    from oakling import App
    from oakling.auth import Auth
    from oakling.config import Settings
    from oakling.csrf import CSRF
    from oakling.db import Database
    from oakling.sessions import Sessions

    from .conftest import SECRET

    first = Admin(register_auth=False)
    first.register(Book, BookAdmin)
    second = Admin(prefix="/backoffice", name="backoffice")
    second.register(Author)
    app = admin_app(first)
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        assert client.get("/admin/shop/author").status_code == 404
        assert client.get("/admin/auth/user").status_code == 404
    with pytest.raises(Exception, match="Admin needs"):
        App(
            settings=Settings(SECRET_KEY=SECRET),
            plugins=[Database("sqlite://"), Sessions(), Auth(), second],
        )
    both = App(
        settings=Settings(SECRET_KEY=SECRET),
        plugins=[Database("sqlite://"), Sessions(), Auth(), CSRF(), Admin(name="a1"), second],
    )
    assert both.extensions["backoffice"] is second
    assert both.url_path_for("backoffice:index") == "/backoffice/"
    assert both.url_path_for("a1:index") == "/admin/"


class AlwaysDenied(ModelAdmin):
    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        return obj is None or obj.name != "secret"


def test_per_object_hooks(admin_app: Any, users: Any) -> None:
    site = Admin()
    site.register(Author, AlwaysDenied)
    app = admin_app(site)
    users(app)
    with app.extensions["db"].session() as session:
        session.add_all([Author(name="secret"), Author(name="open")])
        session.commit()
        secret_id = session.query(Author).filter_by(name="secret").one().id
        open_id = session.query(Author).filter_by(name="open").one().id
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        assert client.get(f"/admin/shop/author/{secret_id}/change").status_code == 403
        page = client.get(f"/admin/shop/author/{open_id}/change")
        assert page.status_code == 200 and "_save" not in page.text
        token = csrf(client, "/admin/shop/author")
        assert (
            client.post(
                f"/admin/shop/author/{open_id}/change", data={"csrf_token": token, "name": "x"}
            ).status_code
            == 403
        )
