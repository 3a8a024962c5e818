"""One model, four faces: the schemas, the form, the admin's form and the document agree."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from werkzeug.datastructures import MultiDict

from oakling.admin import Admin
from oakling.rest import ModelRouter, model_fields, model_form, model_schemas
from oakling.testing import TestClient

from .notes import Colour, Note


def test_fields_come_from_the_columns() -> None:
    fields = {field.name: field for field in model_fields(Note)}
    assert fields["title"].max_length == 100 and not fields["title"].nullable
    assert fields["title"].help_text == "What the note says"
    assert fields["body"].help_text == "Free text" and fields["body"].nullable
    assert fields["priority"].default == 0 and fields["priority"].has_default
    assert fields["id"].read_only and fields["id"].primary_key
    assert not fields["created"].read_only and fields["created"].has_default
    assert fields["colour"].default is Colour.red


def test_schemas_read_create_update() -> None:
    schemas = model_schemas(Note, exclude=("secret",), read_only_fields=("owner_id",))
    assert schemas.read.__name__ == "Note"
    assert "secret" not in schemas.read.__struct_fields__
    assert "owner_id" in schemas.read.__struct_fields__
    assert set(schemas.create.__struct_fields__) == {
        "title",
        "body",
        "priority",
        "done",
        "due",
        "colour",
        "code",
        "created",
    }
    made = msgspec.convert({"title": "t"}, schemas.create)
    assert made.priority == 0 and made.done is False and made.body is msgspec.UNSET
    with pytest.raises(msgspec.ValidationError, match="length <= 100"):
        msgspec.convert({"title": "x" * 101}, schemas.create)
    with pytest.raises(msgspec.ValidationError, match="missing required field `title`"):
        msgspec.convert({}, schemas.create)
    with pytest.raises(msgspec.ValidationError, match="<= 32767"):
        msgspec.convert({"title": "t", "priority": 32768}, schemas.create)
    with pytest.raises(msgspec.ValidationError, match="unknown field `owner_id`"):
        msgspec.convert({"title": "t", "owner_id": 1}, schemas.create)
    patch = msgspec.convert({}, schemas.update)
    assert all(getattr(patch, name) is msgspec.UNSET for name in schemas.update.__struct_fields__)
    # The read Struct shows stored values as they are: a naive datetime, an old long title.
    shown = msgspec.convert(
        {
            "id": 1,
            "title": "x" * 150,
            "body": None,
            "priority": 0,
            "done": False,
            "due": None,
            "colour": "red",
            "code": None,
            "created": "2026-01-01T00:00:00",
            "owner_id": None,
        },
        schemas.read,
    )
    assert shown.created == dt.datetime(2026, 1, 1)


def test_unknown_field_names_are_refused_at_startup() -> None:
    with pytest.raises(TypeError, match="'nope'"):
        model_schemas(Note, exclude=("nope",))
    with pytest.raises(TypeError, match="filterset_fields"):
        ModelRouter(Note, filterset_fields=("secret",), exclude=("secret",))
    with pytest.raises(Exception, match="unknown option"):
        ModelRouter(Note, page_sise=3)


def test_model_form_shares_types_lengths_and_help_text() -> None:
    form_class = model_form(Note, exclude=("secret", "created"), read_only_fields=("owner_id",))
    assert form_class.__name__ == "NoteForm"
    assert "owner_id" not in form_class.field_specs and "id" not in form_class.field_specs
    form = form_class(MultiDict({"title": "x" * 101, "priority": "2"}), meta={"csrf": False})
    assert not form.validate()
    assert "title" in form.errors
    assert form.title.description == "What the note says"
    assert form.body.description == "Free text"
    good = form_class(
        MultiDict({"title": "Shop", "priority": "2", "colour": "green"}), meta={"csrf": False}
    )
    assert good.validate(), good.errors
    assert good.priority.data == 2
    assert not form_class(MultiDict({"priority": "2"}), meta={"csrf": False}).validate()


def test_the_admin_form_shows_the_same_help_text() -> None:
    site = Admin()
    site.register(Note)
    form_class, _ = site.form(site._registry[Note])
    assert form_class.title.kwargs["description"] == "What the note says"


def test_the_document_names_the_schemas_and_documents_every_action(make_app: Any) -> None:
    from openapi_spec_validator import validate

    app = make_app(
        ModelRouter(
            Note,
            prefix="/notes",
            exclude=("secret",),
            read_only_fields=("owner_id",),
            filterset_fields=("priority", "due"),
            ordering_fields=("id",),
            scopes={"read": "notes:read", "write": "notes:write"},
        )
    )
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    validate(document)
    schemas = document["components"]["schemas"]
    assert {"Note", "NoteCreate", "NoteUpdate", "NotePage"} <= set(schemas)
    assert schemas["NoteCreate"]["properties"]["title"]["maxLength"] == 100
    assert schemas["NoteCreate"]["properties"]["title"]["description"] == "What the note says"
    assert schemas["NoteCreate"]["required"] == ["title"]
    assert "secret" not in schemas["Note"]["properties"]
    assert "owner_id" not in schemas["NoteCreate"]["properties"]
    collection, item = document["paths"]["/notes"], document["paths"]["/notes/{pk}"]
    assert set(collection) == {"get", "post"} and set(item) == {"get", "put", "patch", "delete"}
    assert collection["post"]["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Note"
    }
    assert "409" in collection["post"]["responses"] and "422" in collection["post"]["responses"]
    assert "404" in item["get"]["responses"] and "401" in item["get"]["responses"]
    assert collection["get"]["security"][0] == {"bearerAuth": ["notes:read"]}
    assert item["delete"]["security"][0] == {"bearerAuth": ["notes:write"]}
    names = {param["name"] for param in collection["get"]["parameters"]}
    assert {"page", "size", "ordering", "priority", "priority__gte", "due__lt"} <= names
    assert collection["get"]["operationId"] == "note_list"


def test_a_list_without_the_primary_key_still_pages_by_cursor(make_app: Any) -> None:
    from .conftest import add_notes

    app = make_app(
        ModelRouter(
            Note,
            prefix="/notes",
            fields=("title", "priority"),
            permission="any",
            pagination="cursor",
            page_size=2,
        )
    )
    add_notes(app, 3)
    with TestClient(app) as client:
        first = client.get("/notes").json()
        assert first["items"] == [
            {"title": "Note 000", "priority": 0},
            {"title": "Note 001", "priority": 1},
        ]
        rest = client.get(f"/notes?cursor={first['next']}").json()
        assert rest == {"items": [{"title": "Note 002", "priority": 2}], "next": None}
