"""date_hierarchy: drilling the changelist down by year, month and day."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from oakling.admin import Admin
from oakling.testing import TestClient

from .conftest import BookAdmin, add_books, login
from .shop import Book
from .test_admin_changelist import titles

BACKENDS = pytest.mark.parametrize("admin_url", ["sqlite", "postgresql", "mariadb"], indirect=True)


def hierarchy_site() -> Admin:
    site = Admin()
    site.register(Book, type("DatedBooks", (BookAdmin,), {"date_hierarchy": "published_on"}))
    return site


def dated(app: Any) -> None:
    ids = add_books(app, 4)
    days = [dt.date(2020, 3, 4), dt.date(2020, 3, 9), dt.date(2022, 11, 1), None]
    with app.extensions["db"].session() as session:
        for book_id, day in zip(ids, days, strict=True):
            session.get(Book, book_id).published_on = day
        session.commit()


@BACKENDS
def test_drill_down_by_year_month_and_day(admin_app: Any, users: Any) -> None:
    app = admin_app(hierarchy_site())
    users(app)
    dated(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        top = client.get("/admin/shop/book").text
        assert '<nav class="date-hierarchy"' in top
        assert 'href="?published_on__year=2020">2020</a>' in top
        assert ">2021</a>" in top and ">2022</a>" in top  # the span of the list's dates
        year = client.get("/admin/shop/book?published_on__year=2020").text
        assert sorted(titles(year)) == ["Book 000", "Book 001"]
        assert ">March 2020</a>" in year and "November" not in year and "All dates" in year
        month = client.get("/admin/shop/book?published_on__year=2020&published_on__month=3").text
        assert ">March 4</a>" in month and ">March 9</a>" in month
        day = client.get(
            "/admin/shop/book?published_on__year=2020&published_on__month=3&published_on__day=9"
        ).text
        assert titles(day) == ["Book 001"]
        assert '<li class="selected"><a href="?published_on__year=2020' in day


@pytest.mark.parametrize(
    "query",
    [
        "published_on__month=3",
        "published_on__year=2020&published_on__day=3",
        "published_on__year=20x0",
        "published_on__year=0",
        "published_on__year=2020&published_on__month=13",
        "published_on__year=2021&published_on__month=2&published_on__day=30",
        "published_on__year=2020&published_on__year=2021",
    ],
)
def test_bad_dates_are_a_400(admin_app: Any, users: Any, query: str) -> None:
    app = admin_app(hierarchy_site())
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        assert client.get(f"/admin/shop/book?{query}").status_code == 400


def test_date_hierarchy_must_be_a_date_column() -> None:
    site = Admin()
    with pytest.raises(TypeError, match="not a date"):
        site.register(Book, type("Bad", (BookAdmin,), {"date_hierarchy": "title"}))
