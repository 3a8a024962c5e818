"""Response models: the return annotation filters and checks what a handler returns."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, TypedDict

import msgspec
import pydantic
import pytest

from oakling import App, Router
from oakling.responses import JSONResponse
from oakling.testing import TestClient


class UserOut(msgspec.Struct):
    id: int
    username: str


class UserRow:
    """What an ORM hands back: more attributes than the API may show."""

    def __init__(self, id: int, username: str) -> None:
        self.id = id
        self.username = username
        self.password_hash = "argon2id$v=19$secret"


@dataclasses.dataclass
class Badge:
    name: str
    level: int = 1


class Stats(TypedDict):
    count: int


class PUser(pydantic.BaseModel):
    id: int
    username: str


class PUserWithHash(PUser):
    password_hash: str


def make_app() -> App:
    app = App(debug=False, secret_key="k" * 40)

    @app.get("/struct")
    def struct() -> UserOut:
        return UserRow(1, "ann")  # type: ignore[return-value]

    @app.get("/list")
    async def many() -> list[UserOut]:
        return [UserRow(1, "ann"), {"id": 2, "username": "bob", "password_hash": "x"}]  # type: ignore[list-item]

    @app.get("/dataclass")
    def badge() -> Badge:
        return Badge("gold")

    @app.get("/typeddict")
    def stats() -> Stats:
        return {"count": 3, "secret": "no"}  # type: ignore[typeddict-unknown-key]

    @app.get("/pydantic")
    def puser() -> PUser:
        return PUserWithHash(id=1, username="ann", password_hash="h")

    @app.get("/pydantic-orm")
    def puser_orm() -> list[PUser]:
        return [UserRow(3, "cy")]  # type: ignore[list-item]

    @app.get("/wrong")
    def wrong() -> UserOut:
        return {"id": "not a number", "username": "ann"}  # type: ignore[return-value]

    @app.get("/missing")
    def missing() -> UserOut:
        return {"id": 1}  # type: ignore[return-value]

    @app.get("/response")
    def response() -> UserOut:
        return JSONResponse({"anything": True}, 202)  # type: ignore[return-value]

    @app.get("/tuple")
    def created() -> UserOut:
        return UserRow(5, "eve"), 201  # type: ignore[return-value]

    @app.get("/plain")
    def plain() -> dict[str, Any]:
        return {"kept": True, "password_hash": "mine to send"}

    router = Router("/users/{user_id}")

    @router.get("/")
    def by_id(user_id: int) -> UserOut:
        return UserRow(user_id, "dan")  # type: ignore[return-value]

    app.include(router)
    return app


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        yield client


def test_password_hash_on_an_orm_object_never_leaks(client: Any) -> None:
    assert client.get("/struct").json() == {"id": 1, "username": "ann"}
    assert client.get("/users/7").json() == {"id": 7, "username": "dan"}
    assert client.get("/list").json() == [
        {"id": 1, "username": "ann"},
        {"id": 2, "username": "bob"},
    ]


def test_every_model_kind_filters_its_fields(client: Any) -> None:
    assert client.get("/dataclass").json() == {"name": "gold", "level": 1}
    assert client.get("/typeddict").json() == {"count": 3}
    # A subclass instance with more fields is sent as the declared model.
    assert client.get("/pydantic").json() == {"id": 1, "username": "ann"}
    assert client.get("/pydantic-orm").json() == [{"id": 3, "username": "cy"}]


@pytest.mark.parametrize(("path", "field"), [("/wrong", "$.id"), ("/missing", "username")])
def test_a_value_the_annotation_forbids_is_a_logged_500_naming_the_field(
    client: Any, caplog: pytest.LogCaptureFixture, path: str, field: str
) -> None:
    with caplog.at_level(logging.ERROR):
        answer = client.get(path)
    assert answer.status_code == 500
    assert "not a number" not in answer.text
    logged = "\n".join(record.getMessage() + str(record.exc_info) for record in caplog.records)
    assert "UserOut" in logged and field in logged


def test_responses_and_plain_returns_are_left_alone(client: Any) -> None:
    answer = client.get("/response")
    assert (answer.status_code, answer.json()) == (202, {"anything": True})
    created = client.get("/tuple")
    assert (created.status_code, created.json()) == (201, {"id": 5, "username": "eve"})
    assert client.get("/plain").json() == {"kept": True, "password_hash": "mine to send"}


def test_plain_handlers_are_not_wrapped() -> None:
    app = make_app()
    handlers = {
        path: methods["GET"] for path, methods in app.route_table.static.items() if "GET" in methods
    }
    assert handlers["/plain"].call is handlers["/plain"].func
    assert handlers["/struct"].call is not handlers["/struct"].func


def test_an_unresolvable_return_annotation_is_a_startup_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App(debug=True)

    def handler() -> Any:
        return {"id": 1}

    handler.__annotations__ = {"return": "OnlyForTypeCheckers"}
    app.add_route("/x", handler)
    with caplog.at_level(logging.WARNING, logger="oakling.error"):
        app.build()
    assert any("OnlyForTypeCheckers" in record.getMessage() for record in caplog.records)
    with TestClient(app) as client:
        assert client.get("/x").json() == {"id": 1}


def test_response_model_none_sends_the_value_as_it_is() -> None:
    """FastAPI's ``response_model=None``: the annotation stays for type checkers only."""
    app = App(debug=False, secret_key="k" * 40)

    @app.get("/raw", response_model=None)
    def raw() -> UserOut:
        return {"id": 1, "username": "ann", "extra": True}  # type: ignore[return-value]

    @app.get("/checked")
    def checked() -> UserOut:
        return {"id": 1, "username": "ann", "extra": True}  # type: ignore[return-value]

    with TestClient(app) as client:
        assert client.get("/raw").json() == {"id": 1, "username": "ann", "extra": True}
        assert client.get("/checked").json() == {"id": 1, "username": "ann"}


def test_response_model_type_replaces_the_annotation() -> None:
    app = App(debug=False, secret_key="k" * 40)

    @app.get("/user", response_model=UserOut)
    def user() -> Any:
        return UserRow(1, "ann")

    with TestClient(app) as client:
        assert client.get("/user").json() == {"id": 1, "username": "ann"}


def test_response_model_none_is_left_out_of_the_document() -> None:
    from openapi_spec_validator import validate

    from oakling.openapi import build_document

    app = App(debug=False, secret_key="k" * 40)

    @app.get("/raw", response_model=None)
    def raw() -> UserOut:
        return UserOut(1, "ann")

    @app.get("/other", response_model=Badge)
    def other() -> dict[str, Any]:
        return {"name": "b"}

    document = build_document(app, title="t", version="1")
    validate(document)
    assert "content" not in document["paths"]["/raw"]["get"]["responses"]["200"]
    other_schema = document["paths"]["/other"]["get"]["responses"]["200"]["content"]
    assert other_schema["application/json"]["schema"] == {"$ref": "#/components/schemas/Badge"}
