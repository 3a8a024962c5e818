"""``search_fields`` through relationships (``rel__field``): the list and the autocomplete.

Many-to-one relations are joined; one-to-many relations are an ``EXISTS``
subquery (a parent matching through several children is listed once). Both
ignore case on every backend and run one query per page, never one per row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import event

from oakling.admin import Admin, ModelAdmin
from oakling.testing import TestClient

from .conftest import AuthorAdmin, BookAdmin, login
from .shop import Author, Book, Shelf, ShelfItem


class ShelfAdmin(ModelAdmin):
    list_display = ("name",)
    search_fields = ("name", "items__label")  # one-to-many: EXISTS


class ShelfItemAdmin(ModelAdmin):
    list_display = ("label", "shelf__name")
    search_fields = ("label", "^shelf__name")  # many-to-one: joined
    autocomplete_fields = ("shelf", "book")


class SortedBookAdmin(BookAdmin):
    ordering = ("author__name", "title")  # the autocomplete orders through the join too


def _site() -> Admin:
    site = Admin()
    site.register(Book, SortedBookAdmin)
    site.register(Author, AuthorAdmin)
    site.register(Shelf, ShelfAdmin)
    site.register(ShelfItem, ShelfItemAdmin)
    return site


@pytest.fixture
def app(admin_app: Any, shelf_tables: None, users: Any) -> Iterator[Any]:
    built = admin_app(_site())
    users(built)
    with built.extensions["db"].session() as session:
        ann, bob = Author(name="Ann Émile"), Author(name="Bob")
        dune = Book(title="Dune", author=ann)
        emma = Book(title="Emma", author=bob)
        novels = Shelf(name="Novels")
        poems = Shelf(name="Poems")
        session.add_all([ann, bob, dune, emma, novels, poems])
        session.add_all(
            [
                ShelfItem(label="Red Spine", shelf=novels, book=dune),
                ShelfItem(label="red cover", shelf=novels, book=emma),
                ShelfItem(label="Blue", shelf=poems),
                ShelfItem(label="Étagère", shelf=poems),
            ]
        )
        session.commit()
    yield built


def _statements(app: Any, client: TestClient, path: str) -> tuple[Any, list[str]]:
    seen: list[str] = []
    engine = app.extensions["db"].async_engine().sync_engine

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return response, seen


def _auto(field: str, term: str) -> str:
    return f"/admin/autocomplete?app_label=shop&model_name=shelfitem&field_name={field}&term={term}"


BACKENDS = pytest.mark.parametrize("admin_url", ["sqlite", "postgresql", "mariadb"], indirect=True)


@BACKENDS
def test_list_search_through_one_to_many_lists_each_parent_once(app: Any) -> None:
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        response, seen = _statements(app, client, "/admin/shop/shelf?q=RED")
        assert response.status_code == 200
        # two items of "Novels" match: the shelf is listed once
        assert response.text.count(">Novels</a>") == 1 and "Poems" not in response.text
        assert "1 shelfs" in response.text
        on_shelves = [sql for sql in seen if "shop_shelf" in sql]
        assert len(on_shelves) == 1 and "EXISTS" in on_shelves[0].upper()
        blue = client.get("/admin/shop/shelf?q=blue")
        assert ">Poems</a>" in blue.text and "Novels" not in blue.text


@BACKENDS
def test_list_search_through_many_to_one_ignores_case(app: Any) -> None:
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        response, seen = _statements(app, client, "/admin/shop/shelfitem?q=nov")
        assert response.status_code == 200
        assert "Red Spine" in response.text and "red cover" in response.text
        assert "Blue" not in response.text
        assert len([sql for sql in seen if "shop_shelf_item" in sql]) == 1  # one query, joined
        # ^ is "starts with": "vels" is inside "Novels", not at its start
        assert "Red Spine" not in client.get("/admin/shop/shelfitem?q=vels").text


@BACKENDS
def test_autocomplete_searches_through_a_many_to_one_relation(app: Any) -> None:
    # BookAdmin.search_fields has "^author__name": books by their author's name
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        response, seen = _statements(app, client, _auto("book", "ANN"))
        assert response.status_code == 200
        assert [row["text"] for row in response.json()["results"]] == ["Dune"]
        assert len([sql for sql in seen if "shop_book" in sql]) == 1
        assert [row["text"] for row in client.get(_auto("book", "")).json()["results"]] == [
            "Dune",
            "Emma",
        ]  # ordered by the author's name, through the same join


@BACKENDS
def test_autocomplete_searches_through_a_one_to_many_relation(app: Any) -> None:
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        response, seen = _statements(app, client, _auto("shelf", "Red"))
        assert response.status_code == 200
        assert [row["text"] for row in response.json()["results"]] == ["Novels"]
        assert len([sql for sql in seen if "shop_shelf" in sql]) == 1


@pytest.mark.parametrize("admin_url", ["postgresql", "mariadb"], indirect=True)
def test_related_search_ignores_case_beyond_ascii(app: Any) -> None:
    # NOTE: SQLite's lower() folds ASCII letters only; the servers fold "É" too.
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        found = client.get(_auto("shelf", quote("ÉTAGÈRE"))).json()["results"]
        assert [row["text"] for row in found] == ["Poems"]
        page = client.get("/admin/shop/shelf?q=" + quote("étagère"))
        assert ">Poems</a>" in page.text and "Novels" not in page.text
