"""The OpenAPI document: what a client generator or schemathesis reads from it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Annotated, Any, TypedDict

import msgspec
import pydantic
import pytest
from openapi_spec_validator import validate

from oakling import App, Cookie, Form, Header, Router
from oakling.datastructures import UploadFile
from oakling.openapi import OpenAPI
from oakling.responses import HTMLResponse, Response
from oakling.testing import TestClient


class TaskIn(msgspec.Struct):
    """A task to create."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["Buy milk"])]
    completed: bool = False


class TaskOut(msgspec.Struct):
    id: int
    title: str
    completed: bool


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Pair(TypedDict):
    left: int
    right: int


class Person(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0)


def build(**options: Any) -> tuple[App, dict[str, Any]]:
    app = App(debug=True, plugins=[OpenAPI(title="Tasks", version="2.0", **options)])
    api = Router("/api", name="api")

    @api.get("/tasks")
    def list_tasks(
        page: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1,
        q: str | None = None,
        tag: list[str] = [],  # noqa: B006 - a query default, never mutated
    ) -> list[TaskOut]:
        """List the tasks.

        Oldest first, 50 a page.
        """
        return []

    @api.post("/tasks", status_code=201, responses={409: {"description": "A duplicate title"}})
    def create_task(body: TaskIn) -> TaskOut:
        return TaskOut(1, body.title, body.completed)

    @api.get("/tasks/{task_id}")
    def get_task(
        task_id: int,
        x_request_id: Annotated[str, Header(description="Echoed back")],
        theme: Annotated[str, Cookie()] = "light",
    ) -> TaskOut:
        return TaskOut(task_id, "t", False)

    @api.delete("/tasks/{task_id}", deprecated=True)
    def delete_task(task_id: int) -> None:
        return None

    @api.put("/points")
    def put_point(point: Point, pair: Pair) -> Point:
        return point

    @api.post("/people", tags=["people"], summary="Add a person")
    def add_person(person: Person) -> Person:
        return person

    @api.post("/upload")
    def upload(file: UploadFile, name: Annotated[str, Form()]) -> dict[str, str]:
        return {"name": name}

    @api.post("/login-form")
    def form_model(form: Annotated[Point, Form()]) -> str:
        return "ok"

    app.include(api)

    @app.get("/hidden", include_in_schema=False)
    def hidden() -> str:
        return "hidden"

    @app.get("/page", response_class=HTMLResponse)
    def page() -> Response:
        return HTMLResponse("<p>hi</p>")

    @app.websocket("/ws")
    async def socket(websocket: Any) -> None:
        pass

    app.mount("/legacy", App(debug=True))
    with TestClient(app) as client:
        answer = client.get("/openapi.json")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        return app, answer.json()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build()[1]


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Tasks", "version": "2.0"}


def test_query_parameters_have_types_constraints_and_defaults(document: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in document["paths"]["/api/tasks"]["get"]["parameters"]}
    assert parameters["page"] == {
        "name": "page",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1},
    }
    assert parameters["q"]["schema"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert parameters["tag"]["schema"]["type"] == "array"


def test_path_header_and_cookie_parameters(document: dict[str, Any]) -> None:
    parameters = document["paths"]["/api/tasks/{task_id}"]["get"]["parameters"]
    by_name = {p["name"]: p for p in parameters}
    assert by_name["task_id"] == {
        "name": "task_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    # NOTE: the header's name on the wire, underscores to hyphens.
    assert by_name["x-request-id"]["in"] == "header"
    assert by_name["x-request-id"]["required"] is True
    assert by_name["x-request-id"]["description"] == "Echoed back"
    assert by_name["theme"]["in"] == "cookie"
    assert by_name["theme"]["schema"]["default"] == "light"


def test_bodies_from_struct_dataclass_typeddict_and_pydantic(document: dict[str, Any]) -> None:
    paths = document["paths"]
    schemas = document["components"]["schemas"]
    create = paths["/api/tasks"]["post"]["requestBody"]
    assert create["required"] is True
    assert create["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TaskIn"
    }
    title = schemas["TaskIn"]["properties"]["title"]
    assert title["maxLength"] == 100 and title["minLength"] == 1
    assert title["examples"] == ["Buy milk"]
    assert schemas["TaskIn"]["description"] == "A task to create."
    embedded = paths["/api/points"]["put"]["requestBody"]["content"]["application/json"]
    assert embedded["schema"]["properties"] == {
        "point": {"$ref": "#/components/schemas/Point"},
        "pair": {"$ref": "#/components/schemas/Pair"},
    }
    assert schemas["Point"]["required"] == ["x"]
    assert set(schemas["Pair"]["required"]) == {"left", "right"}
    person = paths["/api/people"]["post"]["requestBody"]["content"]["application/json"]
    assert person["schema"] == {"$ref": "#/components/schemas/Person"}
    assert schemas["Person"]["properties"]["age"]["minimum"] == 0


def test_multipart_with_files_and_form_models(document: dict[str, Any]) -> None:
    upload = document["paths"]["/api/upload"]["post"]["requestBody"]
    assert list(upload["content"]) == ["multipart/form-data"]
    schema = upload["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["file"]["format"] == "binary"
    assert schema["properties"]["name"] == {"type": "string"}
    assert set(schema["required"]) == {"file", "name"}
    form = document["paths"]["/api/login-form"]["post"]["requestBody"]["content"]
    assert set(form) == {"application/x-www-form-urlencoded", "multipart/form-data"}
    assert form["application/x-www-form-urlencoded"]["schema"] == {
        "$ref": "#/components/schemas/Point"
    }


def test_responses_from_return_annotations_and_declarations(document: dict[str, Any]) -> None:
    paths = document["paths"]
    listed = paths["/api/tasks"]["get"]["responses"]
    assert listed["200"]["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/TaskOut"},
    }
    created = paths["/api/tasks"]["post"]["responses"]
    assert set(created) == {"201", "409", "415", "422"}
    assert created["409"] == {"description": "A duplicate title"}
    assert created["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"
    }
    assert set(paths["/api/tasks/{task_id}"]["delete"]["responses"]) == {"204", "404", "422"}
    assert "content" not in paths["/api/tasks/{task_id}"]["delete"]["responses"]["204"]
    assert "text/html" in paths["/page"]["get"]["responses"]["200"]["content"]
    error = document["components"]["schemas"]["ValidationError"]
    assert error["required"] == ["loc", "msg", "type"]


def test_error_bodies_match_what_oakling_answers(document: dict[str, Any]) -> None:
    app, _ = build()
    with TestClient(app) as client:
        answer = client.get("/api/tasks", params={"page": "0"})
    assert answer.status_code == 422
    body = answer.json()
    schema = document["components"]["schemas"]
    assert set(body) == set(schema["HTTPValidationError"]["required"])
    assert set(body["detail"][0]) == set(schema["ValidationError"]["required"])


def test_tags_operation_ids_docstrings_and_deprecated(document: dict[str, Any]) -> None:
    paths = document["paths"]
    listed = paths["/api/tasks"]["get"]
    assert listed["tags"] == ["api"]
    assert listed["summary"] == "List the tasks."
    assert listed["description"] == "Oldest first, 50 a page."
    assert listed["operationId"] == "api_list_tasks"
    person = paths["/api/people"]["post"]
    assert person["tags"] == ["api", "people"]
    assert person["summary"] == "Add a person"
    assert paths["/api/tasks/{task_id}"]["delete"]["deprecated"] is True
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))
    # Stable: a second build of the same app names everything the same.
    assert build()[1] == document


def test_hidden_routes_mounts_websockets_and_docs_pages_are_left_out(
    document: dict[str, Any],
) -> None:
    paths = document["paths"]
    for left_out in ("/hidden", "/ws", "/legacy", "/openapi.json", "/docs", "/redoc"):
        assert not any(path.startswith(left_out) for path in paths), left_out
    assert "head" not in paths["/api/tasks"]["get"] and "head" not in paths["/api/tasks"]


def test_document_is_built_once_not_per_request() -> None:
    app = App(debug=True, plugins=[OpenAPI()])

    @app.get("/one")
    def one() -> str:
        return "1"

    with TestClient(app) as client:
        first = client.get("/openapi.json").content
        plugin = app.extensions["openapi"]
        built = plugin.openapi()

        @app.get("/late")
        def late() -> str:
            return "late"

        assert client.get("/openapi.json").content == first
        assert plugin.openapi() is built
    assert "/late" not in built["paths"]


def test_pages_are_configurable_and_can_be_switched_off() -> None:
    app = App(
        debug=True,
        plugins=[OpenAPI(openapi_url="/api/schema.json", docs_url="/api/docs", redoc_url=None)],
    )
    with TestClient(app) as client:
        assert client.get("/api/schema.json").status_code == 200
        docs = client.get("/api/docs")
        assert docs.status_code == 200
        assert '"url": "/api/schema.json"' in docs.text
        assert client.get("/redoc").status_code == 404
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 404
    off = App(debug=True, plugins=[OpenAPI(openapi_url=None)])
    with TestClient(off) as client:
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert client.get(path).status_code == 404


def test_settings_choose_the_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAKLING_OPENAPI_DOCS_URL", "")
    monkeypatch.setenv("OAKLING_OPENAPI_URL", "/schema.json")
    app = App(debug=True, plugins=[OpenAPI()])
    with TestClient(app) as client:
        assert client.get("/schema.json").status_code == 200
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 200


def test_pages_load_their_assets_from_the_app_only() -> None:
    app = App(debug=True, plugins=[OpenAPI()])
    with TestClient(app) as client:
        for page in ("/docs", "/redoc"):
            text = client.get(page).text
            assert "http://" not in text and "https://" not in text, page
        assert client.get("/openapi-static/swagger-ui/swagger-ui-bundle.js").status_code == 200
        assert client.get("/openapi-static/swagger-ui/swagger-ui.css").status_code == 200
        assert client.get("/openapi-static/redoc/redoc.standalone.js").status_code == 200
        assert client.get("/openapi-static/swagger-ui/LICENSE").status_code == 200
        assert client.get("/openapi-static/redoc/LICENSE").status_code == 200


def test_pages_carry_the_csp_nonce() -> None:
    from oakling.config import Settings
    from oakling.security import CSP, Security

    app = App(
        settings=Settings(SECRET_KEY="k" * 40, ALLOWED_HOSTS=["testserver"]),
        plugins=[Security(csp={"default-src": [CSP.SELF], "script-src": [CSP.NONCE]}), OpenAPI()],
    )
    with TestClient(app) as client:
        for page in ("/docs", "/redoc"):
            answer = client.get(page)
            policy = answer.headers["content-security-policy"]
            nonce = policy.split("'nonce-")[1].split("'")[0]
            assert answer.text.count(f'nonce="{nonce}"') >= 1
            assert answer.text.count("<script src=") == answer.text.count(
                '<script src="/openapi-static/'
            )


def test_data_block_cannot_be_closed_by_a_swagger_parameter() -> None:
    app = App(
        debug=True, plugins=[OpenAPI(swagger_ui_parameters={"x": "</script><script>alert(1)"})]
    )
    with TestClient(app) as client:
        text = client.get("/docs").text
    assert "</script><script>alert(1)" not in text


def test_an_app_without_the_plugin_serves_no_docs_and_never_imports_it() -> None:
    app = App(debug=True)

    @app.get("/")
    def index() -> str:
        return "ok"

    with TestClient(app) as client:
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert client.get(path).status_code == 404
    code = (
        "import sys, oakling\n"
        "from oakling import App\n"
        "app = App(debug=True)\n"
        "app.build()\n"
        "assert 'oakling.openapi' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_openapi_command_prints_the_document() -> None:
    import json

    from click.testing import CliRunner

    app, document = build()
    command = next(item for item in app.cli_commands if item.name == "openapi")
    result = CliRunner().invoke(command, ["--indent", "0"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == document
