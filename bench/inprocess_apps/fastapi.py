"""FastAPI: decorated async handlers returning dicts, pydantic models, ``Depends``.

Plaintext returns ``PlainTextResponse`` (FastAPI's way to send text); the
other handlers return dicts, which FastAPI validates against nothing (no
``response_model``) and encodes with ``jsonable_encoder`` and ``json``.
"""

# NOTE: no ``from __future__ import annotations``: handlers are defined inside
# factories; FastAPI resolves string annotations from the module's globals only.

import importlib.util
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import PlainTextResponse
from harness import ASGIApp
from inprocess_apps import (
    HELLO,
    RATE_LIMIT,
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


def _slowapi_ratelimited() -> ASGIApp:
    from slowapi import Limiter, _rate_limit_exceeded_handler
    from slowapi.errors import RateLimitExceeded
    from slowapi.util import get_remote_address

    limiter = Limiter(key_func=get_remote_address, strategy="fixed-window")
    app = FastAPI()
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]

    @app.get("/ratelimited", response_class=PlainTextResponse)
    @limiter.limit(RATE_LIMIT)
    async def limited(request: Request) -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    return app


def _fastapi_limiter_ratelimited() -> ASGIApp:
    # NOTE: fastapi-limiter 0.2 counts with pyrate-limiter; with no bucket
    # given, in this process's memory (InMemoryBucket), which fits the harness.
    from fastapi_limiter.depends import RateLimiter
    from pyrate_limiter import Duration, Limiter, Rate

    amount = int(RATE_LIMIT.split("/", 1)[0])
    limiter = RateLimiter(limiter=Limiter(Rate(amount, Duration.MINUTE)))
    app = FastAPI()

    @app.get("/ratelimited", response_class=PlainTextResponse, dependencies=[Depends(limiter)])
    async def limited() -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    return app


# NOTE: slowapi (Flask-Limiter's port, on the same limits library, memory
# storage, fixed window as oakling's row) is the idiomatic FastAPI rate limit
# that fits the in-process harness; fastapi-limiter is the other one users
# pick. Each is skipped when not installed.
if importlib.util.find_spec("slowapi") is not None:
    bench("fastapi", "ratelimited")(_slowapi_ratelimited)
if importlib.util.find_spec("fastapi_limiter") is not None:
    bench("fastapi", "ratelimited", variant="fastapi-limiter")(_fastapi_limiter_ratelimited)
