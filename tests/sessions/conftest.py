"""Fixtures for the sessions tests: one app factory per backend, real services.

``backend_kind`` runs a test on the signed cookie, Redis (127.0.0.1:6379)
and the database backend on SQLite, PostgreSQL (127.0.0.1:5432, db
``test``) and MariaDB (127.0.0.1:3306, db ``test``). Redis keys get a
prefix unique to the test and are deleted afterwards; the
``oakling_session`` table is shared (ids are random).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from session_support import (
    BACKENDS,
    DATABASE_URLS,
    REDIS_URL,
    SECRET,
    AppFactory,
    _database_problem,
    _delete_redis_keys,
    _redis_problem,
    create_session_table,
    routes,
)

from oakling import App
from oakling.config import Settings
from oakling.sessions import RedisBackend, Sessions
from tests.conftest import skip_or_fail


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_app(
    backend_kind: str, tmp_path: Path, as_handler: Callable[[Callable[..., Any]], Any]
) -> Iterator[AppFactory]:
    """Return ``make_app(**sessions_kwargs, settings_extra=..., secret_key=...)``."""
    redis_prefix = f"oakling-test:{uuid.uuid4().hex}:"
    databases: list[Any] = []
    if backend_kind == "redis":
        problem = _redis_problem()
        if problem:
            skip_or_fail(problem)
    if backend_kind in DATABASE_URLS:
        problem = _database_problem(DATABASE_URLS[backend_kind])
        if problem:
            skip_or_fail(problem)

    def factory(
        *,
        secret_key: str = SECRET,
        fallbacks: list[str] | None = None,
        extra: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> App:
        settings = Settings(
            SECRET_KEY=secret_key, SECRET_KEY_FALLBACKS=fallbacks or [], extra=extra or {}
        )
        plugins: list[Any] = []
        if backend_kind == "cookie":
            plugins.append(Sessions(**kwargs))
        elif backend_kind == "redis":
            plugins.append(Sessions(RedisBackend(REDIS_URL, prefix=redis_prefix), **kwargs))
        else:
            from oakling.db import Database
            from oakling.sessions.database import DatabaseBackend

            url = DATABASE_URLS.get(backend_kind) or f"sqlite:///{tmp_path / 'sessions.db'}"
            database = Database(url)
            databases.append(database)
            create_session_table(database.sync_engine())
            plugins += [database, Sessions(DatabaseBackend(), **kwargs)]
        return routes(App(settings=settings, plugins=plugins), as_handler)

    yield factory
    for database in databases:
        database.sync_engine().dispose()
    if backend_kind == "redis":
        _delete_redis_keys(redis_prefix)
