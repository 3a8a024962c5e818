"""``url_for`` as Flask users write it: static files, dotted names, paths vs URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from oakling import App, HTMLResponse, Request, Router
from oakling.config import load_settings
from oakling.routing import NoMatchFound
from oakling.templating import render
from oakling.testing import TestClient

SECRET = "x" * 40


def make_app(tmp_path: Path, **settings: object) -> App:
    (tmp_path / "templates").mkdir(exist_ok=True)
    static = tmp_path / "static"
    static.mkdir(exist_ok=True)
    (static / "style.css").write_text("body { color: red }", encoding="utf-8")
    return App(
        settings=load_settings(SECRET_KEY=SECRET, **settings),
        template_folder=tmp_path / "templates",
        static_dir=static,
    )


def test_static_filename_is_the_file_not_the_folder(tmp_path: Path) -> None:
    # The Flask habit that used to give "/static/": the keyword was dropped.
    app = make_app(tmp_path)
    assert app.url_for("static", filename="style.css") == "/static/style.css"
    assert app.url_for("static", path="style.css") == "/static/style.css"
    with TestClient(app) as client:
        url = app.url_for("static", filename="style.css")
        assert client.get(url).text == "body { color: red }"


def test_static_filename_in_a_template_serves_the_file(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (tmp_path / "templates" / "page.html").write_text(
        "{{ url_for('static', filename='style.css') }}|{{ static('style.css') }}"
    )

    @app.get("/")
    def index(request: Request) -> HTMLResponse:
        return render(request, "page.html")

    with TestClient(app) as client:
        first, second = client.get("/").text.split("|")
        assert first == second == "/static/style.css"
        assert client.get(first).status_code == 200
    with TestClient(app, root_path="/sub") as client:
        assert client.get("/").text.split("|")[0] == "/sub/static/style.css"


def test_extra_mount_parameters_go_to_the_query_never_dropped(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert app.url_for("static", filename="style.css", v=3) == "/static/style.css?v=3"
    assert app.url_for("static", filename="a b.css", v=None) == "/static/a%20b.css"
    with pytest.raises(NoMatchFound, match="not both"):
        app.url_for("static", filename="a.css", path="b.css")


def test_flask_dotted_names_find_router_routes() -> None:
    app = App(secret_key=SECRET)
    auth = Router("/auth", name="auth")
    inner = Router("/v2", name="v2")

    @auth.get("/login")
    def login() -> str:
        return "login"

    @inner.get("/ping")
    def ping() -> str:
        return "pong"

    auth.include(inner)
    app.include(auth)
    assert app.url_for("auth.login") == app.url_for("auth:login") == "/auth/login"
    assert app.url_for("auth.v2.ping") == "/auth/v2/ping"
    with pytest.raises(NoMatchFound, match="auth.logout"):
        app.url_for("auth.logout")


def test_a_route_named_with_a_dot_wins_over_the_dotted_lookup() -> None:
    app = App(secret_key=SECRET)
    auth = Router("/auth", name="auth")

    @auth.get("/login")
    def login() -> str:
        return "router"

    @app.get("/dotted", name="auth.login")
    def dotted() -> str:
        return "dotted"

    app.include(auth)
    assert app.url_for("auth.login") == "/dotted"
    assert app.url_for("auth:login") == "/auth/login"


def test_module_level_url_for_does_not_freeze_the_app(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    @app.get("/first")
    def first() -> str:
        return "first"

    # At import time, as in `LOGIN_URL = app.url_for(...)`: a path, no build.
    assert app.url_for("first", tab="x") == "/first?tab=x"
    assert app.url_for("static", filename="style.css") == "/static/style.css"

    @app.get("/second")
    def second() -> str:
        return "second"

    assert app.url_for("second") == "/second"
    with TestClient(app) as client:
        assert client.get("/second").text == "second"
        assert client.get("/static/style.css").status_code == 200


def test_external_outside_a_request_uses_server_name(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    @app.get("/tasks/{id:int}")
    def task(id: int) -> str:
        return str(id)

    with pytest.raises(RuntimeError, match="SERVER_NAME"):
        app.url_for("task", id=1, _external=True)
    with pytest.raises(ValueError, match="_external"):
        app.url_for("task", id=1, _scheme="https")
    app = make_app(tmp_path, SERVER_NAME="example.com", PREFERRED_URL_SCHEME="https")
    app.add_route("/tasks/{id:int}", task)
    assert app.url_for("task", id=1, _external=True) == "https://example.com/tasks/1"
    assert app.url_for("task", id=1, _external=True, _scheme="http") == "http://example.com/tasks/1"
    assert app.url_for("task", id=1, _anchor="notes") == "/tasks/1#notes"


def test_request_url_for_stays_absolute_and_templates_give_paths(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (tmp_path / "templates" / "page.html").write_text(
        "{{ url_for('task', id=2) }}|{{ url_for('task', id=2, _external=True) }}"
        "|{{ url_for('task', id=2, _anchor='c') }}"
    )

    @app.get("/tasks/{id:int}")
    def task(request: Request, id: int) -> str:
        return " ".join(
            [
                request.url_for("task", id=id),
                request.url_for("task", id=id, _external=False),
                request.url_for("task", id=id, _scheme="https"),
            ]
        )

    @app.get("/")
    def index(request: Request) -> HTMLResponse:
        return render(request, "page.html")

    with TestClient(app, root_path="/sub") as client:
        assert client.get("/tasks/2").text == (
            "http://testserver/sub/tasks/2 /sub/tasks/2 https://testserver/sub/tasks/2"
        )
        assert client.get("/").text == ("/sub/tasks/2|http://testserver/sub/tasks/2|/sub/tasks/2#c")


def test_template_external_without_request_uses_server_name(tmp_path: Path) -> None:
    app = make_app(tmp_path, SERVER_NAME="example.com")
    (tmp_path / "templates" / "mail.txt").write_text("{{ url_for('index', _external=True) }}")

    @app.get("/")
    def index() -> str:
        return "home"

    # An e-mail body rendered outside a request, as Flask does with SERVER_NAME.
    assert app.templates.render_string("mail.txt") == "http://example.com/"
