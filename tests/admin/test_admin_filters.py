"""Date-range filters and custom SimpleListFilter filters on the changelist."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Select

from oakling.admin import Admin, SimpleListFilter
from oakling.testing import TestClient

from .conftest import BookAdmin, add_books, login
from .shop import Book
from .test_admin_changelist import titles

BACKENDS = pytest.mark.parametrize("admin_url", ["sqlite", "postgresql", "mariadb"], indirect=True)


class LengthFilter(SimpleListFilter):
    title = "length"
    parameter_name = "length"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [("short", "Under 100 pages"), ("long", "100 pages or more")]

    def queryset(self, request: Any, statement: Select[Any]) -> Select[Any]:
        if self.value() == "short":
            return statement.where(Book.pages < 100)
        if self.value() == "long":
            return statement.where(Book.pages >= 100)
        return statement


def filter_site() -> Admin:
    site = Admin()
    options = {"list_filter": ("published_on", LengthFilter, "is_published")}
    site.register(Book, type("FilteredBooks", (BookAdmin,), options))
    return site


def dated_books(app: Any) -> None:
    today = dt.datetime.now(dt.UTC).date()
    ids = add_books(app, 4)
    dates = [today, today - dt.timedelta(days=3), dt.date(2001, 5, 2), None]
    with app.extensions["db"].session() as session:
        for book_id, day, pages in zip(ids, dates, (10, 150, 300, 50), strict=True):
            book = session.get(Book, book_id)
            book.published_on = day
            book.pages = pages
        session.commit()


@BACKENDS
def test_date_range_filter(admin_app: Any, users: Any) -> None:
    app = admin_app(filter_site())
    users(app)
    dated_books(app)
    today = dt.datetime.now(dt.UTC).date()
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        page = client.get("/admin/shop/book").text
        for label in ("Any date", "Today", "Past 7 days", "This month", "This year", "No date"):
            assert f">{label}</a>" in page
        tomorrow = today + dt.timedelta(days=1)
        today_url = f"?published_on__gte={today}&published_on__lt={tomorrow}"
        assert titles(client.get("/admin/shop/book" + today_url).text) == ["Book 000"]
        week = f"?published_on__gte={today - dt.timedelta(days=6)}&published_on__lt={tomorrow}"
        assert sorted(titles(client.get("/admin/shop/book" + week).text)) == [
            "Book 000",
            "Book 001",
        ]
        # the From/Before form, with one end left empty
        old = client.get(
            "/admin/shop/book?published_on__gte=2000-01-01&published_on__lt=2002-01-01"
        )
        assert titles(old.text) == ["Book 002"]
        assert titles(
            client.get("/admin/shop/book?published_on__lt=2002-01-01&published_on__gte=").text
        ) == ["Book 002"]
        assert titles(client.get("/admin/shop/book?published_on__isnull=1").text) == ["Book 003"]
        assert len(titles(client.get("/admin/shop/book?published_on__isnull=0").text)) == 3
        # filters combine with each other and with the search
        both = client.get("/admin/shop/book?published_on__isnull=0&length=long&q=book").text
        assert sorted(titles(both)) == ["Book 001", "Book 002"]


@pytest.mark.parametrize(
    "query",
    [
        "published_on__gte=yesterday",
        "published_on__gte=2024-1-1",
        "published_on__gte=2024-01-01T00:00",
        "published_on__lt=2024-13-01",
        "published_on__isnull=yes",
        "published_on__year=2024",
        "length=medium",
        "length=short&length=long",
        "pages__lt=100",
    ],
)
def test_bad_filter_values_are_a_400(admin_app: Any, users: Any, query: str) -> None:
    app = admin_app(filter_site())
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        assert client.get(f"/admin/shop/book?{query}").status_code == 400


def test_custom_filter(admin_app: Any, users: Any) -> None:
    app = admin_app(filter_site())
    users(app)
    dated_books(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        page = client.get("/admin/shop/book").text
        assert "By length" in page and ">Under 100 pages</a>" in page
        assert sorted(titles(client.get("/admin/shop/book?length=short").text)) == [
            "Book 000",
            "Book 003",
        ]
        selected = client.get("/admin/shop/book?length=long").text
        assert '<li class="selected"><a href="?length=long" aria-current="true">' in selected


def test_custom_filter_needs_title_and_parameter() -> None:
    class Nameless(SimpleListFilter):
        title = "x"

    site = Admin()
    with pytest.raises(TypeError, match="parameter_name"):
        site.register(Book, type("Bad", (BookAdmin,), {"list_filter": (Nameless,)}))
