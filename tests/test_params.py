from __future__ import annotations

import dataclasses
from typing import Annotated, TypedDict

import msgspec
import pydantic
import pytest

from oakling import (
    App,
    BackgroundTasks,
    Body,
    Cookie,
    Depends,
    File,
    Form,
    Header,
    Query,
    Request,
    UploadFile,
)
from oakling.exceptions import ImproperlyConfigured
from oakling.testing import TestClient


class TaskIn(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    completed: bool = False


@dataclasses.dataclass
class NoteIn:
    text: str
    stars: int = 0


class PointIn(TypedDict):
    x: int
    y: int


class UserIn(pydantic.BaseModel):
    name: str
    age: int


def test_query_params_typed_with_defaults_and_lists(as_handler):
    app = App(debug=True)

    @app.get("/search")
    @as_handler
    def search(
        q: str,
        page: int = 1,
        tags: list[str] = [],  # noqa: B006 - never mutated
        size: Annotated[int, Query(alias="page-size")] = 10,
    ):  # noqa: B006
        return {"q": q, "page": page, "tags": tags, "size": size}

    with TestClient(app) as client:
        assert client.get("/search?q=x&tags=a&tags=b&page-size=5").json() == {
            "q": "x",
            "page": 1,
            "tags": ["a", "b"],
            "size": 5,
        }
        response = client.get("/search?page=two")
        assert response.status_code == 422
        errors = response.json()["detail"]
        assert {"loc": ["query", "q"], "msg": "Field required", "type": "missing"} in errors
        assert any(
            error["loc"] == ["query", "page"] and error["type"] == "type_error" for error in errors
        )


def test_constraints_from_msgspec_meta(as_handler):
    app = App(debug=True)

    @app.get("/list")
    @as_handler
    def listing(page: Annotated[int, Query(), msgspec.Meta(ge=1)] = 1):
        return {"page": page}

    with TestClient(app) as client:
        assert client.get("/list?page=3").json() == {"page": 3}
        response = client.get("/list?page=0")
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "page"]


def test_headers_and_cookies(as_handler):
    app = App(debug=True)

    @app.get("/h")
    @as_handler
    def read(
        user_agent: Annotated[str, Header()],
        x_count: Annotated[int, Header()] = 0,
        session: Annotated[str | None, Cookie()] = None,
    ):
        return {"ua": user_agent, "count": x_count, "session": session}

    with TestClient(app) as client:
        response = client.get(
            "/h", headers={"User-Agent": "probe", "X-Count": "3", "Cookie": "session=abc"}
        )
        assert response.json() == {"ua": "probe", "count": 3, "session": "abc"}
        response = client.get("/h", headers={"X-Count": "many"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["header", "x-count"]


@pytest.mark.parametrize(
    ("model", "payload", "expected"),
    [
        (TaskIn, {"title": "a"}, {"title": "a", "completed": False}),
        (NoteIn, {"text": "n", "stars": 2}, {"text": "n", "stars": 2}),
        (PointIn, {"x": 1, "y": 2}, {"x": 1, "y": 2}),
        (UserIn, {"name": "ann", "age": 3}, {"name": "ann", "age": 3}),
    ],
)
def test_json_body_into_models(as_handler, model, payload, expected):
    app = App(debug=True)

    @as_handler
    def create(item):
        return item

    create.__annotations__ = {"item": model}
    app.add_route("/items", create, methods=["POST"], status_code=201)

    with TestClient(app) as client:
        response = client.post("/items", json=payload)
        assert response.status_code == 201
        assert response.json() == expected


def test_body_validation_errors_have_locations(as_handler):
    app = App(debug=True)

    @app.post("/tasks")
    @as_handler
    def create(task: TaskIn):
        return task

    @app.post("/users")
    @as_handler
    def create_user(user: UserIn):
        return user

    with TestClient(app) as client:
        missing = client.post("/tasks", json={})
        assert missing.status_code == 422
        assert missing.json()["detail"] == [
            {"loc": ["body", "title"], "msg": "Field required", "type": "missing"}
        ]
        wrong = client.post("/tasks", json={"title": 5})
        assert wrong.json()["detail"][0]["loc"] == ["body", "title"]
        too_long = client.post("/tasks", json={"title": "x" * 101})
        assert too_long.status_code == 422
        malformed = client.post(
            "/tasks", content=b'{"title": ', headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 422
        assert malformed.json()["detail"][0]["type"] == "json_invalid"
        empty = client.post("/tasks")
        assert empty.status_code == 422
        assert empty.json()["detail"][0]["loc"] == ["body"]
        assert (
            client.post(
                "/tasks", content=b"title=x", headers={"content-type": "text/plain"}
            ).status_code
            == 415
        )
        bad_user = client.post("/users", json={"name": "a", "age": "old"})
        assert bad_user.status_code == 422
        assert bad_user.json()["detail"][0]["loc"] == ["body", "age"]
        assert (
            client.post(
                "/users", content=b"[", headers={"content-type": "application/json"}
            ).status_code
            == 422
        )


def test_several_body_params_are_embedded(as_handler):
    app = App(debug=True)

    @app.post("/pair")
    @as_handler
    def pair(task: TaskIn, note: Annotated[NoteIn, Body()]):
        return {"task": task.title, "note": note.text}

    with TestClient(app) as client:
        response = client.post("/pair", json={"task": {"title": "t"}, "note": {"text": "n"}})
        assert response.json() == {"task": "t", "note": "n"}
        response = client.post("/pair", json={"task": {"title": "t"}})
        assert response.json()["detail"][0]["loc"] == ["body", "note"]


def test_form_and_file_params(as_handler):
    app = App(debug=True)

    @app.post("/upload")
    @as_handler
    def upload(
        title: Annotated[str, Form()],
        doc: Annotated[UploadFile, File()],
        count: Annotated[int, Form()] = 1,
    ):
        return {"title": title, "count": count, "name": doc.filename, "size": doc.size}

    @app.post("/task-form")
    @as_handler
    def task_form(task: Annotated[TaskIn, Form()]):
        return task

    with TestClient(app) as client:
        response = client.post(
            "/upload", data={"title": "t", "count": "2"}, files={"doc": ("a.txt", b"hello")}
        )
        assert response.json() == {"title": "t", "count": 2, "name": "a.txt", "size": 5}
        response = client.post("/upload", data={"title": "t"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["file", "doc"]
        assert client.post("/task-form", data={"title": "x", "completed": "true"}).json() == {
            "title": "x",
            "completed": True,
        }
        response = client.post("/task-form", data={"title": ""})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["form", "title"]


def test_request_injection_and_background_tasks(as_handler):
    app = App(debug=True)
    done: list[str] = []

    @app.get("/r/{name}")
    @as_handler
    def with_request(request: Request, background: BackgroundTasks, name: str):
        background.add_task(done.append, name)
        return {"path": request.url.path, "method": request.method}

    with TestClient(app) as client:
        assert client.get("/r/x").json() == {"path": "/r/x", "method": "GET"}
    assert done == ["x"]


def test_dependencies_chain_cache_cleanup_and_overrides(as_handler):
    app = App(debug=True)
    calls: list[str] = []

    def settings():
        calls.append("settings")
        return {"prefix": ">"}

    async def database(config: dict = Depends(settings)):
        calls.append("open")
        yield f"{config['prefix']}db"
        calls.append("close")

    def repository(db: str = Depends(database), config: dict = Depends(settings)):
        return f"repo({db})"

    @app.get("/dep")
    @as_handler
    def handler(repo: str = Depends(repository), db: str = Depends(database)):
        calls.append("handler")
        return {"repo": repo, "db": db}

    with TestClient(app) as client:
        assert client.get("/dep").json() == {"repo": "repo(>db)", "db": ">db"}
        assert calls == ["settings", "open", "handler", "close"]  # cached once per request
        app.dependency_overrides[database] = lambda: "fake"
        assert client.get("/dep").json() == {"repo": "repo(fake)", "db": "fake"}


def test_dependency_cleanup_sees_handler_error():
    app = App(debug=True)
    seen: list[str] = []

    def session():
        try:
            yield "s"
        except RuntimeError:
            seen.append("rolled back")
            raise

    @app.get("/boom")
    def boom(db: str = Depends(session)):
        raise RuntimeError("fail")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
    assert seen == ["rolled back"]


def test_dependency_can_raise_http_errors(as_handler):
    app = App(debug=True)

    def require_token(authorization: Annotated[str | None, Header()] = None):
        if authorization != "Bearer good":
            from oakling import abort

            abort(401, "Missing or bad token", {"WWW-Authenticate": "Bearer"})
        return "user"

    @app.get("/private")
    @as_handler
    def private(user: str = Depends(require_token)):
        return {"user": user}

    with TestClient(app) as client:
        response = client.get("/private")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert client.get("/private", headers={"Authorization": "Bearer good"}).json() == {
            "user": "user"
        }


def test_unresolvable_annotation_fails_at_registration():
    app = App(debug=True)

    def handler(item: NotDefinedAnywhere):  # noqa: F821
        return item

    with pytest.raises(ImproperlyConfigured, match="NotDefinedAnywhere"):
        app.add_route("/x", handler)


class Connection:
    """A stand-in for what a battery injects by type (a database session)."""

    def __init__(self) -> None:
        self.log: list[str] = []


def provide_connection(request: Request):
    connection = Connection()
    yield connection
    status = request.response.status_code if request.response is not None else None
    connection.log.append(f"cleanup saw {status}")
    LOG.extend(connection.log)


LOG: list[str] = []


def test_injectables_by_annotation_see_the_response_status(as_handler):
    from oakling.params import register_injectable

    register_injectable(Connection, provide_connection)
    app = App(debug=True)

    @app.get("/ok")
    @as_handler
    def ok(connection: Connection):
        return {"same": isinstance(connection, Connection)}

    @app.get("/fail")
    @as_handler
    def fail(connection: Connection):
        return {"error": True}, 503

    LOG.clear()
    with TestClient(app) as client:
        assert client.get("/ok").json() == {"same": True}
        assert client.get("/fail").status_code == 503
    assert LOG == ["cleanup saw 200", "cleanup saw 503"]
