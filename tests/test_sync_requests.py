"""One thread per sync request: a sync handler's hooks, dependencies and cleanup share a thread."""

# NOTE: no ``from __future__ import annotations``: the dependencies are
# defined inside the app factories, and their annotations must resolve there.

import contextvars
import sqlite3
import threading
from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
import pytest

from oakling import App, Depends, Header, HTTPException, Request, Response
from oakling.testing import TestClient

SECRET = "sync-requests-test-secret-key-" + "s" * 30
_seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen")


class Item(msgspec.Struct):
    title: str
    done: bool


def _app(log: list[tuple[str, int]]) -> App:
    app = App(secret_key=SECRET)

    def record(piece: str) -> None:
        log.append((piece, threading.get_ident()))

    @app.before_request
    def first_hook() -> None:
        record("before 1")

    @app.before_request
    def second_hook(request: Request) -> None:
        record("before 2")
        _seen.set(f"set in a hook for {request.url.path}")

    def session_dependency() -> Iterator[str]:
        record("dependency enter")
        try:
            yield "session"
        finally:
            record("dependency cleanup")

    def plain_dependency(session: Annotated[str, Depends(session_dependency)]) -> str:
        record("plain dependency")
        return session + "+plain"

    @app.get("/items")
    def items(value: Annotated[str, Depends(plain_dependency)]) -> dict[str, str]:
        record("handler")
        return {"value": value, "var": _seen.get("unset")}

    @app.post("/items")
    def create(item: Item, value: Annotated[str, Depends(plain_dependency)]) -> dict[str, Any]:
        record("handler")
        return {"title": item.title, "value": value}

    @app.get("/boom")
    def boom(value: Annotated[str, Depends(session_dependency)]) -> str:
        record("handler")
        raise LookupError("the handler failed")

    @app.errorhandler(LookupError)
    def lookup_failed(request: Request, ex: Exception) -> Response:
        record("error handler")
        return Response(f"handled: {ex}", 409)

    @app.after_request
    def first_after(response: Response) -> None:
        record("after 1")

    @app.after_request
    def second_after(request: Request, response: Response) -> Response:
        record("after 2")
        response.headers["x-after"] = "yes"
        return response

    return app


ORDER = [
    "before 1",
    "before 2",
    "dependency enter",
    "plain dependency",
    "handler",
    "dependency cleanup",
    "after 1",
    "after 2",
]


def test_hooks_dependencies_handler_and_cleanup_share_one_thread_in_order() -> None:
    log: list[tuple[str, int]] = []
    with TestClient(_app(log)) as client:
        response = client.get("/items")
    assert response.status_code == 200, response.text
    assert response.json() == {"value": "session+plain", "var": "set in a hook for /items"}
    assert response.headers["x-after"] == "yes"
    assert [piece for piece, _ in log] == ORDER
    threads = {ident for _, ident in log}
    assert len(threads) == 1
    assert threads != {threading.get_ident()}  # NOTE: a worker thread, not the loop's


def test_each_request_gets_its_thread_once_and_a_typed_body_is_read_too() -> None:
    log: list[tuple[str, int]] = []
    with TestClient(_app(log)) as client:
        response = client.post("/items", json={"title": "write", "done": False})
        assert response.status_code == 200, response.text
        assert response.json() == {"title": "write", "value": "session+plain"}
        assert [piece for piece, _ in log] == ORDER
        assert len({ident for _, ident in log}) == 1
        log.clear()
        invalid = client.post("/items", json={"title": 3})
    assert invalid.status_code == 422
    # NOTE: the dependencies ran (and were cleaned up) before the body was
    # refused; the handler never ran.
    assert [piece for piece, _ in log] == [
        "before 1",
        "before 2",
        "dependency enter",
        "plain dependency",
        "dependency cleanup",
        "after 1",
        "after 2",
    ]
    assert len({ident for _, ident in log}) == 1


def test_an_exception_reaches_the_error_handler_and_cleanup_runs_in_the_same_thread() -> None:
    log: list[tuple[str, int]] = []
    with TestClient(_app(log)) as client:
        response = client.get("/boom")
    assert response.status_code == 409
    assert response.text == "handled: the handler failed"
    assert response.headers["x-after"] == "yes"
    assert [piece for piece, _ in log] == [
        "before 1",
        "before 2",
        "dependency enter",
        "handler",
        "dependency cleanup",
        "error handler",
        "after 1",
        "after 2",
    ]
    # NOTE: the sync error handler runs where App.error_response runs it (the
    # loop); every other sync piece runs in the request's thread.
    pieces = {piece: ident for piece, ident in log if piece != "error handler"}
    assert len(set(pieces.values())) == 1


@pytest.mark.parametrize("failing", ["before", "dependency", "cleanup", "after"])
def test_an_exception_in_any_piece_gets_the_error_handler(failing: str) -> None:
    app = App(secret_key=SECRET)
    cleaned: list[str] = []

    @app.before_request
    def hook() -> None:
        if failing == "before":
            raise LookupError("before")

    def dependency() -> Iterator[str]:
        if failing == "dependency":
            raise LookupError("dependency")
        try:
            yield "value"
        finally:
            cleaned.append("cleaned")
            if failing == "cleanup":
                raise LookupError("cleanup")

    @app.get("/")
    def index(value: Annotated[str, Depends(dependency)]) -> str:
        return value

    @app.after_request
    def after(response: Response) -> None:
        if failing == "after" and response.status_code == 200:
            raise LookupError("after")

    @app.errorhandler(LookupError)
    def lookup_failed(request: Request, ex: Exception) -> Response:
        return Response(f"handled {ex}", 409)

    with TestClient(app) as client:
        response = client.get("/")
    assert response.status_code == 409
    assert response.text == f"handled {failing}"
    assert cleaned == ([] if failing in ("before", "dependency") else ["cleaned"])


def test_async_pieces_stay_on_the_loop_and_sync_ones_share_a_thread() -> None:
    app = App(secret_key=SECRET)
    log: list[tuple[str, int]] = []

    @app.before_request
    async def async_hook() -> None:
        log.append(("async hook", threading.get_ident()))

    @app.before_request
    def sync_hook() -> None:
        log.append(("sync hook", threading.get_ident()))

    async def async_dependency() -> str:
        log.append(("async dependency", threading.get_ident()))
        return "async"

    def sync_dependency(value: Annotated[str, Depends(async_dependency)]) -> Iterator[str]:
        log.append(("sync dependency", threading.get_ident()))
        yield value + "+sync"
        log.append(("sync cleanup", threading.get_ident()))

    @app.get("/")
    def index(value: Annotated[str, Depends(sync_dependency)]) -> str:
        log.append(("handler", threading.get_ident()))
        return value

    @app.after_request
    async def async_after(response: Response) -> None:
        log.append(("async after", threading.get_ident()))

    loop_thread: list[int] = []

    @app.on_startup
    async def remember_loop_thread() -> None:
        loop_thread.append(threading.get_ident())

    with TestClient(app) as client:
        response = client.get("/")
    assert response.text == "async+sync"
    assert [piece for piece, _ in log] == [
        "async hook",
        "sync hook",
        "async dependency",
        "sync dependency",
        "handler",
        "sync cleanup",
        "async after",
    ]
    where = dict(log)
    assert {where["async hook"], where["async dependency"], where["async after"]} == {
        loop_thread[0]
    }
    sync = {where["sync hook"], where["sync dependency"], where["handler"], where["sync cleanup"]}
    assert len(sync) == 1
    assert sync != {loop_thread[0]}


def test_a_sqlite_connection_opened_in_a_hook_works_in_the_handler(tmp_path: Any) -> None:
    """The flaskr trap: sqlite3 objects only work in the thread that made them."""
    app = App(secret_key=SECRET)
    path = tmp_path / "flaskr.db"
    with sqlite3.connect(path) as setup:
        setup.execute("create table post (title text)")
        setup.execute("insert into post values ('hello')")
    setup.close()
    connections: dict[int, sqlite3.Connection] = {}

    @app.before_request
    def open_db(request: Request) -> None:
        connections[id(request.scope)] = sqlite3.connect(path)

    @app.get("/")
    def index(request: Request) -> list[str]:
        db = connections[id(request.scope)]
        return [row[0] for row in db.execute("select title from post")]

    @app.after_request
    def close_db(request: Request, response: Response) -> None:
        connections.pop(id(request.scope)).close()

    with TestClient(app) as client:
        for _ in range(3):
            response = client.get("/")
            assert response.status_code == 200, response.text
            assert response.json() == ["hello"]
    assert connections == {}


def test_a_hook_that_answers_early_skips_the_handler_but_not_the_after_hooks() -> None:
    app = App(secret_key=SECRET)
    log: list[str] = []

    @app.before_request
    async def refuse() -> Response:
        return Response("closed", 503)

    @app.get("/")
    def index() -> str:
        log.append("handler")
        return "open"

    @app.after_request
    def after(response: Response) -> None:
        log.append(f"after {response.status_code}")

    with TestClient(app) as client:
        response = client.get("/")
    assert (response.status_code, response.text) == (503, "closed")
    assert log == ["after 503"]


def test_a_body_error_read_ahead_is_raised_after_the_hooks_and_dependencies() -> None:
    app = App(secret_key=SECRET)
    log: list[str] = []

    @app.before_request
    def hook(request: Request) -> None:
        log.append("hook")
        if request.headers.get("x-refuse"):
            raise HTTPException(403, "refused by the hook")

    @app.post("/")
    def create(item: Item) -> str:
        return item.title

    with TestClient(app) as client:
        refused = client.post(
            "/", content=b"{}", headers={"content-type": "text/plain", "x-refuse": "1"}
        )
        wrong_type = client.post("/", content=b"{}", headers={"content-type": "text/plain"})
    assert refused.status_code == 403
    assert wrong_type.status_code == 415
    assert log == ["hook", "hook"]


def test_a_leading_async_dependency_runs_on_the_loop_first_and_once() -> None:
    app = App(secret_key=SECRET)
    log: list[tuple[str, int]] = []
    loop_thread: list[int] = []

    @app.on_startup
    async def remember_loop_thread() -> None:
        loop_thread.append(threading.get_ident())

    async def current_user(x_user: Annotated[str, Header()]) -> str:
        log.append(("user", threading.get_ident()))
        if x_user == "anonymous":
            raise HTTPException(401, "log in")
        return x_user

    def session() -> Iterator[str]:
        log.append(("session", threading.get_ident()))
        yield "session"
        log.append(("session cleanup", threading.get_ident()))

    @app.post("/")
    def create(
        user: Annotated[str, Depends(current_user)],
        db: Annotated[str, Depends(session)],
        again: Annotated[str, Depends(current_user)],
        item: Item,
    ) -> dict[str, str]:
        log.append(("handler", threading.get_ident()))
        return {"user": user, "again": again, "db": db, "title": item.title}

    with TestClient(app) as client:
        good = client.post("/", json={"title": "t", "done": True}, headers={"x-user": "ann"})
        assert good.status_code == 200, good.text
        assert good.json() == {"user": "ann", "again": "ann", "db": "session", "title": "t"}
        assert [piece for piece, _ in log] == ["user", "session", "handler", "session cleanup"]
        where = dict(log)
        assert where["user"] == loop_thread[0]
        assert len({where["session"], where["handler"], where["session cleanup"]}) == 1
        assert where["handler"] != loop_thread[0]

        log.clear()
        refused = client.post("/", json={}, headers={"x-user": "anonymous"})
        assert refused.status_code == 401
        assert "title" not in refused.text
        assert [piece for piece, _ in log] == ["user"]

        log.clear()
        # NOTE: the dependency's own parameter is missing: listed with the body's errors.
        invalid = client.post("/", json={})
        assert invalid.status_code == 422
        locs = [error["loc"] for error in invalid.json()["detail"]]
        assert ["header", "x-user"] in locs and ["body", "title"] in locs

        log.clear()
        app.dependency_overrides[current_user] = lambda: "override"
        overridden = client.post("/", json={"title": "t", "done": False})
        assert overridden.status_code == 200, overridden.text
        assert overridden.json()["user"] == "override"
        assert len({ident for _, ident in log}) == 1  # NOTE: the sync override ran in the thread
