"""Sessions injected into handlers: CRUD, transaction per request, savepoints, 409s.

Every test runs on SQLite, PostgreSQL and MariaDB, through sync handlers
(``Session``) and async ones (``AsyncSession``) with the same body.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from db_support import add_route, count, make_app
from sqlalchemy import select

from oakling import App
from oakling.db import Database, get_or_404
from oakling.exceptions import HTTPException
from oakling.requests import Request
from oakling.responses import JSONResponse, Response
from oakling.testing import TestClient


def test_crud(database: Database, models: SimpleNamespace, flavor: str) -> None:
    author = models.Author
    app = make_app(database)

    def create(session: Any, request: Request) -> Any:
        row = author(name=request.query_params["name"])
        session.add(row)
        session.flush()
        return JSONResponse({"id": row.id}, 201)

    def read(session: Any, request: Request) -> Any:
        row = get_or_404(session, author, request.path_params["id"])
        return {"id": row.id, "name": row.name}

    def rename(session: Any, request: Request) -> Any:
        row = get_or_404(session, author, request.path_params["id"])
        row.name = request.query_params["name"]
        return {"id": row.id, "name": row.name}

    def delete(session: Any, request: Request) -> Any:
        session.delete(get_or_404(session, author, request.path_params["id"]))
        return Response(None, 204)

    def listing(session: Any, request: Request) -> Any:
        return [row.name for row in session.scalars(select(author).order_by(author.name))]

    add_route(app, flavor, "POST", "/authors", create)
    add_route(app, flavor, "GET", "/authors", listing)
    add_route(app, flavor, "GET", "/authors/{id:int}", read)
    add_route(app, flavor, "PUT", "/authors/{id:int}", rename)
    add_route(app, flavor, "DELETE", "/authors/{id:int}", delete)
    with TestClient(app) as client:
        created = client.post("/authors", params={"name": "Ursula"})
        assert created.status_code == 201
        author_id = created.json()["id"]
        client.post("/authors", params={"name": "Terry"})
        assert client.get("/authors").json() == ["Terry", "Ursula"]
        assert client.get(f"/authors/{author_id}").json() == {"id": author_id, "name": "Ursula"}
        renamed = client.put(f"/authors/{author_id}", params={"name": "Ursula K."})
        assert renamed.json()["name"] == "Ursula K."
        assert client.get(f"/authors/{author_id}").json()["name"] == "Ursula K."
        assert client.delete(f"/authors/{author_id}").status_code == 204
        missing = client.get(f"/authors/{author_id}")
        assert missing.status_code == 404
        assert missing.json() == {"detail": f"{author.__name__} not found"}
        assert client.get("/authors").json() == ["Terry"]
    assert count(database, author) == 1


def _adder(author: Any, outcome: str) -> Any:
    def logic(session: Any, request: Request) -> Any:
        session.add(author(name=request.query_params["name"]))
        session.flush()  # NOTE: the row reached the database; only the commit is pending
        if outcome == "raise":
            raise RuntimeError("boom")
        if outcome == "5xx":
            return JSONResponse({"detail": "upstream failed"}, 502)
        if outcome == "4xx":
            return JSONResponse({"detail": "kept anyway"}, 400)
        return {"ok": True}

    return logic


def test_commit_on_success_and_client_errors(
    database: Database, models: SimpleNamespace, flavor: str
) -> None:
    app = make_app(database)
    add_route(app, flavor, "POST", "/ok", _adder(models.Author, "ok"))
    add_route(app, flavor, "POST", "/bad", _adder(models.Author, "4xx"))
    with TestClient(app) as client:
        assert client.post("/ok", params={"name": "a"}).status_code == 200
        assert client.post("/bad", params={"name": "b"}).status_code == 400
    assert count(database, models.Author) == 2


def test_rollback_on_exception_and_5xx(
    database: Database, models: SimpleNamespace, flavor: str
) -> None:
    app = make_app(database)
    add_route(app, flavor, "POST", "/raise", _adder(models.Author, "raise"))
    add_route(app, flavor, "POST", "/5xx", _adder(models.Author, "5xx"))
    with TestClient(app, raise_server_exceptions=False) as client:
        failed = client.post("/raise", params={"name": "a"})
        assert failed.status_code == 500
        assert client.post("/5xx", params={"name": "b"}).status_code == 502
    assert count(database, models.Author) == 0


def test_no_transaction_does_not_commit(
    database: Database, models: SimpleNamespace, flavor: str
) -> None:
    author = models.Author
    app = make_app(database)

    def manual_commit(session: Any, request: Request) -> Any:
        session.add(author(name="committed"))
        session.commit()
        session.add(author(name="left pending"))
        session.flush()
        return {"ok": True}

    add_route(app, flavor, "POST", "/plain", _adder(author, "ok"), transaction=False)
    add_route(app, flavor, "POST", "/manual", manual_commit, transaction=False)
    add_route(app, flavor, "POST", "/atomic", _adder(author, "ok"))
    with TestClient(app) as client:
        assert client.post("/plain", params={"name": "lost"}).status_code == 200
        assert count(database, author) == 0
        assert client.post("/manual").status_code == 200
        # NOTE: a route without the mark still commits while others are marked.
        assert client.post("/atomic", params={"name": "atomic"}).status_code == 200
    with database.session() as session:
        names = set(session.scalars(select(author.name)))
    assert names == {"committed", "atomic"}


def test_nested_savepoint_rollback_keeps_outer_work(
    database: Database, models: SimpleNamespace, flavor: str
) -> None:
    author = models.Author
    app = make_app(database)

    def logic(session: Any, request: Request) -> Any:
        session.add(author(name="outer"))
        session.flush()
        nested = session.begin_nested()
        session.add(author(name="inner"))
        session.flush()
        nested.rollback()
        with session.begin_nested():
            session.add(author(name="inner kept"))
        return sorted(session.scalars(select(author.name)))

    add_route(app, flavor, "POST", "/nested", logic)
    with TestClient(app) as client:
        assert client.post("/nested").json() == ["inner kept", "outer"]
    with database.session() as session:
        assert sorted(session.scalars(select(author.name))) == ["inner kept", "outer"]


def test_unique_and_foreign_key_violations_are_409(
    database: Database, models: SimpleNamespace, flavor: str
) -> None:
    app = make_app(database)

    def add_author(session: Any, request: Request) -> Any:
        session.add(models.Author(name="dup"))
        return {"ok": True}  # NOTE: the INSERT fails at the commit, after the handler

    def add_book(session: Any, request: Request) -> Any:
        session.add(models.Book(title="Orphan", author_id=987654))
        session.flush()  # NOTE: fails inside the handler
        return {"ok": True}

    add_route(app, flavor, "POST", "/authors", add_author)
    add_route(app, flavor, "POST", "/books", add_book)
    with TestClient(app) as client:
        assert client.post("/authors").status_code == 200
        duplicate = client.post("/authors")
        assert duplicate.status_code == 409
        assert duplicate.json() == {"detail": "Conflict: a record with this value already exists"}
        orphan = client.post("/books")
        assert orphan.status_code == 409
        assert "refers to a record that does not exist" in orphan.json()["detail"]
        page = client.post("/books", headers={"accept": "text/html"})
        assert page.status_code == 409
        assert "text/html" in page.headers["content-type"]
        assert "Traceback" not in page.text
    assert count(database, models.Author) == 1
    assert count(database, models.Book) == 0


def test_session_without_database_is_a_clear_error(flavor: str) -> None:
    app = App(secret_key="x" * 50)
    add_route(app, flavor, "GET", "/", lambda session, request: {})
    with TestClient(app, raise_server_exceptions=True) as client:
        try:
            client.get("/")
        except Exception as ex:  # noqa: BLE001
            assert "install one: App(plugins=[Database()])" in str(ex)
        else:
            raise AssertionError("expected ImproperlyConfigured")


def test_get_or_404_rejects_a_key_of_the_wrong_type(
    database: Database, models: SimpleNamespace
) -> None:
    with database.session() as session:
        try:
            get_or_404(session, models.Author, "not-a-number")
        except HTTPException as ex:
            assert ex.status_code == 404
        else:
            raise AssertionError("expected a 404")
