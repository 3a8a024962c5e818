"""Request globals (opt in): g, request, session, current_app through contextvars."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oakling import App, Depends, Request
from oakling.config import Settings
from oakling.globals import (
    RequestGlobals,
    current_app,
    g,
    has_request_context,
    request,
    session,
)
from oakling.testing import TestClient

SECRET = "g" * 20 + "lobals-test-secret-key-0123456789abcdef"


def helper_three_calls_down() -> str:
    """Code called from a handler, with no request parameter (Flask's habit)."""
    return f"{g.db} {request.method} {request.url.path} {current_app.settings.SECRET_KEY[:3]}"


@pytest.fixture
def app(as_handler: Callable[..., Any]) -> App:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[RequestGlobals()])

    @app.before_request
    @as_handler
    def open_db() -> None:
        g.db = "db-handle"
        g.threads = [threading.current_thread().name]

    def needs_db() -> str:
        return f"dep saw {g.db}"

    @app.get("/")
    @as_handler
    def index(dep: str = Depends(needs_db)) -> dict[str, Any]:
        g.threads.append(threading.current_thread().name)
        return {"helper": helper_three_calls_down(), "dep": dep, "threads": g.threads}

    return app


def test_g_request_and_current_app_in_hooks_dependencies_and_handlers(app: App) -> None:
    with TestClient(app) as client:
        body = client.get("/").json()
    assert body["helper"] == "db-handle GET / ggg"
    assert body["dep"] == "dep saw db-handle"


def test_sync_handlers_see_them_in_their_worker_thread() -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[RequestGlobals()])

    @app.before_request
    async def on_loop() -> None:
        g.loop_thread = threading.current_thread().name

    @app.get("/")
    def in_thread() -> dict[str, str]:
        return {"loop": g.loop_thread, "handler": threading.current_thread().name}

    with TestClient(app) as client:
        body = client.get("/").json()
    assert body["handler"].startswith("oakling") and body["handler"] != body["loop"]


def test_request_is_the_handlers_own_object() -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[RequestGlobals()])

    @app.post("/")
    async def echo(req: Request) -> dict[str, Any]:
        # NOTE: one object, so the body read through either is there for both.
        form = await request.form()
        return {"same": request._target() is req, "title": form["title"]}

    with TestClient(app) as client:
        assert client.post("/", data={"title": "oak"}).json() == {"same": True, "title": "oak"}


def test_each_request_gets_a_fresh_g_even_when_concurrent() -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[RequestGlobals()])

    @app.get("/{n:int}")
    async def slow(n: int) -> dict[str, Any]:
        fresh = "n" not in g
        g.n = n
        await asyncio.sleep(0.05)
        return {"fresh": fresh, "n": g.n}

    async def run() -> list[Any]:
        from oakling.testing import AsyncClient

        async with AsyncClient(app) as client:
            responses = await asyncio.gather(*(client.get(f"/{n}") for n in range(8)))
        return [response.json() for response in responses]

    assert asyncio.run(run()) == [{"fresh": True, "n": n} for n in range(8)]


def test_templates_reach_g_and_request(tmp_path: Path) -> None:
    from oakling import render

    (tmp_path / "page.html").write_text("{{ g.user }} on {{ request.url.path }}")
    app = App(
        settings=Settings(SECRET_KEY=SECRET),
        plugins=[RequestGlobals()],
        template_folder=tmp_path,
    )

    @app.before_request
    def load_user() -> None:
        g.user = "<ann>"

    @app.get("/page")
    def page(request: Request) -> Any:
        return render(request, "page.html")

    with TestClient(app) as client:
        assert client.get("/page").text == "&lt;ann&gt; on /page"


def test_session_global_is_the_requests_session() -> None:
    from oakling.sessions import Sessions

    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[Sessions(), RequestGlobals()])

    @app.post("/count")
    def count() -> dict[str, int]:
        session["n"] = session.get("n", 0) + 1
        return {"n": session["n"]}

    with TestClient(app) as client:
        client.post("/count")
        assert client.post("/count").json() == {"n": 2}


def test_error_handlers_and_after_request_hooks_see_them() -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[RequestGlobals()])

    @app.before_request
    def mark() -> None:
        g.mark = "set in the hook"

    @app.after_request
    def after(response: Any) -> Any:
        response.headers["x-mark"] = g.mark
        return response

    @app.errorhandler(ZeroDivisionError)
    def oops(conn: Any, ex: Exception) -> dict[str, str]:
        return {"error": g.mark}

    @app.get("/boom")
    def boom() -> None:
        1 / 0  # noqa: B018

    with TestClient(app) as client:
        response = client.get("/boom")
    assert response.json() == {"error": "set in the hook"}
    assert response.headers["x-mark"] == "set in the hook"


@pytest.mark.parametrize(
    ("proxy", "name"),
    [(g, "g"), (request, "request"), (current_app, "current_app")],
    ids=["g", "request", "current_app"],
)
def test_outside_a_request_they_say_so(proxy: Any, name: str) -> None:
    assert not has_request_context()
    with pytest.raises(RuntimeError, match=f"Working outside of request context: {name}"):
        proxy.anything  # noqa: B018
    assert not proxy  # falsy, as Flask's proxies are
    assert "unbound" in repr(proxy)


def test_after_the_request_they_are_gone_again(app: App) -> None:
    with TestClient(app) as client:
        client.get("/")
    with pytest.raises(RuntimeError, match="outside of request context"):
        g.db  # noqa: B018


def test_g_namespace_helpers() -> None:
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[RequestGlobals()])

    @app.get("/")
    def index() -> dict[str, Any]:
        g.setdefault("a", 1)
        g.setdefault("a", 2)
        g.b = 3
        popped = g.pop("b")
        return {
            "a": g.get("a"),
            "missing": g.get("zzz", "default"),
            "popped": popped,
            "names": sorted(g),
        }

    with TestClient(app) as client:
        assert client.get("/").json() == {"a": 1, "missing": "default", "popped": 3, "names": ["a"]}


def test_an_app_without_the_plugin_keeps_its_fast_path() -> None:
    """Zero cost: nothing is added to an app that does not install RequestGlobals."""
    import oakling.globals  # noqa: F401 - imported, but not installed

    app = App(settings=Settings(SECRET_KEY=SECRET))

    @app.get("/")
    def index() -> str:
        return "plain"

    with TestClient(app) as client:
        assert client.get("/").text == "plain"
    assert app.user_middleware == [] and app._direct is not None
    handler = app.route_table.static["/"]["GET"]
    assert handler.fast  # type: ignore[attr-defined]


@pytest.fixture
def _no_leak() -> Iterator[None]:
    yield
    assert not has_request_context()
