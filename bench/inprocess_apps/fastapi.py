"""FastAPI: decorated async handlers returning dicts, pydantic models, ``Depends``.

Plaintext returns ``PlainTextResponse`` (FastAPI's way to send text); the
other handlers return dicts, which FastAPI validates against nothing (no
``response_model``) and encodes with ``jsonable_encoder`` and ``json``.
"""

# NOTE: no ``from __future__ import annotations``: handlers are defined inside
# factories; FastAPI resolves string annotations from the module's globals only.

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header
from fastapi.responses import PlainTextResponse
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
from pydantic import BaseModel, ConfigDict

__all__: list[str] = []


@bench("fastapi", "plaintext")
def fastapi_plaintext() -> ASGIApp:
    app = FastAPI()

    @app.get("/plaintext", response_class=PlainTextResponse)
    async def plaintext() -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    return app


@bench("fastapi", "json")
def fastapi_json() -> ASGIApp:
    app = FastAPI()

    @app.get("/json")
    async def json_() -> dict[str, str]:
        return {"message": HELLO}

    return app


@bench("fastapi", "path-param")
def fastapi_path_param() -> ASGIApp:
    app = FastAPI()

    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    for index in range(ROUTES_IN_TABLE):
        app.add_api_route(route_path(index) + "/{item_id}", item, name=f"item{index}")
    return app


@bench("fastapi", "typed")
def fastapi_typed() -> ASGIApp:
    app = FastAPI()

    @app.post("/items/{item_id}")
    async def create(item_id: int, q: str, limit: int, item: Item) -> dict[str, Any]:
        return typed_answer(item_id, q, limit, item.name, item.price, item.tags)

    return app


async def dep1(x_token: Annotated[str, Header()]) -> str:
    """Read the ``X-Token`` header."""
    return dep1_value(x_token)


async def dep2(token: Annotated[str, Depends(dep1)]) -> str:
    """Depend on dep1."""
    return dep2_value(token)


async def dep3(user: Annotated[str, Depends(dep2)]) -> str:
    """Depend on dep2."""
    return dep3_value(user)


@bench("fastapi", "deps")
def fastapi_deps() -> ASGIApp:
    app = FastAPI()

    @app.get("/deps")
    async def deps(session: Annotated[str, Depends(dep3)]) -> dict[str, str]:
        return deps_body(session)

    return app


class UserOut(BaseModel):
    """What the API shows of a user: no password hash."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str


@bench("fastapi", "response-model")
def fastapi_response_model() -> ASGIApp:
    app = FastAPI()

    @app.get("/users/{user_id}", response_model=UserOut)
    async def user(user_id: int) -> Any:
        return USER

    return app
