"""Several databases: a model's ``__bind_key__`` routes its reads and writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from db_support import (
    add_route,
    backend_url,
    count,
    create_tables,
    define_models,
    drop_tables,
    make_app,
)
from sqlalchemy import inspect, select

from oakling.db import Database
from oakling.exceptions import ImproperlyConfigured
from oakling.requests import Request
from oakling.testing import TestClient


@pytest.fixture(params=["sqlite", "postgresql"])
def default_backend(request: pytest.FixtureRequest) -> str:
    """The default database: SQLite (two files) or PostgreSQL (+ a SQLite file)."""
    return str(request.param)


def test_bound_model_lives_in_its_own_database(
    default_backend: str, flavor: str, tmp_path: Path
) -> None:
    other_file = tmp_path / "other.db"
    database = Database(
        backend_url(default_backend, tmp_path), binds={"other": f"sqlite:///{other_file}"}
    )
    local = define_models()
    remote = define_models(bind_key="other")
    create_tables(database, local)
    create_tables(database, remote, bind="other")
    app = make_app(database)

    def write(session: Any, request: Request) -> Any:
        author = local.Author(name="local")
        remote_author = remote.Author(name="remote")
        session.add_all([author, remote_author])
        session.flush()
        session.add(remote.Book(title="Far away", author_id=remote_author.id))
        return {"ok": True}

    def read(session: Any, request: Request) -> Any:
        return {
            "local": list(session.scalars(select(local.Author.name))),
            "remote": list(session.scalars(select(remote.Author.name))),
            "books": list(session.scalars(select(remote.Book.title))),
        }

    add_route(app, flavor, "POST", "/", write)
    add_route(app, flavor, "GET", "/", read)
    try:
        with TestClient(app) as client:
            assert client.post("/").status_code == 200
            assert client.get("/").json() == {
                "local": ["local"],
                "remote": ["remote"],
                "books": ["Far away"],
            }
        with sqlite3.connect(other_file) as raw:
            rows = raw.execute(f"SELECT name FROM {remote.Author.__tablename__}").fetchall()
        assert rows == [("remote",)]
        assert count(database, local.Author) == 1
        default_tables = inspect(database.sync_engine()).get_table_names()
        assert remote.Author.__tablename__ not in default_tables
        assert local.Author.__tablename__ in default_tables
        other_tables = inspect(database.sync_engine("other")).get_table_names()
        assert local.Author.__tablename__ not in other_tables
    finally:
        drop_tables(database, local)
        drop_tables(database, remote, bind="other")
        database.sync_engine().dispose()
        database.sync_engine("other").dispose()


def test_create_all_puts_each_table_in_its_database(tmp_path: Path) -> None:
    database = Database(
        f"sqlite:///{tmp_path / 'main.db'}", binds={"other": f"sqlite:///{tmp_path / 'o.db'}"}
    )
    local = define_models()
    remote = define_models(bind_key="other")
    try:
        database.create_all()
        main_tables = set(inspect(database.sync_engine()).get_table_names())
        other_tables = set(inspect(database.sync_engine("other")).get_table_names())
        assert local.Author.__tablename__ in main_tables
        assert remote.Author.__tablename__ not in main_tables
        assert remote.Author.__tablename__ in other_tables
        assert local.Author.__tablename__ not in other_tables
    finally:
        drop_tables(database, local)
        drop_tables(database, remote, bind="other")
        database.sync_engine().dispose()
        database.sync_engine("other").dispose()


def test_unknown_bind_key_is_a_clear_error(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'main.db'}")
    remote: SimpleNamespace = define_models(bind_key="missing")
    try:
        with database.session() as session, pytest.raises(ImproperlyConfigured, match="missing"):
            session.scalars(select(remote.Author)).all()
        with pytest.raises(ImproperlyConfigured, match="no database bind 'missing'"):
            database.sync_engine("missing")
    finally:
        for model in (remote.Author, remote.Book):
            database.metadata.remove(model.__table__)
        database.sync_engine().dispose()
