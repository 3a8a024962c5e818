"""BlackSheep: ``app.router`` handlers, ``text()``/``json()``, ``FromJSON``, rodi DI.

The typed body is a pydantic model, which BlackSheep's documentation
recommends for validation (its dataclass converter coerces and would accept
``"tags": [1]``). The deps chain is three scoped rodi services, each taking
the previous one in its constructor; the first reads the header from the
``Request``, made injectable by ``register_http_context`` (BlackSheep's way
to give services the request: a middleware opening one DI scope per request).
"""

# NOTE: no ``from __future__ import annotations``: BlackSheep reads handler
# annotations at startup and compares ``-> Response`` by identity; as strings
# it would add an output wrapper.

import logging

from blacksheep import Application, FromJSON, Request, Response, json, text
from blacksheep.server.di import register_http_context
from blacksheep.server.routing import Router
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
    route_path,
    typed_answer,
)
from inprocess_apps.pydantic_item import Item
from rodi import Container

__all__: list[str] = []


def _app() -> Application:
    # NOTE: an explicit Router: the default one is shared by every Application
    # in the process (BlackSheep's module-level @get decorators use it).
    app = Application(router=Router())
    # NOTE: BlackSheep logs every 4xx at INFO on stderr; the rejected requests
    # of the typed case (checked, never timed) would fill the report with them.
    app.logger.setLevel(logging.WARNING)
    return app


@bench("blacksheep", "plaintext")
def blacksheep_plaintext() -> ASGIApp:
    app = _app()

    @app.router.get("/plaintext")
    async def plaintext() -> Response:
        return text(HELLO)

    return app


@bench("blacksheep", "json")
def blacksheep_json() -> ASGIApp:
    app = _app()

    @app.router.get("/json")
    async def json_() -> Response:
        return json({"message": HELLO})

    return app


@bench("blacksheep", "path-param")
def blacksheep_path_param() -> ASGIApp:
    app = _app()

    async def item(item_id: int) -> Response:
        return json({"id": item_id})

    for index in range(ROUTES_IN_TABLE):
        app.router.add_get(route_path(index) + "/{int:item_id}", item)
    return app


@bench("blacksheep", "typed")
def blacksheep_typed() -> ASGIApp:
    app = _app()

    @app.router.post("/items/{int:item_id}")
    async def create(item_id: int, q: str, limit: int, item: FromJSON[Item]) -> Response:
        value = item.value
        return json(typed_answer(item_id, q, limit, value.name, value.price, value.tags))

    return app


class Token:
    """dep1: the ``X-Token`` header of the request."""

    def __init__(self, request: Request) -> None:
        header = request.get_first_header(b"x-token")
        if header is None:
            raise ValueError("X-Token: required")
        self.value = dep1_value(header.decode("latin-1"))


class User:
    """dep2: depends on dep1."""

    def __init__(self, token: Token) -> None:
        self.value = dep2_value(token.value)


class UserSession:
    """dep3: depends on dep2."""

    def __init__(self, user: User) -> None:
        self.value = dep3_value(user.value)


@bench("blacksheep", "deps")
def blacksheep_deps() -> ASGIApp:
    app = _app()
    services = app.services
    assert isinstance(services, Container)  # rodi, BlackSheep's default
    services.add_scoped(Token)
    services.add_scoped(User)
    services.add_scoped(UserSession)
    register_http_context(app)

    @app.router.get("/deps")
    async def deps(session: UserSession) -> Response:
        return json(deps_body(session.value))

    return app


@bench("blacksheep", "response-model")
def blacksheep_response_model() -> ASGIApp:
    app = _app()

    @app.router.get("/users/{user_id}")
    async def user(user_id: int) -> Response:
        # NOTE: no response models in BlackSheep: the fields are picked by hand.
        row = USER
        return json({"id": row.id, "username": row.username, "email": row.email})

    return app
