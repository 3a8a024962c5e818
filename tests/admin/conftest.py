"""Fixtures for the admin tests: a whole app (db, sessions, auth, CSRF, admin).

- ``admin_url``: a database URL with the auth, shop and admin_log tables,
  empty: a SQLite file per test, or (indirect "postgresql"/"mariadb") the
  private server databases, emptied after the test.
- ``admin_app(site=None)``: builds the app; ``site`` defaults to :func:`shop_site`.
- ``users``: creates ``root`` (superuser), ``staff`` (staff, no permission),
  ``viewer`` (staff with view permissions on books), ``plain`` (not staff).
- ``login(client, name)`` and ``csrf(client, path)`` helpers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Table, make_url, text

from oakling import App
from oakling.admin import Admin, LogEntry, ModelAdmin, action
from oakling.auth import Auth, Permission
from oakling.auth.models import sync_permissions_sync
from oakling.auth.services import create_user_sync
from oakling.config import Settings
from oakling.csrf import CSRF
from oakling.db import Database, Model
from oakling.sessions import Sessions
from oakling.testing import TestClient
from tests.auth.conftest import AUTH_TABLES
from tests.conftest import skip_or_fail

from .shop import Author, Book, Shelf, ShelfItem

PASSWORD = "correct horse battery staple"
SECRET = "admin-test-secret-" + "z" * 40
PG_URL = os.environ.get("OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("OAKLING_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")

TABLES: list[Table] = [
    *AUTH_TABLES,
    Author.__table__,  # type: ignore[list-item]
    Book.__table__,  # type: ignore[list-item]
    LogEntry.__table__,  # type: ignore[list-item]
]


class BookAdmin(ModelAdmin):
    list_display = ("title", "author__name", "is_published", "genre", "pages", "link")
    search_fields = ("title", "^author__name", "=link")
    list_filter = ("is_published", "genre", "author")
    list_per_page = 5
    actions = ("publish",)

    @action(description="Mark selected books as published")
    def publish(self, request: Any, session: Any, objects: list[Book]) -> None:
        for book in objects:
            book.is_published = True


class AuthorAdmin(ModelAdmin):
    list_display = ("name", "email")
    search_fields = ("name",)
    exclude = ("secret_note",)


def shop_site(**options: Any) -> Admin:
    site = Admin(**options)
    site.register(Book, BookAdmin)
    site.register(Author, AuthorAdmin)
    return site


@pytest.fixture
def admin_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'admin.db'}"
    elif kind == "postgresql":
        url = PG_URL
    else:
        url = MARIADB_URL
    setup = Database(url)
    try:
        with setup.sync_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as ex:  # noqa: BLE001
        setup.sync_engine().dispose()
        skip_or_fail(f"{kind} at {make_url(url).render_as_string()} unreachable: {ex}")
    Model.metadata.drop_all(setup.sync_engine(), tables=TABLES)
    Model.metadata.create_all(setup.sync_engine(), tables=TABLES)
    with setup.session() as session:
        sync_permissions_sync(session, [Author, Book])
        session.commit()
    try:
        yield url
    finally:
        if kind != "sqlite":
            Model.metadata.drop_all(setup.sync_engine(), tables=TABLES)
        setup.sync_engine().dispose()


SHELF_TABLES: list[Table] = [Shelf.__table__, ShelfItem.__table__]  # type: ignore[list-item]


@pytest.fixture
def shelf_tables(admin_url: str) -> Iterator[None]:
    """Create the shelf tables (children of books, for inlines and related searches)."""
    engine = Database(admin_url).sync_engine()  # NOTE: its own engine, disposed below
    # NOTE: table by table: metadata.drop_all(tables=...) drops the shared enum types too.
    for table in reversed(SHELF_TABLES):
        table.drop(engine, checkfirst=True)
    for table in SHELF_TABLES:
        table.create(engine)
    try:
        yield
    finally:
        for table in reversed(SHELF_TABLES):
            table.drop(engine, checkfirst=True)
        engine.dispose()


@pytest.fixture
def admin_app(admin_url: str) -> Iterator[Any]:
    built: list[App] = []

    def build(site: Admin | None = None) -> App:
        config = Settings(SECRET_KEY=SECRET, extra={"EMAIL_BACKEND": "memory"})
        app = App(
            settings=config,
            plugins=[Database(admin_url), Sessions(), Auth(), CSRF(), site or shop_site()],
        )
        built.append(app)
        return app

    yield build
    for app in built:
        app.extensions["db"].sync_engine().dispose()


def add_user(app: App, username: str, *, perms: tuple[str, ...] = (), **fields: Any) -> int:
    with app.extensions["db"].session() as session:
        user = create_user_sync(session, username, PASSWORD, validate=False, **fields)
        for codename in perms:
            permission = session.query(Permission).filter_by(codename=codename).one()
            user.user_permissions.append(permission)
        session.commit()
        return int(user.id)


@pytest.fixture
def users() -> Any:
    def create(app: App) -> dict[str, int]:
        return {
            "root": add_user(app, "root", is_staff=True, is_superuser=True),
            "staff": add_user(app, "staff", is_staff=True),
            "viewer": add_user(app, "viewer", is_staff=True, perms=("shop.view_book",)),
            "plain": add_user(app, "plain"),
        }

    return create


def login(client: TestClient, username: str) -> None:
    response = client.post(
        "/auth/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf_token": csrf(client, "/auth/login"),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


_TOKEN = re.compile(
    r'name="csrf_token"(?: type="hidden")? value="([^"]+)"|value="([^"]+)" name="csrf_token"'
)


def csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page.text
    )
    assert match, page.text
    return match.group(1)


def add_books(app: App, count: int, author_name: str = "Ann") -> list[int]:
    with app.extensions["db"].session() as session:
        author = session.query(Author).filter_by(name=author_name).one_or_none()
        if author is None:
            author = Author(name=author_name)
            session.add(author)
        books = [
            Book(title=f"Book {index:03d}", author=author, pages=index) for index in range(count)
        ]
        session.add_all(books)
        session.commit()
        return [book.id for book in books]
