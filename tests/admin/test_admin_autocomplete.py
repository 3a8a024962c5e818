"""Foreign-key autocomplete: the id input, the JSON endpoint and its permission checks."""

from __future__ import annotations

import re
from typing import Any

import pytest

from oakling.admin import Admin, LogEntry
from oakling.testing import TestClient

from .conftest import AuthorAdmin, BookAdmin, add_user, csrf, login
from .shop import Author, Book

URL = "/admin/autocomplete?app_label=shop&model_name=book&field_name=author"


class AutoBookAdmin(BookAdmin):
    autocomplete_fields = ("author",)


class ScopedAuthorAdmin(AuthorAdmin):
    def get_queryset(self, request: Any) -> Any:
        query = super().get_queryset(request)
        if request.user.is_superuser:
            return query
        return query.where(Author.name != "Hidden")


def auto_site() -> Admin:
    site = Admin()
    site.register(Book, AutoBookAdmin)
    site.register(Author, ScopedAuthorAdmin)
    return site


def authors(app: Any, *names: str) -> dict[str, int]:
    with app.extensions["db"].session() as session:
        made = [Author(name=name) for name in names]
        session.add_all(made)
        session.commit()
        return {author.name: author.id for author in made}


def test_endpoint_searches_the_related_admin(admin_app: Any, users: Any) -> None:
    app = admin_app(auto_site())
    users(app)
    ids = authors(app, "Ann Lee", "Annabel", "Bob", "Hidden")
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        response = client.get(URL + "&term=ann")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert "no-store" in response.headers["cache-control"]
        assert response.json() == {
            "results": [
                {"id": str(ids["Ann Lee"]), "text": "Ann Lee"},
                {"id": str(ids["Annabel"]), "text": "Annabel"},
            ],
            "pagination": {"more": False},
        }


def test_endpoint_does_not_leak_rows_the_user_may_not_view(admin_app: Any, users: Any) -> None:
    app = admin_app(auto_site())
    users(app)
    authors(app, "Ann", "Hidden")
    add_user(app, "books_only", is_staff=True, perms=("shop.view_book", "shop.change_book"))
    add_user(
        app,
        "both",
        is_staff=True,
        perms=("shop.view_book", "shop.change_book", "shop.view_author"),
    )
    with TestClient(app, follow_redirects=False) as client:
        login(client, "books_only")  # may not view authors
        response = client.get(URL + "&term=")
        assert response.status_code == 403 and "Ann" not in response.text
    with TestClient(app, follow_redirects=False) as client:
        login(client, "staff")  # may view neither
        assert client.get(URL + "&term=a").status_code == 403
    with TestClient(app, follow_redirects=False) as client:
        login(client, "both")  # the author admin's get_queryset hides "Hidden"
        texts = [row["text"] for row in client.get(URL + "&term=").json()["results"]]
        assert texts == ["Ann"]
    with TestClient(app, follow_redirects=False) as client:
        assert client.get(URL + "&term=a").status_code == 303  # anonymous: to the login page


@pytest.mark.parametrize(
    "query",
    [
        "app_label=shop&model_name=book&field_name=title&term=a",  # not an autocomplete field
        "app_label=shop&model_name=author&field_name=id&term=a",
        "app_label=nope&model_name=book&field_name=author",
    ],
)
def test_endpoint_only_serves_listed_fields(admin_app: Any, users: Any, query: str) -> None:
    app = admin_app(auto_site())
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        assert client.get(f"/admin/autocomplete?{query}").status_code == 404


@pytest.mark.parametrize("extra", ["&secret_note=x", "&term=a&term=b", "&page=0", "&page=x"])
def test_endpoint_bad_parameters_are_a_400(admin_app: Any, users: Any, extra: str) -> None:
    app = admin_app(auto_site())
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        assert client.get(URL + extra).status_code == 400


def test_the_form_takes_an_id_without_javascript(admin_app: Any, users: Any) -> None:
    app = admin_app(auto_site())
    users(app)
    ids = authors(app, "Ann", "Hidden")
    add_user(
        app,
        "editor",
        is_staff=True,
        perms=("shop.view_book", "shop.add_book", "shop.view_author"),
    )
    with TestClient(app, follow_redirects=False) as client:
        login(client, "editor")
        page = client.get("/admin/shop/book/add").text
        assert re.search(r'<input[^>]*data-autocomplete="/admin/autocomplete\?', page)
        assert "<select" not in page.split('name="author_id"')[0].rsplit("<div", 1)[-1]
        base = {"title": "T", "genre": "NOVEL", "pages": "", "link": "", "published_on": ""}
        # SECURITY: an id outside the author admin's queryset is refused like a missing one
        for forged in (str(ids["Hidden"]), "999999", "1 OR 1=1", "<script>"):
            data = {**base, "author_id": forged, "csrf_token": csrf(client, "/admin/shop/book/add")}
            response = client.post("/admin/shop/book/add", data=data)
            assert response.status_code == 400, forged
            assert "Select a valid choice" in response.text
            assert "<script>" not in response.text.split("<main")[1]
        data = {
            **base,
            "author_id": str(ids["Ann"]),
            "csrf_token": csrf(client, "/admin/shop/book/add"),
        }
        data["_continue"] = ""
        response = client.post("/admin/shop/book/add", data=data)
        assert response.status_code == 303, response.text
        change = client.get(response.headers["location"]).text
        assert f'value="{ids["Ann"]}"' in change and '<span class="help">Ann</span>' in change
    with app.extensions["db"].session() as session:
        assert session.query(Book).one().author_id == ids["Ann"]
        assert session.query(LogEntry).count() == 1


def test_autocomplete_needs_search_fields_on_the_related_admin(admin_app: Any) -> None:
    from oakling.admin import ModelAdmin

    site = Admin()
    site.register(Book, AutoBookAdmin)
    site.register(Author, ModelAdmin)  # no search_fields
    with pytest.raises(TypeError, match="search_fields"):
        admin_app(site)
