"""Model signals on SQLAlchemy events: pre/post save and delete, and after commit."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from db_support import add_route, count, make_app

from oakling import Request
from oakling.db import Database
from oakling.signals import post_delete, post_save, pre_delete, pre_save
from oakling.testing import TestClient


class Recorder:
    """Records (signal, model name, instance name, created) for each call."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.calls: list[tuple[str, str, bool | None]] = []

    def __call__(self, sender: Any, instance: Any, **extra: Any) -> None:
        self.calls.append((self.label, instance.name, extra.get("created")))


def test_save_and_delete_signals_in_order(database: Database, models: SimpleNamespace) -> None:
    Author = models.Author
    pre, post, pre_del, post_del = (
        Recorder("pre_save"),
        Recorder("post_save"),
        Recorder("pre_delete"),
        Recorder("post_delete"),
    )
    with (
        pre_save.connected_to(pre, sender=Author),
        post_save.connected_to(post, sender=Author),
        pre_delete.connected_to(pre_del, sender=Author),
        post_delete.connected_to(post_del, sender=Author),
    ):
        with database.session() as session:
            ann = Author(name="ann")
            session.add(ann)
            session.commit()
            ann.name = "anne"
            session.commit()
            session.refresh(ann)  # reading is not a save
            session.delete(ann)
            session.commit()
    assert pre.calls == [("pre_save", "ann", True), ("pre_save", "anne", False)]
    assert post.calls == [("post_save", "ann", True), ("post_save", "anne", False)]
    assert pre_del.calls == [("pre_delete", "anne", None)]
    assert post_del.calls == [("post_delete", "anne", None)]


def test_pre_save_can_change_the_instance(database: Database, models: SimpleNamespace) -> None:
    Author = models.Author

    def normalise(sender: Any, instance: Any, **extra: Any) -> None:
        instance.name = instance.name.strip().lower()

    with pre_save.connected_to(normalise, sender=Author):
        with database.session() as session:
            session.add(Author(name="  ANN "))
            session.commit()
            assert session.query(Author).one().name == "ann"


def test_after_commit_receivers_never_see_a_rolled_back_change(
    database: Database, models: SimpleNamespace
) -> None:
    Author = models.Author
    immediate, committed = Recorder("now"), Recorder("committed")
    with (
        post_save.connected_to(immediate, sender=Author),
        post_save.connected_to(committed, sender=Author, after_commit=True),
    ):
        with database.session() as session:
            session.add(Author(name="rolled-back"))
            session.flush()
            session.rollback()
            session.add(Author(name="kept"))
            session.flush()
            assert committed.calls == []  # flushed, not committed yet
            session.commit()
    assert immediate.calls == [("now", "rolled-back", True), ("now", "kept", True)]
    assert committed.calls == [("committed", "kept", True)]


def test_a_rolled_back_savepoint_is_not_reported_after_commit(
    database: Database, models: SimpleNamespace
) -> None:
    Author = models.Author
    committed = Recorder("committed")
    with post_save.connected_to(committed, sender=Author, after_commit=True):
        with database.session() as session:
            savepoint = session.begin_nested()
            session.add(Author(name="in-savepoint"))
            session.flush()
            savepoint.rollback()
            session.commit()
    assert committed.calls == []


def test_async_sessions_and_async_receivers(database: Database, models: SimpleNamespace) -> None:
    Author = models.Author
    seen: list[str] = []

    async def on_commit(sender: Any, instance: Any, created: bool, **extra: Any) -> None:
        seen.append(f"{instance.name} created={created}")

    async def run() -> None:
        with post_save.connected_to(on_commit, sender=Author, after_commit=True):
            async with database.async_session() as session:
                session.add(Author(name="async-ann"))
                await session.commit()
            await asyncio.sleep(0)  # the receiver runs as a task on this loop
            await asyncio.sleep(0)
        await database.async_engine().dispose()

    asyncio.run(run())
    assert seen == ["async-ann created=True"]


def test_handlers_request_transaction_rolled_back_by_an_error(
    database: Database, models: SimpleNamespace, flavor: str
) -> None:
    """A handler that fails after adding a row: the after-commit receiver hears nothing."""
    Author = models.Author
    committed = Recorder("committed")
    app = make_app(database)

    def add_then_fail(session: Any, request: Request) -> Any:
        session.add(Author(name=request.query_params["name"]))
        session.flush()
        if request.query_params.get("fail"):
            raise RuntimeError("after the flush")
        return {"ok": True}

    add_route(app, flavor, "POST", "/authors", add_then_fail)
    with post_save.connected_to(committed, sender=Author, after_commit=True):
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.post("/authors", params={"name": "bad", "fail": "1"}).status_code == 500
            assert client.post("/authors", params={"name": "good"}).status_code == 200
    assert count(database, Author) == 1
    assert committed.calls == [("committed", "good", True)]


def test_no_listener_is_registered_before_a_receiver_connects() -> None:
    import subprocess
    import sys

    code = (
        "from sqlalchemy import event\n"
        "from sqlalchemy.orm import Session\n"
        "import oakling.signals, oakling.db\n"
        "from oakling import _model_signals\n"
        "print(event.contains(Session, 'before_flush', _model_signals._before_flush))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("signal", [pre_save, post_save, pre_delete, post_delete])
def test_disconnecting_stops_the_calls(
    database: Database, models: SimpleNamespace, signal: Any
) -> None:
    recorder = Recorder("x")
    signal.connect(recorder, sender=models.Author, weak=False)
    signal.disconnect(recorder, sender=models.Author)
    with database.session() as session:
        author = models.Author(name="quiet")
        session.add(author)
        session.commit()
        session.delete(author)
        session.commit()
    assert recorder.calls == []
