"""Per-model templates, a ModelAdmin's own views (get_urls) and the index's counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oakling import App
from oakling.admin import Admin
from oakling.auth import Auth
from oakling.config import Settings
from oakling.csrf import CSRF
from oakling.db import Database
from oakling.responses import PlainTextResponse
from oakling.sessions import Sessions
from oakling.testing import TestClient

from .conftest import SECRET, AuthorAdmin, BookAdmin, add_books, login
from .shop import Author, Book


class StatsBookAdmin(BookAdmin):
    change_form_template = "custom/book_form.html"

    def get_urls(self) -> list[Any]:
        return [("/stats", self.stats, ["GET"], "stats")]

    async def stats(self, request: Any) -> PlainTextResponse:
        return PlainTextResponse("<b>stats</b> for books")


def app_with_templates(admin_url: str, folder: Path) -> App:
    site = Admin()
    site.register(Book, StatsBookAdmin)
    site.register(Author, AuthorAdmin)
    return App(
        settings=Settings(SECRET_KEY=SECRET, extra={"EMAIL_BACKEND": "memory"}),
        template_folder=folder,
        plugins=[Database(admin_url), Sessions(), Auth(), CSRF(), site],
    )


def test_templates_per_model_and_per_app(admin_url: str, users: Any, tmp_path: Path) -> None:
    (tmp_path / "admin" / "shop" / "author").mkdir(parents=True)
    (tmp_path / "custom").mkdir()
    (tmp_path / "admin" / "shop" / "author" / "change_list.html").write_text(
        '{% extends "admin/change_list.html" %}{% block content %}<p>authors list of'
        " {{ model_admin.model_name }}</p>{{ super() }}{% endblock %}"
    )
    (tmp_path / "admin" / "shop" / "change_list.html").write_text(
        '{% extends "admin/change_list.html" %}{% block content %}<p>any shop list</p>'
        "{{ super() }}{% endblock %}"
    )
    (tmp_path / "custom" / "book_form.html").write_text(
        '{% extends "admin/change_form.html" %}{% block content %}<p>my book form</p>'
        "{{ super() }}{% endblock %}"
    )
    app = app_with_templates(admin_url, tmp_path)
    users(app)
    (book_id,) = add_books(app, 1)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        assert "authors list of author" in client.get("/admin/shop/author").text
        books = client.get("/admin/shop/book").text
        assert "any shop list" in books and "authors list" not in books
        form = client.get(f"/admin/shop/book/{book_id}/change").text
        assert "my book form" in form and 'name="title"' in form
        # other pages and models keep the site's templates
        assert "my book form" not in client.get("/admin/shop/author/add").text
    app.extensions["db"].sync_engine().dispose()


def test_get_urls_views_are_staff_only_with_the_view_permission(
    admin_url: str, users: Any, tmp_path: Path
) -> None:
    app = app_with_templates(admin_url, tmp_path)
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/admin/shop/book/stats").status_code == 303  # to the login page
        login(client, "root")
        response = client.get("/admin/shop/book/stats")
        assert response.status_code == 200 and response.text == "<b>stats</b> for books"
        assert response.headers["x-frame-options"] == "DENY"
        assert "no-store" in response.headers["cache-control"]
        assert app.url_path_for("admin:shop_book_stats") == "/admin/shop/book/stats"
    for name, status in (("staff", 403), ("viewer", 200), ("plain", 403)):
        with TestClient(app, follow_redirects=False) as client:
            login(client, name)
            assert client.get("/admin/shop/book/stats").status_code == status, name
    app.extensions["db"].sync_engine().dispose()


def test_index_shows_bounded_counts(admin_app: Any, users: Any) -> None:
    import oakling.admin.views as views

    app = admin_app()
    users(app)
    add_books(app, 3)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        page = client.get("/admin/").text
        assert '>Books</a></th>\n        <td class="count">3</td>' in page
        old = views.INDEX_COUNT_LIMIT
        views.INDEX_COUNT_LIMIT = 2
        try:
            page = client.get("/admin/").text
        finally:
            views.INDEX_COUNT_LIMIT = old
        assert '<td class="count">2+</td>' in page
    with TestClient(app, follow_redirects=False) as client:
        login(client, "viewer")  # sees books only: no count of what it may not view
        page = client.get("/admin/").text
        assert '<td class="count">3</td>' in page and "Authors" not in page
