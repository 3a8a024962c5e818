"""Starlette: a ``Route`` list, handlers taking ``Request``, response classes.

Starlette has no typed parameters and no dependency injection: the typed
handler reads the query by hand, parses the body with ``request.json()``
(the standard library's ``json``) and checks it explicitly
(:func:`inprocess_apps.invalid_item`); the deps handler calls three plain
functions.
"""

import importlib.util
from json import JSONDecodeError

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
    invalid_item,
    route_path,
    typed_answer,
)
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

__all__: list[str] = []


@bench("starlette", "plaintext")
def starlette_plaintext() -> ASGIApp:
    async def plaintext(request: Request) -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    return Starlette(routes=[Route("/plaintext", plaintext)])


@bench("starlette", "json")
def starlette_json() -> ASGIApp:
    async def json_(request: Request) -> JSONResponse:
        return JSONResponse({"message": HELLO})

    return Starlette(routes=[Route("/json", json_)])


@bench("starlette", "path-param")
def starlette_path_param() -> ASGIApp:
    async def item(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["item_id"]})

    routes = [
        Route(route_path(index) + "/{item_id:int}", item, name=f"item{index}")
        for index in range(ROUTES_IN_TABLE)
    ]
    return Starlette(routes=routes)


@bench("starlette", "typed")
def starlette_typed() -> ASGIApp:
    async def create(request: Request) -> JSONResponse:
        q = request.query_params.get("q")
        if q is None:
            raise HTTPException(422, "q: required")
        try:
            limit = int(request.query_params["limit"])
        except (KeyError, ValueError) as ex:
            raise HTTPException(422, "limit: an integer is required") from ex
        try:
            data = await request.json()
        except JSONDecodeError as ex:
            raise HTTPException(400, "the body is not JSON") from ex
        problem = invalid_item(data)
        if problem is not None:
            raise HTTPException(422, problem)
        answer = typed_answer(
            request.path_params["item_id"], q, limit, data["name"], data["price"], data["tags"]
        )
        return JSONResponse(answer)

    return Starlette(routes=[Route("/items/{item_id:int}", create, methods=["POST"])])


@bench("starlette", "deps")
def starlette_deps() -> ASGIApp:
    def dep1(request: Request) -> str:
        token = request.headers.get("x-token")
        if token is None:
            raise HTTPException(422, "X-Token: required")
        return dep1_value(token)

    async def deps(request: Request) -> JSONResponse:
        # NOTE: no DI in Starlette: the chain is three plain calls.
        return JSONResponse(deps_body(dep3_value(dep2_value(dep1(request)))))

    return Starlette(routes=[Route("/deps", deps)])


@bench("starlette", "response-model")
def starlette_response_model() -> ASGIApp:
    async def user(request: Request) -> JSONResponse:
        # NOTE: no response models in Starlette: the fields are picked by hand.
        row = USER
        return JSONResponse({"id": row.id, "username": row.username, "email": row.email})

    return Starlette(routes=[Route("/users/{user_id:int}", user)])


def _slowapi_ratelimited() -> ASGIApp:
    from slowapi import Limiter, _rate_limit_exceeded_handler
    from slowapi.errors import RateLimitExceeded
    from slowapi.util import get_remote_address

    limiter = Limiter(key_func=get_remote_address, strategy="fixed-window")

    @limiter.limit(RATE_LIMIT)
    async def limited(request: Request) -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    app = Starlette(routes=[Route("/ratelimited", limited)])
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]
    return app


# NOTE: slowapi (Flask-Limiter's port to Starlette, on the same limits
# library) is the idiomatic rate limit here; the case is skipped without it.
if importlib.util.find_spec("slowapi") is not None:
    bench("starlette", "ratelimited")(_slowapi_ratelimited)
