"""``oakling.cachecontrol``: ``never_cache`` and ``add_never_cache_headers`` (Django's)."""

from __future__ import annotations

from typing import Any

import pytest

from oakling import App, JSONResponse, Response
from oakling.cachecontrol import NEVER_CACHE, add_never_cache_headers, mark_private, never_cache
from oakling.config import Settings
from oakling.testing import TestClient


def test_add_never_cache_headers_replaces_a_cache_control_on_raw_headers() -> None:
    headers = [(b"content-type", b"text/html"), (b"Cache-Control", b"public, max-age=600")]
    add_never_cache_headers(headers)
    assert headers == [
        (b"content-type", b"text/html"),
        (b"cache-control", b"no-cache, no-store, must-revalidate, private"),
    ]
    mark_private(headers)  # what the sessions middleware adds keeps the stricter value
    assert [value for key, value in headers if key == b"cache-control"] == [NEVER_CACHE.encode()]


def test_add_never_cache_headers_on_a_response() -> None:
    response = Response("x", headers={"Cache-Control": "public, max-age=60"})
    add_never_cache_headers(response.headers)
    assert response.headers.getlist("cache-control") == [NEVER_CACHE]


SETTINGS = Settings(SECRET_KEY="cache-control-tests-" + "k" * 40)


@pytest.mark.parametrize(
    ("body", "status", "content_type"),
    [
        ({"a": 1}, 200, "application/json"),
        ("<p>hi</p>", 200, "text/html; charset=utf-8"),
        (("created", 201), 201, "text/plain; charset=utf-8"),
        (("teapot", {"X-Extra": "1", "Cache-Control": "public"}), 200, "text/plain; charset=utf-8"),
        (("gone", 410, {"Cache-Control": "max-age=60"}), 410, "text/plain; charset=utf-8"),
        (JSONResponse({"b": 2}, headers={"Cache-Control": "public, max-age=60"}), 200, None),
    ],
)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_never_cache_marks_every_kind_of_return_value(
    body: Any, status: int, content_type: str | None, kind: str
) -> None:
    app = App(settings=SETTINGS)
    if kind == "sync":

        @app.get("/thing/{name}")
        @never_cache
        def thing(name: str, q: int = 0) -> Any:
            assert (name, q) == ("x", 3)  # parameters are still extracted
            return body

    else:

        @app.get("/thing/{name}")
        @never_cache
        async def thing(name: str, q: int = 0) -> Any:
            assert (name, q) == ("x", 3)
            return body

    assert thing.__name__ == "thing"
    with TestClient(app) as client:
        response = client.get("/thing/x?q=3")
    assert response.status_code == status
    assert response.headers.get_list("cache-control") == [NEVER_CACHE]
    if content_type is not None:
        assert response.headers["content-type"] == content_type
    if isinstance(body, tuple) and isinstance(body[-1], dict) and "X-Extra" in body[-1]:
        assert response.headers["x-extra"] == "1"


def test_never_cache_keeps_the_routes_status_code() -> None:
    app = App(settings=SETTINGS)

    @app.post("/items", status_code=201)
    @never_cache
    def create() -> dict[str, int]:
        return {"id": 1}

    with TestClient(app) as client:
        response = client.post("/items")
    assert response.status_code == 201
    assert response.headers["cache-control"] == NEVER_CACHE
