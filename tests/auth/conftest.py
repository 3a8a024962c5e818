"""Fixtures for the auth tests: a Database with the auth tables, per backend.

The auth tables have fixed names (``auth_user``, ...), so on PostgreSQL the
tests get a private database, created for the test session and dropped at
its end: test runs sharing the server's ``test`` database don't collide.
SQLite uses a file in a temporary folder.

Fixtures (shared by tests/auth/*; append new ones at the end of this file):

- ``auth_backend``: "sqlite" or "postgresql" (session-scoped parameter).
- ``auth_database``: a :class:`~oakling.db.Database` whose auth tables exist.
- ``database``: the same, under the name :mod:`oakling.db.testing` expects.
- ``db`` / ``async_db``: a sync ``Session`` / an ``AsyncSession`` whose writes
  (and those of the app's request sessions) roll back after the test.
- ``outbox``: the memory mail outbox, emptied around the test.
- ``redis_url``: the real Redis, or a skip (a failure in CI).
- ``peer_from_header(app)``: the app with ``X-Peer`` as the client address.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Table, make_url

from oakling import Request
from oakling.auth.models import (
    APIToken,
    Group,
    Permission,
    User,
    auth_group_permissions,
    auth_user_groups,
    auth_user_permissions,
)
from oakling.db import Database, Model
from oakling.db import testing as db_testing
from tests.conftest import skip_or_fail

PG_URL = os.environ.get("OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

AUTH_TABLES: list[Table] = [
    User.__table__,  # type: ignore[list-item]  # NOTE: a mapped class's Table
    Group.__table__,  # type: ignore[list-item]
    Permission.__table__,  # type: ignore[list-item]
    auth_user_groups,
    auth_user_permissions,
    auth_group_permissions,
    APIToken.__table__,  # type: ignore[list-item]
]

db = db_testing.db
async_db = db_testing.async_db


def _admin_connect() -> Any:
    import psycopg

    url = make_url(PG_URL)
    return psycopg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        dbname=url.database or "postgres",
        autocommit=True,
        connect_timeout=3,
    )


@pytest.fixture(scope="session")
def auth_pg_url() -> Iterator[str]:
    """Create a private PostgreSQL database for this test session; yield its URL."""
    try:
        admin = _admin_connect()
    except Exception as ex:  # noqa: BLE001
        skip_or_fail(f"PostgreSQL at {PG_URL} unreachable: {ex}")
    name = f"oakling_auth_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin_connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def auth_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def auth_database(
    auth_backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A Database on the backend, with the auth tables created once."""
    if auth_backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('auth') / 'auth.db'}"
    else:
        url = request.getfixturevalue("auth_pg_url")
    database = Database(url)
    Model.metadata.create_all(database.sync_engine(), tables=AUTH_TABLES)
    yield database
    database.sync_engine().dispose()


@pytest.fixture
def database(auth_database: Database) -> Database:
    """The auth Database, for oakling.db.testing's ``db`` and ``async_db``."""
    return auth_database


# -- Django, for hashes and HMACs made by Django itself -------------------------

DJANGO_SECRET_KEY = "django-insecure-" + "k" * 40


@pytest.fixture(scope="session")
def django_hashers() -> Any:
    """Return ``django.contrib.auth.hashers``, Django configured for it."""
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            SECRET_KEY=DJANGO_SECRET_KEY,
            PASSWORD_HASHERS=[
                "django.contrib.auth.hashers.PBKDF2PasswordHasher",
                "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
                "django.contrib.auth.hashers.Argon2PasswordHasher",
            ],
        )
    from django.contrib.auth import hashers

    return hashers


# -- auth-web: whole apps served through the test client -----------------------
#
# - ``web_url``: a database URL whose auth tables exist and are empty: a new
#   SQLite file per test, or (``indirect`` parameter "postgresql") the private
#   PostgreSQL database, emptied after the test.
# - ``make_app``: builds ``App(plugins=[Database(url), Sessions(), Auth(...)])``
#   with a 40-character key and the "memory" mail backend.
# - ``add_user``: creates a user in an app's database (committed); returns its id.

WEB_SECRET_KEY = "auth-web-test-secret-" + "q" * 40
WEB_PASSWORD = "correct horse battery staple"


@pytest.fixture
def web_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'web.db'}"
    else:
        url = request.getfixturevalue("auth_pg_url")
    setup = Database(url)
    Model.metadata.create_all(setup.sync_engine(), tables=AUTH_TABLES)
    try:
        yield url
    finally:
        if kind != "sqlite":
            from sqlalchemy import text

            names = ", ".join(table.name for table in AUTH_TABLES)
            with setup.sync_engine().begin() as connection:
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        setup.sync_engine().dispose()


@pytest.fixture
def make_app(web_url: str) -> Iterator[Any]:
    from oakling import App
    from oakling.auth import Auth
    from oakling.config import Settings
    from oakling.sessions import Sessions

    built: list[Any] = []

    def build(
        *,
        extra: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        after: tuple[Any, ...] = (),
        **auth_options: Any,
    ) -> Any:
        fields = {"SECRET_KEY": WEB_SECRET_KEY, **(settings or {})}
        config = Settings(**fields, extra={"EMAIL_BACKEND": "memory", **(extra or {})})
        app = App(
            settings=config,
            plugins=[Database(web_url), Sessions(), Auth(**auth_options), *after],
        )
        built.append(app)
        return app

    yield build
    for app in built:
        app.extensions["db"].sync_engine().dispose()


@pytest.fixture
def add_user() -> Any:
    from oakling.auth.services import create_user_sync

    def create(app: Any, username: str = "ann", password: str = WEB_PASSWORD, **fields: Any) -> int:
        with app.extensions["db"].session() as session:
            user = create_user_sync(session, username, password, validate=False, **fields)
            session.commit()
            return int(user.id)

    return create


@pytest.fixture
def outbox() -> Iterator[list[Any]]:
    """The memory mail backend's outbox, empty before and after the test."""
    from oakling.mail import outbox as sent

    sent.clear()
    yield sent
    sent.clear()


@pytest.fixture
def redis_url() -> str:
    """The real Redis's URL (skipped, or failed in CI, when it is down)."""
    import redis

    url = os.environ.get("OAKLING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as ex:
        skip_or_fail(f"Redis at {url} unreachable: {ex}")
    return url


def add_whoami(app: Any) -> None:
    """Add ``GET /whoami``: the logged-in username, or ``anonymous``."""

    @app.get("/whoami")
    def whoami(request: Request) -> str:
        return request.user.username or "anonymous"


def log_in(client: Any, password: str = WEB_PASSWORD) -> int:
    """Post the login form as ``ann``; return the status (303 on success)."""
    return int(
        client.post(
            "/auth/login",
            data={"username": "ann", "password": password},
            follow_redirects=False,
        ).status_code
    )
