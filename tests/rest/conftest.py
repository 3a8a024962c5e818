"""Fixtures for the REST tests: an app with the db, sessions and auth batteries.

- ``rest_url``: a database URL with the auth tables and ``rest_note``, empty:
  a SQLite file per test, or (the ``backend`` parameter) the PostgreSQL and
  MariaDB of ``OAKLING_TEST_POSTGRES_URL`` / ``OAKLING_TEST_MARIADB_URL``.
- ``make_app(router)``: the app serving ``router`` (plus the OpenAPI plugin).
- ``add_user`` / ``token_for`` / ``add_notes``: rows made directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Table, text

from oakling import App
from oakling.auth import Auth, Permission
from oakling.auth.models import sync_permissions_sync
from oakling.auth.services import create_user_sync
from oakling.auth.tokens import create_token_sync
from oakling.config import Settings
from oakling.db import Database, Model
from oakling.openapi import OpenAPI
from oakling.sessions import Sessions
from tests.auth.conftest import AUTH_TABLES
from tests.conftest import database_problem, skip_or_fail

from .notes import Note

SECRET = "rest-test-secret-" + "r" * 40
PASSWORD = "correct horse battery staple"
PG_URL = os.environ.get("OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("OAKLING_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
TABLES: list[Table] = [*AUTH_TABLES, Note.__table__]  # type: ignore[list-item]


def _url(kind: str, tmp_path: Any) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'rest.db'}"
    url = PG_URL if kind == "postgresql" else MARIADB_URL
    problem = database_problem(url)
    if problem:
        skip_or_fail(problem)
    return url


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sync", "async"])
def flavor(request: pytest.FixtureRequest) -> str:
    """Run the test through a Session (sync handlers) and an AsyncSession."""
    return str(request.param)


@pytest.fixture
def rest_url(backend: str, tmp_path: Any) -> Iterator[str]:
    url = _url(backend, tmp_path)
    setup = Database(url)
    Model.metadata.drop_all(setup.sync_engine(), tables=TABLES)
    Model.metadata.create_all(setup.sync_engine(), tables=TABLES)
    with setup.session() as session:
        sync_permissions_sync(session, [Note])
        session.commit()
    try:
        yield url
    finally:
        if backend != "sqlite":
            Model.metadata.drop_all(setup.sync_engine(), tables=TABLES)
        setup.sync_engine().dispose()


@pytest.fixture
def make_app(rest_url: str) -> Iterator[Callable[..., App]]:
    built: list[App] = []

    def build(*routers: Any) -> App:
        app = App(
            settings=Settings(SECRET_KEY=SECRET),
            plugins=[Database(rest_url), Sessions(), Auth(), OpenAPI(title="Notes", version="1")],
        )
        for router in routers:
            app.include(router)
        built.append(app)
        return app

    yield build
    for app in built:
        app.extensions["db"].sync_engine().dispose()


def add_user(app: App, username: str, *, perms: tuple[str, ...] = (), **fields: Any) -> int:
    with app.extensions["db"].session() as session:
        user = create_user_sync(session, username, PASSWORD, validate=False, **fields)
        for codename in perms:
            label, _, name = codename.partition(".")
            permission = session.query(Permission).filter_by(codename=codename).one_or_none()
            if permission is None:
                raise AssertionError(f"no permission {codename} ({label}, {name})")
            user.user_permissions.append(permission)
        session.commit()
        return int(user.id)


def token_for(app: App, username: str, scopes: tuple[str, ...] = ()) -> dict[str, str]:
    """Return the Authorization header of a new token of ``username``."""
    from oakling.auth.models import User

    with app.extensions["db"].session() as session:
        user = session.query(User).filter_by(username=username).one()
        _, raw = create_token_sync(session, user, name="test", scopes=scopes)
        session.commit()
    return {"Authorization": f"Bearer {raw}"}


def add_notes(app: App, count: int, owner_id: int | None = None, **fields: Any) -> list[int]:
    with app.extensions["db"].session() as session:
        notes = [
            Note(title=f"Note {index:03d}", priority=index % 5, owner_id=owner_id, **fields)
            for index in range(count)
        ]
        session.add_all(notes)
        session.commit()
        return [note.id for note in notes]


def count_notes(app: App) -> int:
    with app.extensions["db"].sync_engine().connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM rest_note")).scalar_one())
