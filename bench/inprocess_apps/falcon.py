"""Falcon (ASGI): resource classes with ``on_get``/``on_post``, ``resp.text``/``resp.media``.

Falcon has no typed bodies and no dependency injection: the typed resource
reads the query with ``req.get_param``/``get_param_as_int`` (which answer
400 themselves), the body with ``await req.get_media()`` (the standard
library's ``json``) and checks it explicitly
(:func:`inprocess_apps.invalid_item`); the deps resource calls three plain
functions.
"""

from typing import Any

import falcon
import falcon.asgi
from harness import ASGIApp
from inprocess_apps import (
    HELLO,
    ROUTES_IN_TABLE,
    USER,
    bench,
    dep1_value,
    dep2_value,
    dep3_value,
    deps_body,
    invalid_item,
    route_path,
    typed_answer,
)

__all__: list[str] = []


class _Plaintext:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = HELLO


class _Json:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"message": HELLO}


class _Item:
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, item_id: int
    ) -> None:
        resp.media = {"id": item_id}


class _Items:
    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, item_id: int
    ) -> None:
        q = req.get_param("q", required=True)
        limit = req.get_param_as_int("limit", required=True)
        data = await req.get_media()
        problem = invalid_item(data)
        if problem is not None:
            raise falcon.HTTPUnprocessableEntity(description=problem)
        resp.media = typed_answer(item_id, q, limit, data["name"], data["price"], data["tags"])


def _dep1(req: falcon.asgi.Request) -> str:
    token = req.get_header("X-Token", required=True)
    return dep1_value(token)


class _Deps:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        # NOTE: no DI in Falcon: the chain is three plain calls.
        resp.media = deps_body(dep3_value(dep2_value(_dep1(req))))


def _app() -> "falcon.asgi.App[Any, Any]":
    return falcon.asgi.App()


@bench("falcon", "plaintext")
def falcon_plaintext() -> ASGIApp:
    app = _app()
    app.add_route("/plaintext", _Plaintext())
    return app


@bench("falcon", "json")
def falcon_json() -> ASGIApp:
    app = _app()
    app.add_route("/json", _Json())
    return app


@bench("falcon", "path-param")
def falcon_path_param() -> ASGIApp:
    app = _app()
    resource = _Item()
    for index in range(ROUTES_IN_TABLE):
        app.add_route(route_path(index) + "/{item_id:int}", resource)
    return app


@bench("falcon", "typed")
def falcon_typed() -> ASGIApp:
    app = _app()
    app.add_route("/items/{item_id:int}", _Items())
    return app


@bench("falcon", "deps")
def falcon_deps() -> ASGIApp:
    app = _app()
    app.add_route("/deps", _Deps())
    return app


class _User:
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: int
    ) -> None:
        # NOTE: no response models in Falcon: the fields are picked by hand.
        row = USER
        resp.media = {"id": row.id, "username": row.username, "email": row.email}


@bench("falcon", "response-model")
def falcon_response_model() -> ASGIApp:
    app = _app()
    app.add_route("/users/{user_id:int}", _User())
    return app
