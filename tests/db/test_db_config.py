"""Configuration: URL resolution, driver pairs, SQLite pragmas, naming convention."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import NullPool, QueuePool, StaticPool

from oakling import App
from oakling.config import load_settings
from oakling.db import Database, Model, async_url, default_url, sync_url
from oakling.db.engines import create_sync_engine


@pytest.mark.parametrize(
    ("url", "sync", "async_"),
    [
        ("sqlite:///app.db", "sqlite", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///app.db", "sqlite", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+psycopg", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+psycopg", "postgresql+asyncpg"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+psycopg", "postgresql+asyncpg"),
        ("postgresql+psycopg_async://u@h/db", "postgresql+psycopg", "postgresql+psycopg_async"),
        ("mysql://u@h/db", "mysql+pymysql", "mysql+aiomysql"),
        ("mysql+asyncmy://u@h/db", "mysql+pymysql", "mysql+asyncmy"),
        ("mariadb://u@h/db", "mariadb+pymysql", "mariadb+aiomysql"),
    ],
)
def test_one_url_gives_a_driver_pair(url: str, sync: str, async_: str) -> None:
    assert sync_url(url).drivername == sync
    assert async_url(url).drivername == async_
    assert sync_url(url).database == async_url(url).database


def test_unknown_async_backend_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no asyncio driver known for 'oracle'"):
        async_url("oracle://u@h/db")


def test_url_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OAKLING_DATABASE_URL", raising=False)
    assert default_url() == f"sqlite:///{tmp_path / (tmp_path.name + '.db')}"
    assert Database().url().database == str(tmp_path / (tmp_path.name + ".db"))
    monkeypatch.setenv("OAKLING_DATABASE_URL", "postgresql://env@h/envdb")
    monkeypatch.setenv("OAKLING_DATABASE_BINDS", '{"logs": "sqlite:///logs.db"}')
    settings = load_settings(SECRET_KEY="k" * 50)
    database = Database()
    App(settings=settings, plugins=[database])
    assert database.url().render_as_string() == "postgresql+psycopg://env@h/envdb"
    assert database.async_url().drivername == "postgresql+asyncpg"
    assert database.url("logs").database == "logs.db"
    assert Database("mysql://code@h/x").url().drivername == "mysql+pymysql"


def test_bad_binds_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAKLING_DATABASE_BINDS", "not json")
    database = Database("sqlite://")
    with pytest.raises(Exception, match="DATABASE_BINDS must be a JSON object"):
        database.url()


@pytest.mark.anyio
async def test_sqlite_has_wal_and_foreign_keys_sync_and_async(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        with database.sync_engine().connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        async with database.async_engine().connect() as async_connection:
            assert (await async_connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await async_connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await database.dispose()


def test_in_memory_sqlite_is_shared_across_threads() -> None:
    import threading

    engine = create_sync_engine("sqlite://")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    seen: list[object] = []

    def read() -> None:
        with engine.connect() as other:
            seen.append(other.execute(text("SELECT COUNT(*) FROM t")).scalar())

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    engine.dispose()
    assert seen == [0]


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # an import of it now fails
    with pytest.raises(ImportError, match=r"pip install 'oakling\[postgres\]'"):
        create_sync_engine("postgresql://u@h/db")


def test_constraints_follow_the_naming_convention() -> None:
    suffix = os.urandom(4).hex()

    class Parent(Model):
        __tablename__ = f"parent_{suffix}"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Child(Model):
        __tablename__ = f"child_{suffix}"
        __table_args__ = (
            UniqueConstraint("code"),
            CheckConstraint("size > 0", name="size_positive"),
            Index(None, "size"),
        )
        id: Mapped[int] = mapped_column(primary_key=True)
        code: Mapped[str] = mapped_column(String(10))
        size: Mapped[int]
        parent_id: Mapped[int] = mapped_column(ForeignKey(f"parent_{suffix}.id"))

    try:
        from sqlalchemy.schema import CreateTable

        ddl = str(CreateTable(Child.__table__).compile())
        child = f"child_{suffix}"
        assert f"CONSTRAINT pk_{child} PRIMARY KEY" in ddl
        assert f"CONSTRAINT uq_{child}_code UNIQUE" in ddl
        assert f"CONSTRAINT ck_{child}_size_positive CHECK" in ddl
        assert f"CONSTRAINT fk_{child}_parent_id_parent_{suffix} FOREIGN KEY" in ddl
        assert {index.name for index in Child.__table__.indexes} == {f"ix_{child}_size"}
    finally:
        Model.metadata.remove(Child.__table__)
        Model.metadata.remove(Parent.__table__)


@pytest.mark.parametrize(
    "url", ["sqlite:///{tmp}/pool.db", "postgresql://u@h/db", "mysql://u@h/db"]
)
def test_pool_defaults_reach_both_engines(url: str, tmp_path: Path) -> None:
    from oakling.db.engines import MAX_OVERFLOW, POOL_SIZE, POOL_TIMEOUT

    database = Database(url.format(tmp=tmp_path))
    pools = [database.sync_engine().pool, database.async_engine().sync_engine.pool]
    for pool in pools:
        assert isinstance(pool, QueuePool)
        assert (pool.size(), pool._max_overflow, pool.timeout()) == (10, 10, 3.0)
    assert (POOL_SIZE, MAX_OVERFLOW, POOL_TIMEOUT) == (10, 10, 3.0)  # what docs/db.md states


def test_engine_options_override_the_pool_defaults(tmp_path: Path) -> None:
    options = {"pool_size": 3, "max_overflow": 0, "pool_timeout": 1.5}
    database = Database("postgresql://u@h/db", engine_options=options)
    for pool in (database.sync_engine().pool, database.async_engine().sync_engine.pool):
        assert (pool.size(), pool._max_overflow, pool.timeout()) == (3, 0, 1.5)


def test_a_pool_without_a_size_takes_no_pool_defaults(tmp_path: Path) -> None:
    # NullPool refuses pool_size / max_overflow / pool_timeout: oakling must not add them.
    database = Database(f"sqlite:///{tmp_path / 'null.db'}", engine_options={"poolclass": NullPool})
    assert isinstance(database.sync_engine().pool, NullPool)
    with database.sync_engine().connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    assert isinstance(Database("sqlite://").sync_engine().pool, StaticPool)  # in memory: shared
