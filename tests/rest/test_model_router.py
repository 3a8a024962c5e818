"""ModelRouter: CRUD on SQLite, PostgreSQL and MariaDB, sync and async sessions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from oakling.rest import ModelRouter
from oakling.testing import TestClient

from .conftest import add_notes, add_user, count_notes
from .notes import Note

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"], indirect=True)


def notes_router(flavor: str, **options: Any) -> ModelRouter:
    options.setdefault("permission", "any")
    return ModelRouter(
        Note,
        prefix="/notes",
        exclude=("secret",),
        read_only_fields=("owner_id",),
        filterset_fields=("done", "priority", "due", "title"),
        ordering_fields=("id", "title", "priority"),
        async_session=flavor == "async",
        **options,
    )


def test_create_retrieve_replace_patch_delete(make_app: Any, flavor: str) -> None:
    app = make_app(notes_router(flavor))
    with TestClient(app) as client:
        created = client.post("/notes", json={"title": "Buy milk", "due": "2026-12-24"})
        assert created.status_code == 201, created.text
        body = created.json()
        note_id = body["id"]
        assert body["title"] == "Buy milk"
        assert body["due"] == "2026-12-24"
        # Defaults of the columns, and the server's own value, are in the answer.
        assert body["priority"] == 0 and body["done"] is False and body["colour"] == "red"
        assert body["created"] is not None
        assert "secret" not in body
        assert body["owner_id"] is None

        assert client.get(f"/notes/{note_id}").json() == body

        patched = client.patch(f"/notes/{note_id}", json={"done": True, "colour": "green"})
        assert patched.status_code == 200, patched.text
        assert patched.json()["done"] is True and patched.json()["title"] == "Buy milk"
        assert patched.json()["colour"] == "green"

        replaced = client.put(f"/notes/{note_id}", json={"title": "Buy oat milk"})
        assert replaced.status_code == 200, replaced.text
        # PUT: fields left out take their defaults again.
        assert replaced.json()["title"] == "Buy oat milk"
        assert replaced.json()["done"] is False and replaced.json()["colour"] == "red"

        assert client.delete(f"/notes/{note_id}").status_code == 204
        assert client.get(f"/notes/{note_id}").status_code == 404
        assert client.delete(f"/notes/{note_id}").status_code == 404
    assert count_notes(app) == 0


def test_list_pages_filters_and_ordering(make_app: Any, flavor: str) -> None:
    app = make_app(notes_router(flavor, page_size=10))
    add_notes(app, 25)
    with TestClient(app) as client:
        first = client.get("/notes").json()
        assert (first["total"], first["page"], first["size"], first["pages"]) == (25, 1, 10, 3)
        assert [item["title"] for item in first["items"]] == [f"Note {i:03d}" for i in range(10)]
        last = client.get("/notes?page=3").json()
        assert len(last["items"]) == 5
        # Flask-SQLAlchemy's error_out: past the last page is a 404.
        assert client.get("/notes?page=4").status_code == 404
        # A size above max_page_size is capped, as DRF's max_page_size.
        assert client.get("/notes?size=1000").json()["size"] == 100

        filtered = client.get("/notes?priority=3&size=100").json()
        assert filtered["total"] == 5
        assert {item["priority"] for item in filtered["items"]} == {3}
        ranged = client.get("/notes?priority__gte=3&priority__lt=4&size=100").json()
        assert {item["priority"] for item in ranged["items"]} == {3}
        assert client.get("/notes?title=Note%20007").json()["total"] == 1

        ordered = client.get("/notes?ordering=-priority,title&size=5").json()["items"]
        assert [item["priority"] for item in ordered] == [4] * 5
        assert [item["title"] for item in ordered] == sorted(item["title"] for item in ordered)


def test_cursor_pagination_walks_every_row_once(make_app: Any, flavor: str) -> None:
    app = make_app(notes_router(flavor, pagination="cursor", page_size=7, ordering=("-id",)))
    ids = add_notes(app, 20)
    seen: list[int] = []
    with TestClient(app) as client:
        url = "/notes"
        while True:
            page = client.get(url)
            assert page.status_code == 200, page.text
            seen += [item["id"] for item in page.json()["items"]]
            cursor = page.json()["next"]
            if cursor is None:
                break
            url = f"/notes?cursor={cursor}"
        bad = client.get("/notes?cursor=not-a-cursor")
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert seen == sorted(ids, reverse=True)


def test_unique_violation_is_409_and_nothing_is_stored(make_app: Any, flavor: str) -> None:
    app = make_app(notes_router(flavor))
    with TestClient(app) as client:
        assert client.post("/notes", json={"title": "a", "code": "X1"}).status_code == 201
        second = client.post("/notes", json={"title": "b", "code": "X1"})
        assert second.status_code == 409, second.text
        assert "already exists" in second.json()["detail"]
        other = client.post("/notes", json={"title": "c", "code": "X2"}).json()
        assert client.patch(f"/notes/{other['id']}", json={"code": "X1"}).status_code == 409
        assert client.get(f"/notes/{other['id']}").json()["code"] == "X2"
    assert count_notes(app) == 2


def test_get_queryset_scopes_rows_to_their_owner(make_app: Any, flavor: str) -> None:
    class OwnNotes(ModelRouter):
        model = Note
        exclude = ("secret",)
        read_only_fields = ("owner_id",)
        permission = "authenticated"
        async_session = flavor == "async"

        def get_queryset(self, request: Any) -> Any:
            return select(Note).where(Note.owner_id == request.user.id)

        def perform_create(self, request: Any, session: Any, obj: Any) -> None:
            obj.owner_id = request.user.id
            session.add(obj)

    app = make_app(OwnNotes(prefix="/notes"))
    alice = add_user(app, "alice")
    bob = add_user(app, "bob")
    (bobs,) = add_notes(app, 1, owner_id=bob)
    from .conftest import token_for

    with TestClient(app) as client:
        headers = token_for(app, "alice")
        mine = client.post("/notes", json={"title": "mine"}, headers=headers)
        assert mine.status_code == 201 and mine.json()["owner_id"] == alice
        # Sending the owner is refused: it is read-only, so not a field of the body.
        forged = client.post("/notes", json={"title": "x", "owner_id": bob}, headers=headers)
        assert forged.status_code == 422
        assert "owner_id" in forged.text
        listed = client.get("/notes", headers=headers).json()
        assert [item["title"] for item in listed["items"]] == ["mine"]
        # Bob's note is answered as missing, whatever the method (no oracle).
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            answer = client.request(
                method, f"/notes/{bobs}", json={"title": "stolen"}, headers=headers
            )
            assert answer.status_code == 404, (method, answer.text)
        assert client.get("/notes/999999", headers=headers).json() == {"detail": "Note not found"}
    with app.extensions["db"].session() as session:
        assert session.get(Note, bobs).title == "Note 000"
