"""Inlines: ``readonly_fields`` in rows, "Add another" without JavaScript, autocomplete in rows."""

from __future__ import annotations

import re
from typing import Any

import pytest

from oakling.admin import Admin, ModelAdmin, StackedInline, TabularInline
from oakling.testing import TestClient

from .conftest import AuthorAdmin, BookAdmin, add_user, csrf, login
from .shop import Author, Book, Shelf, ShelfItem

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
BACKENDS = pytest.mark.parametrize("admin_url", ["sqlite", "postgresql", "mariadb"], indirect=True)


class ItemInline(TabularInline):
    model = ShelfItem
    fields = ("label", "book_id")
    readonly_fields = ("label_length", "id")
    autocomplete_fields = ("book",)
    extra = 1
    max_num = 4

    def label_length(self, obj: ShelfItem) -> str:
        return f"{len(obj.label)} letters, {obj.label}"

    label_length.short_description = "Label length"  # type: ignore[attr-defined]


class StackedItemInline(StackedInline):
    model = ShelfItem
    fields = ("label",)
    readonly_fields = ("label_length",)
    extra = 0

    def label_length(self, obj: ShelfItem) -> str:
        return f"{len(obj.label)} letters, {obj.label}"


class ShelfAdmin(ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    inlines = (ItemInline,)


class HiddenBooks(BookAdmin):
    """Staff other than root never see the book titled "Hidden"."""

    def get_queryset(self, request: Any) -> Any:
        query = super().get_queryset(request)
        if request.user.is_superuser:
            return query
        return query.where(Book.title != "Hidden")


def _site(inline: type[Any] = ItemInline) -> Admin:
    site = Admin()
    site.register(Book, HiddenBooks)
    site.register(Author, AuthorAdmin)
    site.register(Shelf, type("ShelfAdmin", (ShelfAdmin,), {"inlines": (inline,)}))
    return site


def _data(app: Any) -> dict[str, int]:
    with app.extensions["db"].session() as session:
        ann = Author(name="Ann")
        dune, hidden = Book(title="Dune", author=ann), Book(title="Hidden", author=ann)
        shelf = Shelf(name="Novels")
        item = ShelfItem(label=XSS, shelf=shelf, book=dune)
        session.add_all([ann, dune, hidden, shelf, item])
        session.commit()
        return {"shelf": shelf.id, "item": item.id, "dune": dune.id, "hidden": hidden.id}


def _items(app: Any) -> list[tuple[str, int | None]]:
    with app.extensions["db"].session() as session:
        return sorted((item.label, item.book_id) for item in session.query(ShelfItem))


def _total(page: str) -> int:
    match = re.search(r'name="shelfitem_set-TOTAL_FORMS" value="(\d+)"', page)
    assert match, page
    return int(match.group(1))


def _editor(app: Any) -> None:
    add_user(
        app,
        "editor",
        is_staff=True,
        perms=(
            "shop.view_book",
            "shop.view_shelf",
            "shop.change_shelf",
            "shop.view_shelfitem",
            "shop.add_shelfitem",
            "shop.change_shelfitem",
        ),
    )


@pytest.fixture
def app(admin_app: Any, shelf_tables: None, users: Any) -> Any:
    def build(inline: type[Any] = ItemInline) -> Any:
        from oakling.auth.models import sync_permissions_sync

        built = admin_app(_site(inline))
        with built.extensions["db"].session() as session:
            sync_permissions_sync(session, [Shelf, ShelfItem])
            session.commit()
        users(built)
        return built

    return build


@pytest.mark.parametrize("inline", [ItemInline, StackedItemInline])
def test_inline_readonly_fields_are_shown_escaped_and_not_editable(app: Any, inline: Any) -> None:
    built = app(inline)
    ids = _data(built)
    path = f"/admin/shop/shelf/{ids['shelf']}/change"
    with TestClient(built, follow_redirects=False) as client:
        login(client, "root")
        page = client.get(path)
        assert page.status_code == 200
        assert "Label length" in page.text
        assert f"{len(XSS)} letters, &lt;script&gt;" in page.text
        assert "<script>alert" not in page.text
        assert 'name="shelfitem_set-0-label_length"' not in page.text
        response = client.post(
            path,
            data={
                "csrf_token": csrf(client, path),
                "name": "Novels",
                "shelfitem_set-TOTAL_FORMS": "1",
                "shelfitem_set-0-id": str(ids["item"]),
                "shelfitem_set-0-label": "Plain",
                "shelfitem_set-0-book_id": str(ids["dune"]),
                "shelfitem_set-0-label_length": "999",  # not a field: ignored
                "shelfitem_set-0-id_": "1",
            },
        )
        assert response.status_code == 303, response.text
    assert [label for label, _ in _items(built)] == ["Plain"]


@BACKENDS
def test_add_another_row_without_javascript_keeps_what_was_typed(app: Any) -> None:
    built = app()
    ids = _data(built)
    path = f"/admin/shop/shelf/{ids['shelf']}/change"
    with TestClient(built, follow_redirects=False) as client:
        login(client, "root")
        page = client.get(path).text
        assert _total(page) == 2  # one child, one blank row
        assert 'name="_addrow" value="shelfitem_set"' in page
        assert '<template id="shelfitem_set-empty">' in page
        assert 'name="shelfitem_set-__prefix__-label"' in page
        token = csrf(client, path)
        typed = {
            "csrf_token": token,
            "name": "Novels renamed",
            "shelfitem_set-TOTAL_FORMS": "2",
            "shelfitem_set-0-id": str(ids["item"]),
            "shelfitem_set-0-label": "Kept",
            "shelfitem_set-0-book_id": str(ids["dune"]),
            "shelfitem_set-1-label": "Typed",
            "shelfitem_set-1-book_id": "",
        }
        more = client.post(path, data={**typed, "_addrow": "shelfitem_set"})
        assert more.status_code == 200
        assert _total(more.text) == 3
        assert 'value="Typed"' in more.text and 'value="Novels renamed"' in more.text
        assert 'name="shelfitem_set-2-label"' in more.text
        assert _items(built) == [(XSS, ids["dune"])]  # nothing saved yet
        saved = client.post(
            path,
            data={
                **typed,
                "shelfitem_set-TOTAL_FORMS": "3",
                "shelfitem_set-2-label": "Third",
                "shelfitem_set-2-book_id": str(ids["dune"]),
            },
        )
        assert saved.status_code == 303, saved.text
    assert _items(built) == [("Kept", ids["dune"]), ("Third", ids["dune"]), ("Typed", None)]


def test_add_another_stops_at_max_num_and_needs_add_permission(app: Any) -> None:
    built = app()
    ids = _data(built)
    add_user(
        built,
        "changer",
        is_staff=True,
        perms=("shop.view_shelf", "shop.change_shelf", "shop.view_shelfitem"),
    )
    path = f"/admin/shop/shelf/{ids['shelf']}/change"
    with TestClient(built, follow_redirects=False) as client:
        login(client, "root")
        token = csrf(client, path)
        data = {
            "csrf_token": token,
            "name": "Novels",
            "shelfitem_set-0-id": str(ids["item"]),
            "shelfitem_set-0-label": "Kept",
        }
        total = 2
        for _ in range(5):
            page = client.post(
                path,
                data={**data, "shelfitem_set-TOTAL_FORMS": str(total), "_addrow": "shelfitem_set"},
            )
            assert page.status_code == 200
            total = _total(page.text)
        assert total == 4  # max_num
        assert "_addrow" not in page.text
    with TestClient(built, follow_redirects=False) as client:
        login(client, "changer")  # may change shelves but not add items
        page = client.get(path).text
        assert "_addrow" not in page and _total(page) == 1
        forced = client.post(
            path,
            data={
                "csrf_token": csrf(client, path),
                "name": "Novels",
                "shelfitem_set-TOTAL_FORMS": "1",
                "shelfitem_set-0-id": str(ids["item"]),
                "_addrow": "shelfitem_set",
            },
        )
        assert forced.status_code == 200 and _total(forced.text) == 1
    assert _items(built) == [(XSS, ids["dune"])]


def test_autocomplete_in_inline_rows(app: Any) -> None:
    built = app()
    ids = _data(built)
    _editor(built)
    path = f"/admin/shop/shelf/{ids['shelf']}/change"
    url = "/admin/autocomplete?app_label=shop&model_name=shelfitem&field_name=book"
    with TestClient(built, follow_redirects=False) as client:
        login(client, "editor")
        page = client.get(path).text
        assert re.search(
            r'<input[^>]*data-autocomplete="/admin/autocomplete\?app_label=shop&amp;model_name=shelfitem&amp;field_name=book"',
            page,
        )
        assert "<select" not in page.split('name="shelfitem_set-0-book_id"')[0].rsplit("<td", 1)[-1]
        assert '<span class="help">Dune</span>' in page  # the chosen row's name
        suggestions = client.get(url + "&term=").json()["results"]
        # SECURITY: the related admin's get_queryset hides "Hidden" from this user
        assert [row["text"] for row in suggestions] == ["Dune"]
        token = csrf(client, path)
        base = {
            "csrf_token": token,
            "name": "Novels",
            "shelfitem_set-TOTAL_FORMS": "2",
            "shelfitem_set-0-id": str(ids["item"]),
            "shelfitem_set-0-label": "Kept",
            "shelfitem_set-0-book_id": str(ids["dune"]),
        }
        for forged in (str(ids["hidden"]), "999999", "1 OR 1=1"):
            refused = client.post(
                path,
                data={**base, "shelfitem_set-1-label": "New", "shelfitem_set-1-book_id": forged},
            )
            assert refused.status_code == 400, forged
            assert "Select a valid choice" in refused.text
        assert _items(built) == [(XSS, ids["dune"])]
        saved = client.post(
            path,
            data={
                **base,
                "shelfitem_set-1-label": "New",
                "shelfitem_set-1-book_id": str(ids["dune"]),
            },
        )
        assert saved.status_code == 303, saved.text
    assert _items(built) == [("Kept", ids["dune"]), ("New", ids["dune"])]


def test_inline_autocomplete_endpoint_checks_permissions(app: Any) -> None:
    built = app()
    _data(built)
    add_user(built, "shelves_only", is_staff=True, perms=("shop.view_shelfitem",))
    url = "/admin/autocomplete?app_label=shop&model_name=shelfitem&field_name=book&term="
    with TestClient(built, follow_redirects=False) as client:
        login(client, "shelves_only")  # may not view books
        assert client.get(url).status_code == 403
    with TestClient(built, follow_redirects=False) as client:
        login(client, "staff")  # may view neither
        assert client.get(url).status_code == 403
    with TestClient(built, follow_redirects=False) as client:
        login(client, "root")
        label = "/admin/autocomplete?app_label=shop&model_name=shelfitem&field_name=label&term="
        assert client.get(label).status_code == 404  # not an autocomplete field
