"""Litestar: ``@get``/``@post`` handlers, a msgspec ``Struct`` body, ``Provide``.

Handlers return ``str`` and dicts, which Litestar encodes with msgspec;
``Litestar(route_handlers=[...])`` with its defaults.
"""

# NOTE: no ``from __future__ import annotations``: Litestar resolves handler
# annotations from the module's globals, not from the factories' locals.

from typing import Annotated, Any

from harness import ASGIApp
from inprocess_apps import (
    HELLO,
    ROUTES_IN_TABLE,
    USER,
    Item,
    UserRecord,
    bench,
    dep1_value,
    dep2_value,
    dep3_value,
    deps_body,
    route_path,
    typed_answer,
)
from litestar import Litestar, MediaType, get, post
from litestar.di import Provide
from litestar.dto import DataclassDTO, DTOConfig
from litestar.params import Parameter

__all__: list[str] = []


@bench("litestar", "plaintext")
def litestar_plaintext() -> ASGIApp:
    @get("/plaintext", media_type=MediaType.TEXT)
    async def plaintext() -> str:
        return HELLO

    return Litestar(route_handlers=[plaintext])


@bench("litestar", "json")
def litestar_json() -> ASGIApp:
    @get("/json")
    async def json_() -> dict[str, str]:
        return {"message": HELLO}

    return Litestar(route_handlers=[json_])


@bench("litestar", "path-param")
def litestar_path_param() -> ASGIApp:
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    handlers = [
        get(route_path(index) + "/{item_id:int}", name=f"item{index}")(item)
        for index in range(ROUTES_IN_TABLE)
    ]
    return Litestar(route_handlers=handlers)


@bench("litestar", "typed")
def litestar_typed() -> ASGIApp:
    # NOTE: status_code=200: Litestar's POST answers 201 by default.
    @post("/items/{item_id:int}", status_code=200)
    async def create(item_id: int, q: str, limit: int, data: Item) -> dict[str, Any]:
        return typed_answer(item_id, q, limit, data.name, data.price, data.tags)

    return Litestar(route_handlers=[create])


async def dep1(x_token: Annotated[str, Parameter(header="x-token")]) -> str:
    """Read the ``X-Token`` header."""
    return dep1_value(x_token)


async def dep2(token: str) -> str:
    """Depend on dep1 (provided as ``token``)."""
    return dep2_value(token)


async def dep3(user: str) -> str:
    """Depend on dep2 (provided as ``user``)."""
    return dep3_value(user)


@bench("litestar", "deps")
def litestar_deps() -> ASGIApp:
    @get(
        "/deps",
        dependencies={"token": Provide(dep1), "user": Provide(dep2), "session": Provide(dep3)},
    )
    async def deps(session: str) -> dict[str, str]:
        return deps_body(session)

    return Litestar(route_handlers=[deps])


class UserDTO(DataclassDTO[UserRecord]):
    """The return DTO: every field but the password hash."""

    config = DTOConfig(exclude={"password_hash"})


@bench("litestar", "response-model")
def litestar_response_model() -> ASGIApp:
    @get("/users/{user_id:int}", return_dto=UserDTO)
    async def user(user_id: int) -> UserRecord:
        return USER

    return Litestar([user])
