"""oakling: decorated async handlers, typed parameters, ``Depends``.

The idiomatic form returns a response object where the peers do
(``PlainTextResponse``, ``JSONResponse``); the typed and deps handlers return
a dict, as FastAPI-style handlers do. Variants in brackets show other ways a
user might write the same handler.
"""

# NOTE: no ``from __future__ import annotations``: oakling reads handler
# annotations at startup, and handlers defined inside factories would not
# resolve from strings; evaluated, they are real objects as in a user's module.

from typing import Annotated, Any

import msgspec
from harness import ASGIApp
from inprocess_apps import (
    HELLO,
    RATE_LIMIT,
    ROUTES_IN_TABLE,
    SECRET_KEY,
    USER,
    Item,
    bench,
    dep1_value,
    dep2_value,
    dep3_value,
    deps_body,
    route_path,
    typed_answer,
)

from oakling import App, Depends, Header, JSONResponse, PlainTextResponse

__all__: list[str] = []


def _app() -> App:
    return App(secret_key=SECRET_KEY)


@bench("oakling", "plaintext")
def oakling_plaintext() -> ASGIApp:
    app = _app()

    @app.get("/plaintext")
    async def plaintext() -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    return app


@bench("oakling", "plaintext", variant="return str")
def oakling_plaintext_str() -> ASGIApp:
    app = _app()

    @app.get("/plaintext")
    async def plaintext() -> str:
        return HELLO

    return app


@bench("oakling", "plaintext", variant="response_class")
def oakling_plaintext_response_class() -> ASGIApp:
    app = _app()

    @app.get("/plaintext", response_class=PlainTextResponse)
    async def plaintext() -> str:
        return HELLO

    return app


@bench("oakling", "json")
def oakling_json() -> ASGIApp:
    app = _app()

    @app.get("/json")
    async def json_() -> JSONResponse:
        return JSONResponse({"message": HELLO})

    return app


@bench("oakling", "json", variant="return dict")
def oakling_json_dict() -> ASGIApp:
    app = _app()

    @app.get("/json")
    async def json_() -> dict[str, str]:
        return {"message": HELLO}

    return app


def _routes(as_dict: bool) -> App:
    app = _app()

    async def item(item_id: int) -> Any:
        return {"id": item_id} if as_dict else JSONResponse({"id": item_id})

    for index in range(ROUTES_IN_TABLE):
        app.add_route(route_path(index) + "/{item_id}", item, name=f"item{index}")
    return app


@bench("oakling", "path-param")
def oakling_path_param() -> ASGIApp:
    return _routes(as_dict=False)


@bench("oakling", "path-param", variant="return dict")
def oakling_path_param_dict() -> ASGIApp:
    return _routes(as_dict=True)


@bench("oakling", "typed")
def oakling_typed() -> ASGIApp:
    app = _app()

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


@bench("oakling", "deps")
def oakling_deps() -> ASGIApp:
    app = _app()

    @app.get("/deps")
    async def deps(session: Annotated[str, Depends(dep3)]) -> dict[str, str]:
        return deps_body(session)

    return app


class UserOut(msgspec.Struct):
    """What the API shows of a user: no password hash."""

    id: int
    username: str
    email: str


@bench("oakling", "response-model")
def oakling_response_model() -> ASGIApp:
    app = _app()

    @app.get("/users/{user_id}")
    async def user(user_id: int) -> UserOut:
        return USER  # type: ignore[return-value]  # NOTE: the row, read through UserOut

    return app


@bench("oakling", "ratelimited")
def oakling_ratelimited() -> ASGIApp:
    from oakling.ratelimit import Limiter, ratelimit

    app = App(secret_key=SECRET_KEY, plugins=[Limiter(strategy="fixed-window")])

    @app.get("/ratelimited")
    @ratelimit(RATE_LIMIT)
    async def limited() -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    return app


@bench("oakling", "i18n")
def oakling_i18n() -> ASGIApp:
    from oakling.i18n import I18n, gettext

    app = App(secret_key=SECRET_KEY, plugins=[I18n(languages=["en", "de"], default="en")])

    @app.get("/i18n")
    async def translated() -> PlainTextResponse:
        return PlainTextResponse(gettext("Not Found"))

    return app


@bench("oakling", "ratelimited", variant="moving window")
def oakling_ratelimited_moving() -> ASGIApp:
    # NOTE: limits' memory moving window keeps one entry per request in the
    # window, so a never-reached limit grows with the run; keyed per request
    # count bucket it stays at a realistic 100 entries per key.
    from oakling.ratelimit import Limiter, ratelimit

    app = App(secret_key=SECRET_KEY, plugins=[Limiter()])
    counter = iter(range(10**12))

    def key(request: object) -> str:
        return str(next(counter) // 100)

    @app.get("/ratelimited")
    @ratelimit("100/minute", key=key)
    async def limited() -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    return app


@bench("oakling", "cached-hit")
def oakling_cached_hit() -> ASGIApp:
    from oakling.cache import Cache, MemoryCache, cache_page

    app = App(secret_key=SECRET_KEY, plugins=[Cache({"default": MemoryCache()})])

    @app.get("/cached")
    @cache_page(3600)
    async def cached() -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    return app
