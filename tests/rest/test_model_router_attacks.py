"""ModelRouter under attack: anonymous, no permission, wrong scope, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oakling.rest import ModelRouter
from oakling.testing import TestClient

from .conftest import PASSWORD, add_notes, add_user, count_notes, token_for
from .notes import Note

SCOPES = {"read": "notes:read", "write": "notes:write"}


def router(flavor: str = "sync", **options: Any) -> ModelRouter:
    return ModelRouter(
        Note,
        prefix="/notes",
        exclude=("secret",),
        read_only_fields=("owner_id",),
        async_session=flavor == "async",
        **options,
    )


def test_anonymous_is_401_on_every_action(make_app: Any, flavor: str) -> None:
    app = make_app(router(flavor))
    (note_id,) = add_notes(app, 1)
    with TestClient(app) as client:
        for method, path in [
            ("GET", "/notes"),
            ("POST", "/notes"),
            ("GET", f"/notes/{note_id}"),
            ("PUT", f"/notes/{note_id}"),
            ("PATCH", f"/notes/{note_id}"),
            ("DELETE", f"/notes/{note_id}"),
        ]:
            # NOTE: a browser's Accept too: an API answers 401, never a login redirect.
            answer = client.request(
                method, path, json={"title": "x"}, headers={"Accept": "text/html"}
            )
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
    assert count_notes(app) == 1


def test_model_permissions_are_checked_per_action(make_app: Any, flavor: str) -> None:
    app = make_app(router(flavor))
    add_user(app, "nobody")
    add_user(app, "reader", perms=("notes.view_note",))
    add_user(app, "writer", perms=("notes.add_note", "notes.change_note"))
    add_user(app, "root", is_superuser=True)
    (note_id,) = add_notes(app, 1)
    with TestClient(app) as client:
        nobody = token_for(app, "nobody")
        denied = client.get("/notes", headers=nobody)
        assert denied.status_code == 403
        assert "notes.view_note" in denied.json()["detail"]
        assert client.post("/notes", json={"title": "x"}, headers=nobody).status_code == 403

        reader = token_for(app, "reader")
        assert client.get("/notes", headers=reader).status_code == 200
        assert client.get(f"/notes/{note_id}", headers=reader).status_code == 200
        assert client.post("/notes", json={"title": "x"}, headers=reader).status_code == 403
        assert (
            client.patch(f"/notes/{note_id}", json={"done": True}, headers=reader).status_code
            == 403
        )
        assert client.delete(f"/notes/{note_id}", headers=reader).status_code == 403

        writer = token_for(app, "writer")
        # Django admin's rule: change implies view.
        assert client.get("/notes", headers=writer).status_code == 200
        assert client.post("/notes", json={"title": "x"}, headers=writer).status_code == 201
        assert client.delete(f"/notes/{note_id}", headers=writer).status_code == 403

        assert client.delete(f"/notes/{note_id}", headers=token_for(app, "root")).status_code == 204
    assert count_notes(app) == 1


def test_token_scopes_limit_tokens_not_sessions(make_app: Any, flavor: str) -> None:
    app = make_app(router(flavor, permission="authenticated", scopes=SCOPES))
    add_user(app, "ann")
    with TestClient(app) as client:
        read_only = token_for(app, "ann", ("notes:read",))
        assert client.get("/notes", headers=read_only).status_code == 200
        refused = client.post("/notes", json={"title": "x"}, headers=read_only)
        assert refused.status_code == 403
        assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
        assert 'scope="notes:write"' in refused.headers["www-authenticate"]
        none = token_for(app, "ann")
        assert client.get("/notes", headers=none).status_code == 403
        both = token_for(app, "ann", ("notes:read", "notes:write"))
        assert client.post("/notes", json={"title": "x"}, headers=both).status_code == 201
        # A logged-in session is not limited by scopes (AuthCredentials.allows).
        login = client.post(
            "/auth/login",
            data={"username": "ann", "password": PASSWORD},
            follow_redirects=False,
        )
        assert login.status_code == 303, login.text
        assert client.post("/notes", json={"title": "y"}).status_code == 201
    assert count_notes(app) == 2


BAD_BODIES = [
    ({"title": 5}, "title"),
    ({"title": "x" * 101}, "title"),
    ({}, "title"),
    ({"title": "a\x00b"}, "title"),
    ({"title": "ok", "priority": 40000}, "priority"),
    ({"title": "ok", "priority": "high"}, "priority"),
    ({"title": "ok", "due": "yesterday"}, "due"),
    ({"title": "ok", "colour": "blue"}, "colour"),
    ({"title": "ok", "id": 7}, "id"),
    ({"title": "ok", "created": "2026-01-01T00:00:00+02:00"}, "created"),
    ({"title": "ok", "secret": "s"}, "secret"),
    ({"title": "ok", "owner_id": 1}, "owner_id"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_bodies_are_422_naming_the_field(make_app: Any, body: Any, field: str) -> None:
    app = make_app(router(permission="any"))
    (note_id,) = add_notes(app, 1)
    with TestClient(app) as client:
        for method, path in [("POST", "/notes"), ("PATCH", f"/notes/{note_id}")]:
            if method == "PATCH" and body == {}:
                continue  # NOTE: an empty PATCH changes nothing, rightly
            answer = client.request(method, path, json=body)
            assert answer.status_code == 422, (method, body, answer.text)
            assert field in json.dumps(answer.json()["detail"]), answer.text
    assert count_notes(app) == 1


def test_bad_requests_are_4xx_never_500(make_app: Any) -> None:
    app = make_app(router(permission="any", ordering_fields=("id",), filterset_fields=("done",)))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert (
            client.post(
                "/notes", content=b"{not json", headers={"content-type": "application/json"}
            ).status_code
            == 422
        )
        assert (
            client.post(
                "/notes",
                content=b"title=x",
                headers={"content-type": "application/x-www-form-urlencoded"},
            ).status_code
            == 415
        )
        assert client.get("/notes/abc").status_code == 404
        assert client.get("/notes/99999999999999999999").status_code == 404
        ordering = client.get("/notes?ordering=secret")
        assert ordering.status_code == 422
        assert ordering.json()["detail"][0]["loc"] == ["query", "ordering"]
        assert "(id)" in ordering.json()["detail"][0]["msg"]
        assert client.get("/notes?ordering=-title").status_code == 422
        assert client.get("/notes?done=maybe").status_code == 422
        assert client.get("/notes?page=0").status_code == 422
        assert client.get("/notes?size=-1").status_code == 422


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=120),
    st.lists(st.integers(), max_size=2),
)
FIELDS = st.sampled_from(["title", "body", "priority", "done", "due", "colour", "code", "zzz"])


def test_any_json_body_is_answered_without_a_server_error(make_app: Any) -> None:
    app = make_app(router(permission="any"))
    (note_id,) = add_notes(app, 1)
    with TestClient(app, raise_server_exceptions=False) as client:

        @settings(max_examples=60, deadline=None, database=None)
        @given(body=st.dictionaries(FIELDS, JSON_VALUES))
        def check(body: Any) -> None:
            created = client.post("/notes", json=body)
            assert created.status_code in (201, 409, 422), (body, created.text)
            patched = client.patch(f"/notes/{note_id}", json=body)
            assert patched.status_code in (200, 409, 422), (body, patched.text)

        check()
