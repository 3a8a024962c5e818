from __future__ import annotations

import uuid

import pytest

from oakling import App, Router, View
from oakling.exceptions import ImproperlyConfigured
from oakling.routing import NoMatchFound
from oakling.testing import TestClient


def make_app() -> App:
    return App(debug=True)


def test_static_and_param_routes_with_converters(as_handler):
    app = make_app()

    @app.get("/users/{user_id:int}")
    @as_handler
    def user(user_id: int):
        return {"id": user_id, "type": type(user_id).__name__}

    @app.get("/files/{rest:path}")
    @as_handler
    def files(rest: str):
        return {"rest": rest}

    @app.get("/things/{key:uuid}")
    @as_handler
    def thing(key: uuid.UUID):
        return {"key": str(key), "version": key.version}

    @app.get("/price/{value:float}")
    @as_handler
    def price(value: float):
        return {"value": value}

    @app.get("/posts/{slug:slug}")
    @as_handler
    def post(slug: str):
        return {"slug": slug}

    key = uuid.uuid4()
    with TestClient(app) as client:
        assert client.get("/users/42").json() == {"id": 42, "type": "int"}
        assert client.get("/users/abc").status_code == 404
        assert client.get("/files/a/b/c.txt").json() == {"rest": "a/b/c.txt"}
        assert client.get(f"/things/{key}").json() == {"key": str(key), "version": 4}
        assert client.get("/things/not-a-uuid").status_code == 404
        assert client.get("/price/9.5").json() == {"value": 9.5}
        assert client.get("/posts/hello-world_1").json() == {"slug": "hello-world_1"}
        assert client.get("/posts/hello world").status_code == 404


def test_converter_from_annotation(as_handler):
    app = make_app()

    @app.get("/items/{item_id}")
    @as_handler
    def item(item_id: int):
        return {"id": item_id}

    with TestClient(app) as client:
        assert client.get("/items/7").json() == {"id": 7}
        assert client.get("/items/seven").status_code == 404


def test_flask_style_path_syntax():
    app = make_app()

    @app.get("/old/<int:number>")
    def old(number: int):
        return {"number": number}

    with TestClient(app) as client:
        assert client.get("/old/5").json() == {"number": 5}
    assert app.url_path_for("old", number=5) == "/old/5"


def test_method_not_allowed_lists_allow():
    app = make_app()

    @app.get("/thing")
    async def get_thing():
        return "x"

    @app.post("/thing")
    async def post_thing():
        return "y"

    with TestClient(app) as client:
        response = client.delete("/thing")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"
        assert response.json() == {"detail": "Method Not Allowed"}


def test_head_and_options_are_automatic():
    app = make_app()

    @app.get("/page")
    async def page():
        return "hello"

    with TestClient(app) as client:
        head = client.head("/page")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == "5"
        options = client.options("/page")
        assert options.status_code == 204
        assert options.headers["allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize("method", ["FOO", "PROPFIND", "BREW"])
def test_unknown_methods_get_405_not_500(method):
    app = make_app()

    @app.get("/")
    async def index():
        return "x"

    with TestClient(app) as client:
        assert client.request(method, "/").status_code == 405
        assert client.request(method, "/nowhere").status_code == 404


@pytest.mark.parametrize("method", ["G ET", "GET\r\nX: y", "GET/", "(GET)", ""])
def test_non_token_methods_get_400(method):
    app = make_app()

    @app.get("/")
    async def index():
        return "x"

    import asyncio

    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/", "headers": [], "query_string": b""}
    app.build()
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400


def test_trailing_slash_redirects_with_308_keeping_query():
    app = make_app()

    @app.get("/tasks/")
    async def tasks():
        return "list"

    @app.post("/submit")
    async def submit():
        return "ok"

    with TestClient(app, follow_redirects=False) as client:
        response = client.get("/tasks?page=2")
        assert response.status_code == 308
        assert response.headers["location"] == "/tasks/?page=2"
        assert client.post("/submit/").headers["location"] == "/submit"
        assert client.get("/nothing/").status_code == 404


def test_trailing_slash_redirect_is_never_protocol_relative():
    app = make_app()

    @app.get("/{name}/")
    async def anything(name: str):
        return name

    with TestClient(app, follow_redirects=False) as client:
        response = client.get("//evil.example")
        assert response.status_code == 404
        assert "location" not in response.headers


def test_router_prefix_names_and_url_for():
    app = make_app()
    api = Router(name="api")

    @api.get("/tasks/{task_id:int}")
    async def task_detail(task_id: int):
        return {"id": task_id}

    nested = Router("/v2", name="v2")

    @nested.get("/ping")
    async def ping():
        return "pong"

    api.include(nested)
    app.include(api, prefix="/api")

    with TestClient(app) as client:
        assert client.get("/api/tasks/3").json() == {"id": 3}
        assert client.get("/api/v2/ping").text == "pong"
    assert app.url_path_for("api:task_detail", task_id=3) == "/api/tasks/3"
    assert app.url_path_for("api:v2:ping") == "/api/v2/ping"
    assert app.url_path_for("api:task_detail", task_id=3, page=2) == "/api/tasks/3?page=2"
    with pytest.raises(NoMatchFound):
        app.url_path_for("task_detail", task_id=3)
    with pytest.raises(NoMatchFound):
        app.url_path_for("api:task_detail")
    with pytest.raises(NoMatchFound):
        app.url_path_for("api:task_detail", task_id=-1)


def test_url_for_quotes_values():
    app = make_app()

    @app.get("/search/{term}")
    async def search(term: str):
        return term

    assert app.url_path_for("search", term="a b?c") == "/search/a%20b%3Fc"
    with pytest.raises(NoMatchFound):
        app.url_path_for("search", term="a/b")


def test_duplicate_names_are_refused():
    app = make_app()

    @app.get("/a", name="same")
    async def first():
        return "a"

    @app.get("/b", name="same")
    async def second():
        return "b"

    with pytest.raises(ImproperlyConfigured):
        app.build()


def test_bad_paths_fail_at_registration():
    app = make_app()
    with pytest.raises(ImproperlyConfigured):
        app.add_route("no-slash", lambda: "x")
    with pytest.raises(ImproperlyConfigured):
        app.add_route("/x/{id:nope}", lambda id: "x")
    with pytest.raises(ImproperlyConfigured):
        Router("/trailing/")


def test_static_paths_win_over_parameters():
    app = make_app()

    @app.get("/users/{name}")
    async def by_name(name: str):
        return f"name {name}"

    @app.get("/users/me")
    async def me():
        return "me"

    with TestClient(app) as client:
        assert client.get("/users/me").text == "me"
        assert client.get("/users/bob").text == "name bob"


class TaskView(View):
    instances = 0

    def __init__(self) -> None:
        TaskView.instances += 1

    def get(self, task_id: int):
        return {"id": task_id}

    async def delete(self, task_id: int):
        return None


def test_class_based_view():
    app = make_app()
    app.add_route("/tasks/{task_id}", TaskView)
    before = TaskView.instances
    with TestClient(app) as client:
        assert client.get("/tasks/4").json() == {"id": 4}
        assert client.get("/tasks/x").status_code == 404
        assert client.delete("/tasks/4").status_code == 204
        assert client.put("/tasks/4").status_code == 405
    assert TaskView.instances - before == 2  # one instance per request, as Django does


def test_mount_any_asgi_app():
    async def raw_app(scope, receive, send):
        body = f"{scope['root_path']}|{scope['path']}".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    app = make_app()
    app.mount("/legacy", raw_app, name="legacy")
    with TestClient(app) as client:
        assert client.get("/legacy/a/b").text == "/legacy|/a/b"
        assert client.get("/legacy").text == "/legacy|/"
        assert client.get("/legacyx").status_code == 404
    assert app.url_path_for("legacy", path="x/y.css") == "/legacy/x/y.css"


def test_include_router_without_name_keeps_plain_names():
    app = make_app()
    router = Router("/r")

    @router.get("/x")
    async def plain():
        return "x"

    app.include(router)
    assert app.url_path_for("plain") == "/r/x"


def test_a_str_annotation_keeps_the_default_converter_not_slug():
    from oakling.convertors import converter_for_annotation

    assert converter_for_annotation(str) is None
    app = App(secret_key="s" * 40)

    @app.get("/files/{name}")
    async def show(name: str) -> dict[str, str]:
        return {"name": name}

    with TestClient(app) as client:
        assert client.get("/files/report.v2.pdf").json() == {"name": "report.v2.pdf"}
        assert client.get("/files/a b").json() == {"name": "a b"}
