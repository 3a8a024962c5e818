"""Messages: Flask's flash and Django's levels, in cookie and database sessions."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup

from oakling import App, Request
from oakling.config import Settings
from oakling.exceptions import ImproperlyConfigured
from oakling.messages import (
    MessageFailure,
    Messages,
    add_message,
    flash,
    get_flashed_messages,
    get_messages,
)
from oakling.messages import api as messages
from oakling.responses import RedirectResponse
from oakling.sessions import Sessions
from oakling.testing import TestClient
from tests.conftest import skip_or_fail

SECRET = "m" * 20 + "essages-test-secret-key-0123456789abcdef"
PG_URL = os.environ.get("OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

BASE = """<!doctype html><title>t</title>
{% for category, message in get_flashed_messages(with_categories=true) %}
<p class="flash {{ category }}" role="status">{{ message }}</p>
{% endfor %}
{% block body %}{% endblock %}"""

DJANGO = """{% if messages %}<ul>{% for message in messages %}
<li class="{{ message.tags }}">{{ message }}</li>{% endfor %}</ul>{% endif %}"""


def _plugins(kind: str, tmp_path: Path) -> list[Any]:
    if kind == "cookie":
        return [Sessions()]
    from oakling.db import Database
    from oakling.sessions.database import DatabaseBackend
    from tests.sessions.session_support import _database_problem, create_session_table

    if kind == "postgresql":
        problem = _database_problem(PG_URL)
        if problem:
            skip_or_fail(problem)
        url = PG_URL
    else:
        url = f"sqlite:///{tmp_path / 'sessions.db'}"
    database = Database(url)
    create_session_table(database.sync_engine())
    return [database, Sessions(DatabaseBackend())]


@pytest.fixture(params=["cookie", "sqlite", "postgresql"])
def make_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def factory(**kwargs: Any) -> App:
        templates = tmp_path / "templates"
        templates.mkdir(exist_ok=True)
        (templates / "base.html").write_text(BASE)
        (templates / "django.html").write_text(DJANGO)
        app = App(
            settings=Settings(SECRET_KEY=SECRET, extra=kwargs.pop("extra", {})),
            plugins=[*_plugins(request.param, tmp_path), Messages(**kwargs)],
            template_folder=templates,
        )
        apps.append(app)
        return app

    yield factory
    for app in apps:
        database = app.extensions.get("db")
        if database is not None:
            database.sync_engine().dispose()


def _prg_app(app: App, as_handler: Callable[..., Any]) -> App:
    """The post/redirect/get pattern: POST adds, flashes, redirects; GET shows."""
    from oakling import render

    @app.post("/tasks")
    @as_handler
    def add(request: Request) -> RedirectResponse:
        flash("Task <b>added</b>.", "success")
        return RedirectResponse("/", 303)

    @app.get("/")
    @as_handler
    def index(request: Request) -> Any:
        return render(request, "base.html")

    return app


def test_post_redirect_get_shows_the_message_once(
    make_app: Callable[..., App], as_handler: Callable[..., Any]
) -> None:
    app = _prg_app(make_app(), as_handler)
    with TestClient(app, follow_redirects=False) as client:
        posted = client.post("/tasks")
        assert posted.status_code == 303
        page = client.get(posted.headers["location"])
        assert '<p class="flash success" role="status">' in page.text
        # SECURITY: a plain str is escaped in the page.
        assert "Task &lt;b&gt;added&lt;/b&gt;." in page.text
        again = client.get("/")
        assert "flash" not in again.text


def test_messages_survive_following_the_redirect(make_app: Callable[..., App]) -> None:
    app = _prg_app(make_app(), lambda func: func)
    with TestClient(app, follow_redirects=True) as client:
        page = client.post("/tasks")
        assert page.status_code == 200
        assert 'class="flash success"' in page.text
        assert "flash" not in client.get("/").text


def test_a_message_marked_safe_is_not_escaped(make_app: Callable[..., App]) -> None:
    from oakling import render

    app = make_app()

    @app.post("/link")
    def link(request: Request) -> RedirectResponse:
        flash(Markup('Saved: <a href="/t/1">see it</a>'), "info")
        return RedirectResponse("/", 303)

    @app.get("/")
    def index(request: Request) -> Any:
        return render(request, "base.html")

    with TestClient(app) as client:
        page = client.post("/link")
        assert '<a href="/t/1">see it</a>' in page.text


def test_a_message_with_a_script_is_escaped(make_app: Callable[..., App]) -> None:
    """A title a user typed, echoed in a message, does not run as script."""
    from oakling import render

    app = make_app()

    @app.post("/tasks")
    async def add(request: Request) -> RedirectResponse:
        form = await request.form()
        messages.success(request, f"Added {form['title']}")
        return RedirectResponse("/", 303)

    @app.get("/")
    def index(request: Request) -> Any:
        return render(request, "django.html")

    with TestClient(app) as client:
        page = client.post("/tasks", data={"title": "<script>alert(1)</script>"})
        assert "<script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert 'class="success"' in page.text


def test_django_levels_tags_and_minimum_level(make_app: Callable[..., App]) -> None:
    app = make_app()

    @app.post("/add")
    def add(request: Request) -> dict[str, bool]:
        messages.debug(request, "dropped: under MESSAGE_LEVEL")
        messages.info(request, "i")
        messages.success(request, "s", extra_tags="wide")
        messages.warning(request, "w")
        messages.error(request, "e")
        add_message(request, 35, "custom")
        return {"ok": True}

    @app.get("/read")
    def read(request: Request) -> list[list[Any]]:
        return [[m.level, m.message, m.tags] for m in get_messages(request)]

    with TestClient(app) as client:
        client.post("/add")
        assert client.get("/read").json() == [
            [20, "i", "info"],
            [25, "s", "wide success"],
            [30, "w", "warning"],
            [40, "e", "error"],
            [35, "custom", ""],
        ]
        assert client.get("/read").json() == []


def test_message_level_setting_and_tags_override(make_app: Callable[..., App]) -> None:
    app = make_app(extra={"MESSAGE_LEVEL": "10"}, tags={40: "danger"})

    @app.post("/add")
    def add(request: Request) -> None:
        messages.debug(request, "d")
        messages.error(request, "e")

    @app.get("/read")
    def read(request: Request) -> list[str]:
        return [m.tags for m in get_messages(request)]

    with TestClient(app) as client:
        client.post("/add")
        assert client.get("/read").json() == ["debug", "danger"]


def test_get_flashed_messages_filters_and_categories(make_app: Callable[..., App]) -> None:
    app = make_app()

    @app.post("/add")
    def add() -> None:
        flash("plain")
        flash("bad", "error")
        flash("note", "info")

    @app.get("/errors")
    def errors() -> dict[str, Any]:
        first = get_flashed_messages(category_filter=["error"])
        # NOTE: Flask returns the same list again within one request.
        second = get_flashed_messages(with_categories=True)
        return {"first": first, "second": second}

    with TestClient(app) as client:
        client.post("/add")
        assert client.get("/errors").json() == {
            "first": ["bad"],
            "second": [["message", "plain"], ["error", "bad"], ["info", "note"]],
        }
        # NOTE: filtered-out messages are cleared too, as in Flask.
        assert client.get("/errors").json() == {"first": [], "second": []}


def test_checking_for_messages_does_not_consume_them(make_app: Callable[..., App]) -> None:
    app = make_app()

    @app.post("/add")
    def add(request: Request) -> None:
        messages.info(request, "kept")

    @app.get("/count")
    def count(request: Request) -> dict[str, int]:
        return {"count": len(get_messages(request))}

    @app.get("/read")
    def read(request: Request) -> list[str]:
        return [str(m) for m in get_messages(request)]

    with TestClient(app) as client:
        client.post("/add")
        assert client.get("/count").json() == {"count": 1}
        assert client.get("/read").json() == ["kept"]
        assert client.get("/count").json() == {"count": 0}


def test_a_page_without_messages_does_not_write_the_session(make_app: Callable[..., App]) -> None:
    from oakling import render

    app = make_app()

    @app.get("/")
    def index(request: Request) -> Any:
        return render(request, "base.html")

    with TestClient(app) as client:
        response = client.get("/")
        assert response.status_code == 200
        assert "set-cookie" not in response.headers


def test_messages_in_sync_handlers_run_in_the_thread_pool(make_app: Callable[..., App]) -> None:
    import threading

    app = make_app()
    threads: list[str] = []

    @app.post("/add")
    def add() -> None:
        threads.append(threading.current_thread().name)
        flash("from a worker thread")

    @app.get("/read")
    async def read() -> list[str]:
        return get_flashed_messages()

    with TestClient(app) as client:
        client.post("/add")
        assert client.get("/read").json() == ["from a worker thread"]
    assert threads[0].startswith("oakling")


def test_flash_outside_a_request_says_so() -> None:
    with pytest.raises(RuntimeError, match="outside a request"):
        flash("nobody is asking")


def test_add_message_without_the_plugin_fails_unless_silent() -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Sessions()])

    @app.post("/loud")
    def loud(request: Request) -> None:
        messages.info(request, "x")

    @app.post("/quiet")
    def quiet(request: Request) -> str:
        messages.info(request, "x", fail_silently=True)
        return "ok"

    with TestClient(app, raise_server_exceptions=True) as client:
        with pytest.raises(MessageFailure, match="Messages plugin"):
            client.post("/loud")
        assert client.post("/quiet").text == "ok"


def test_messages_need_the_sessions_battery() -> None:
    with pytest.raises(ImproperlyConfigured, match="sessions battery"):
        App(settings=Settings(SECRET_KEY=SECRET), plugins=[Messages()])


def test_a_non_string_message_is_a_type_error(make_app: Callable[..., App]) -> None:
    app = make_app()

    @app.post("/add")
    def add(request: Request) -> None:
        messages.info(request, {"not": "text"})  # type: ignore[arg-type]

    with TestClient(app, raise_server_exceptions=True) as client:
        with pytest.raises(TypeError, match="a message is a str"):
            client.post("/add")


def test_a_tampered_message_record_is_ignored(make_app: Callable[..., App]) -> None:
    """An older or foreign record in the session does not break the page."""
    app = make_app()

    @app.post("/poison")
    def poison(request: Request) -> None:
        request.session["_messages"] = [["x"], [20, "fine", "", False, "info"], 7]

    @app.get("/read")
    def read() -> list[str]:
        return get_flashed_messages()

    with TestClient(app) as client:
        client.post("/poison")
        assert client.get("/read").json() == ["fine"]


def test_request_less_flash_works_wherever_a_route_runs(make_app: Callable[..., App]) -> None:
    """flash() finds the request from hooks, dependencies, sync and async handlers."""
    from oakling import Depends

    app = make_app()

    def flashing_dependency() -> str:
        flash("from a sync dependency")
        return "ok"

    @app.before_request
    async def hook(request: Request) -> None:
        if request.url.path == "/hooked":
            flash("from an async hook")

    @app.post("/hooked")
    async def hooked() -> None:
        flash("from an async handler taking nothing")

    @app.post("/sync-fast")
    def sync_fast() -> None:
        flash("from a sync handler taking nothing")

    @app.post("/sync-path/{number}")
    def sync_path(number: int) -> None:
        flash(f"from a sync handler taking the path {number}")

    @app.post("/dependency")
    def dependency(value: str = Depends(flashing_dependency)) -> None:
        flash(f"from a sync handler after the dependency said {value}")

    @app.get("/read")
    async def read() -> list[str]:
        return get_flashed_messages()

    with TestClient(app) as client:
        client.post("/hooked")
        assert client.get("/read").json() == [
            "from an async hook",
            "from an async handler taking nothing",
        ]
        client.post("/sync-fast")
        assert client.get("/read").json() == ["from a sync handler taking nothing"]
        client.post("/sync-path/7")
        assert client.get("/read").json() == ["from a sync handler taking the path 7"]
        client.post("/dependency")
        assert client.get("/read").json() == [
            "from a sync dependency",
            "from a sync handler after the dependency said ok",
        ]


def test_messages_set_no_request_context(make_app: Callable[..., App]) -> None:
    """Installed but unused, Messages adds nothing per request: no ContextVar, no layer."""
    from oakling.globals import has_request_context

    app = make_app()
    seen: list[bool] = []

    @app.get("/")
    async def index() -> str:
        seen.append(has_request_context())
        return "ok"

    with TestClient(app) as client:
        assert client.get("/").text == "ok"
    assert seen == [False]
    assert app._request_context is False


def test_flash_in_a_task_of_its_own_says_how_to_reach_the_request(
    make_app: Callable[..., App],
) -> None:
    """A task the handler starts has no route frame: a clear error, unless RequestGlobals."""
    import asyncio

    from oakling.globals import RequestGlobals

    app = make_app()
    errors: list[str] = []

    async def later() -> None:
        try:
            flash("from a task")
        except RuntimeError as ex:
            errors.append(str(ex))

    @app.post("/spawn")
    async def spawn() -> None:
        await asyncio.create_task(later())

    with TestClient(app) as client:
        client.post("/spawn")
    assert len(errors) == 1 and "RequestGlobals()" in errors[0] and "request=" in errors[0]

    with_globals = make_app()
    with_globals.install(RequestGlobals())

    @with_globals.post("/spawn")
    async def spawn_again() -> None:
        await asyncio.create_task(later())

    @with_globals.get("/read")
    async def read() -> list[str]:
        return get_flashed_messages()

    errors.clear()
    with TestClient(with_globals) as client:
        client.post("/spawn")
        assert client.get("/read").json() == ["from a task"]
    assert errors == []
