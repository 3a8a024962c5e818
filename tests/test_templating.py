from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest

from oakling import App, HTMLResponse, Request, Router
from oakling.templating import Templates, render
from oakling.testing import TestClient
from oakling.types import Receive, Scope, Send

SECRET = "x" * 40


def write(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


async def dummy_static(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def make_app(tmp_path: Path, **options: Any) -> App:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    return App(secret_key=SECRET, template_folder=folder, **options)


def test_autoescape_on_for_html_templates(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(tmp_path / "templates", "page.html", "<p>{{ value }}</p>")
    write(tmp_path / "templates", "page.html.j2", "<p>{{ value }}</p>")

    @app.get("/")
    def index(request: Request, name: str = "page.html") -> HTMLResponse:
        return render(request, name, value="<script>alert(1)</script>")

    with TestClient(app) as client:
        for name in ("page.html", "page.html.j2"):
            response = client.get("/", params={"name": name})
            assert response.status_code == 200
            assert response.text == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
            assert "<script>" not in response.text


def test_app_template_folder_is_searched_without_routes(tmp_path: Path) -> None:
    write(tmp_path, "page.html", "ok")
    blog_folder = tmp_path / "blog"
    write(blog_folder, "post.html", "post")
    app = App(secret_key=SECRET, template_folder=tmp_path)
    app.include(Router("/blog", template_folder=str(blog_folder)))
    assert app.templates.render_string("page.html") == "ok"
    assert app.templates.render_string("post.html") == "post"


def test_autoescape_off_for_txt_templates(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(tmp_path / "templates", "mail.txt", "Hello {{ name }} & co")

    rendered = app.templates.render_string("mail.txt", {"name": "Tom & <Jerry>"})

    assert rendered == "Hello Tom & <Jerry> & co"


def test_autoescape_on_for_templates_from_strings(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert app.templates.env.from_string("{{ v }}").render(v="<b>") == "&lt;b&gt;"


def test_safe_filter_opts_out_of_escaping(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(tmp_path / "templates", "page.html", "{{ value|safe }}")
    assert app.templates.render_string("page.html", {"value": "<b>x</b>"}) == "<b>x</b>"


def test_undefined_variable_renders_empty(tmp_path: Path) -> None:
    # Flask's behaviour: `{% if error %}` works when no error was passed.
    app = make_app(tmp_path)
    write(
        tmp_path / "templates", "page.html", "[{% if error %}{{ error }}{% endif %}{{ missing }}]"
    )
    assert app.templates.render_string("page.html") == "[]"


def test_strict_undefined_can_be_chosen(tmp_path: Path) -> None:
    write(tmp_path, "page.html", "{{ missing }}")
    templates = Templates([tmp_path], undefined=jinja2.StrictUndefined)
    with pytest.raises(jinja2.UndefinedError):
        templates.render_string("page.html")


def test_url_for_with_path_params_and_query(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(
        tmp_path / "templates",
        "page.html",
        '<a href="{{ url_for("task", id=7) }}">{{ url_for("search", q="a b", page=2) }}</a>',
    )

    @app.get("/tasks/{id:int}")
    def task(id: int) -> str:
        return str(id)

    @app.get("/search")
    def search() -> str:
        return ""

    @app.get("/")
    def index(request: Request) -> HTMLResponse:
        return render(request, "page.html")

    with TestClient(app) as client:
        response = client.get("/")
    # The query's "&" is escaped for the HTML attribute/text.
    assert response.text == '<a href="/tasks/7">/search?q=a+b&amp;page=2</a>'


def test_url_for_router_namespace(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(tmp_path / "templates", "page.html", '{{ url_for("api:item", id=3) }}')
    api = Router("/api", name="api")

    @api.get("/items/{id:int}")
    def item(id: int) -> str:
        return str(id)

    app.include(api)

    @app.get("/")
    def index(request: Request) -> HTMLResponse:
        return render(request, "page.html")

    with TestClient(app) as client:
        assert client.get("/").text == "/api/items/3"


def test_url_for_and_static_with_root_path(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(
        tmp_path / "templates",
        "page.html",
        '{{ url_for("index") }} {{ static("css/site.css") }} '
        '{{ url_for("index", _external=True) }}',
    )
    app.mount("/static", dummy_static, name="static")

    @app.get("/")
    def index(request: Request) -> HTMLResponse:
        return render(request, "page.html")

    with TestClient(app, root_path="/prefix") as client:
        assert client.get("/").text == (
            "/prefix/ /prefix/static/css/site.css http://testserver/prefix/"
        )
    with TestClient(app) as client:
        assert client.get("/").text == "/ /static/css/site.css http://testserver/"


def test_url_for_without_request_uses_the_app(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(tmp_path / "templates", "page.html", '{{ url_for("task", id=1) }}')

    @app.get("/tasks/{id:int}")
    def task(id: int) -> str:
        return str(id)

    assert app.templates.render_string("page.html") == "/tasks/1"


def test_url_for_without_request_or_app_says_why(tmp_path: Path) -> None:
    write(tmp_path, "page.html", '{{ url_for("x") }}')
    with pytest.raises(RuntimeError, match="request"):
        Templates([tmp_path]).render_string("page.html")


def test_context_processors(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(tmp_path / "templates", "page.html", "{{ site }}|{{ path }}|{{ who }}")

    @app.context_processor
    def with_request(request: Request) -> dict[str, Any]:
        return {"path": request.url.path, "who": "processor"}

    @app.context_processor
    def flask_style() -> dict[str, Any]:
        return {"site": "Tasks"}

    @app.get("/page")
    def page(request: Request, who: str | None = None) -> HTMLResponse:
        # Values passed to render win over context processors', as in Flask.
        return render(request, "page.html", {"who": who} if who else None)

    with TestClient(app) as client:
        assert client.get("/page").text == "Tasks|/page|processor"
        assert client.get("/page", params={"who": "handler"}).text == "Tasks|/page|handler"


def test_async_context_processor_is_refused_at_registration(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    async def processor(request: Request) -> dict[str, Any]:
        return {}

    class AsyncCallable:
        async def __call__(self, request: Request) -> dict[str, Any]:
            return {}

    with pytest.raises(TypeError, match="synchronous"):
        app.context_processor(processor)
    with pytest.raises(TypeError, match="synchronous"):
        app.context_processor(AsyncCallable())
    assert app.context_processors == []


def test_context_processor_returning_awaitable_or_non_dict_fails_clearly(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(tmp_path / "templates", "page.html", "x")

    async def coroutine_function(request: Request) -> dict[str, Any]:
        return {}

    app.context_processors.append(lambda request: coroutine_function(request))
    request = Request({"type": "http", "app": app, "headers": [], "path": "/"})
    with pytest.raises(TypeError, match="awaitable"):
        render(request, "page.html")

    app.context_processors[:] = [lambda request: ["not", "a", "dict"]]
    with pytest.raises(TypeError, match="not a dict"):
        render(request, "page.html")


def test_app_globals_and_filters(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(tmp_path / "templates", "page.html", "{{ site_name }} {{ 'abc'|shout }} {{ late }}")
    app.add_template_global("site_name", "Tasks")

    @app.template_filter()
    def shout(value: str) -> str:
        return value.upper() + "!"

    assert app.templates.render_string("page.html") == "Tasks ABC! "
    # Registered after the environment was built: still seen.
    app.add_template_global("late", "yes")
    assert app.templates.render_string("page.html") == "Tasks ABC! yes"


def test_filter_registered_by_name_after_environment_exists(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(tmp_path / "templates", "page.html", "{{ 3|double }}")
    app.templates.env.from_string("")  # the environment exists before the filter

    app.template_filter("double")(lambda value: value * 2)

    assert app.templates.render_string("page.html") == "6"


def test_router_template_folder_is_searched_after_the_apps(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    blog_folder = tmp_path / "blog_templates"
    write(tmp_path / "templates", "shared.html", "from app")
    write(blog_folder, "shared.html", "from blog")
    write(blog_folder, "blog/post.html", "post")
    blog = Router("/blog", name="blog", template_folder=str(blog_folder))

    @blog.get("/shared")
    def shared(request: Request) -> HTMLResponse:
        return render(request, "shared.html")

    @blog.get("/post")
    def post(request: Request) -> HTMLResponse:
        return render(request, "blog/post.html")

    @app.get("/")
    def index() -> str:
        return ""

    app.include(blog)
    with TestClient(app) as client:
        assert client.get("/blog/shared").text == "from app"
        assert client.get("/blog/post").text == "post"


def test_render_response_status_headers_and_media_type(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(tmp_path / "templates", "page.html", "<h1>{{ title }} {{ count }}</h1>")
    write(tmp_path / "templates", "robots.txt", "Disallow: {{ path }}")

    @app.post("/created")
    def created(request: Request) -> HTMLResponse:
        response = render(request, "page.html", {"title": "Made"}, count=2)
        response.status_code = 201
        response.headers["x-extra"] = "yes"
        return response

    @app.get("/robots.txt")
    def robots(request: Request) -> HTMLResponse:
        return app.templates.response(
            request,
            "robots.txt",
            {"path": "/<admin>"},
            status_code=203,
            headers={"cache-control": "max-age=60"},
            media_type="text/plain",
        )

    with TestClient(app) as client:
        response = client.post("/created")
        assert response.status_code == 201
        assert response.text == "<h1>Made 2</h1>"
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["x-extra"] == "yes"

        response = client.get("/robots.txt")
        assert response.status_code == 203
        assert response.text == "Disallow: /<admin>"
        assert response.headers["content-type"].startswith("text/plain")
        assert response.headers["cache-control"] == "max-age=60"


def test_render_from_async_handler_has_request_in_context(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    write(tmp_path / "templates", "page.html", "{{ request.method }} {{ request.path }}")

    @app.get("/here")
    async def here(request: Request) -> HTMLResponse:
        return render(request, "page.html")

    with TestClient(app) as client:
        assert client.get("/here").text == "GET /here"


def test_missing_template_is_a_server_error(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    @app.get("/")
    def index(request: Request) -> HTMLResponse:
        return render(request, "nope.html")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/", headers={"accept": "text/html"})
    assert response.status_code == 500
    assert "nope.html" not in response.text


def test_missing_template_in_debug_names_it(tmp_path: Path) -> None:
    app = make_app(tmp_path, debug=True)

    @app.get("/")
    def index(request: Request) -> HTMLResponse:
        return render(request, "nope.html")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/", headers={"accept": "text/html"})
    assert response.status_code == 500
    assert "jinja2.exceptions.TemplateNotFound" in response.text
    assert "nope.html" in response.text


@pytest.mark.parametrize("debug", [True, False])
def test_auto_reload_follows_debug(tmp_path: Path, debug: bool) -> None:
    app = make_app(tmp_path, debug=debug)
    assert app.templates.env.auto_reload is debug


def test_import_oakling_does_not_import_jinja2() -> None:
    code = "import sys, oakling; assert 'jinja2' not in sys.modules, 'jinja2 imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    code = "import sys, oakling; oakling.render; assert 'jinja2' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
