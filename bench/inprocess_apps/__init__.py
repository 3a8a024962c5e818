"""The cases of ``bench/inprocess.py`` and the registry of the apps answering them.

Each framework has a module here, ``inprocess_apps/<framework>.py``, whose
factories build one app per case in the framework's idiomatic style and
register themselves with ``@bench(framework, case)``. :func:`load` imports a
framework's module, and so its framework, only when that framework is wanted
and installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from harness import ASGIApp, Case, Reject

__all__ = [
    "BENCHES",
    "CASES",
    "DEPS_TOKEN",
    "FRAMEWORKS",
    "HELLO",
    "ITEM_ID",
    "RATE_LIMIT",
    "ROUTES_IN_TABLE",
    "SECRET_KEY",
    "TARGET_ROUTE",
    "Bench",
    "NOT_APPLICABLE",
    "Framework",
    "Item",
    "bench",
    "dep1_value",
    "dep2_value",
    "dep3_value",
    "deps_body",
    "invalid_item",
    "is_installed",
    "load",
    "route_path",
    "typed_answer",
    "USER",
    "UserRecord",
]

HELLO = "Hello, World!"
SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789"
ROUTES_IN_TABLE = 100
TARGET_ROUTE = 50  # NOTE: the middle of the table: neither best nor worst case for a linear scan.
ITEM_ID = 42
DEPS_TOKEN = "abc"
#: The ``ratelimited`` case's limit: counted on every request, never reached.
RATE_LIMIT = "1000000000/minute"


class Item(msgspec.Struct):
    """The typed case's body, as a msgspec ``Struct`` (raw, oakling, Litestar)."""

    name: str
    price: float
    tags: list[str]


@dataclass
class UserRecord:
    """The response-model case's stored row: a password hash the API must not send."""

    id: int
    username: str
    email: str
    password_hash: str


# NOTE: one row, returned by every framework's handler; the work measured is
# the framework reading it through its response model, per request.
USER = UserRecord(7, "ann", "ann@example.com", "argon2id$v=19$m=65536,t=3,p=4$secret")


def route_path(index: int) -> str:
    """Return the literal prefix of parameterised route ``index`` (``/r050``)."""
    return f"/r{index:03d}"


def typed_answer(
    item_id: int, q: str, limit: int, name: str, price: float, tags: list[str]
) -> dict[str, Any]:
    """Return what the ``typed`` handler answers: computed from every input."""
    return {
        "id": item_id,
        "q": q,
        "name": name,
        "total": price * limit,
        "tag_count": len(tags),
    }


def invalid_item(data: Any) -> str | None:
    """Validate a decoded JSON item by hand; return what is wrong, or ``None``.

    The explicit checks of the frameworks without typed bodies (Starlette,
    Falcon): ``{name: str, price: float, tags: list[str]}``, an int accepted
    for ``price`` as JSON schema's ``number`` does, ``bool`` refused.
    """
    if not isinstance(data, dict):
        return "the body must be a JSON object"
    name, price, tags = data.get("name"), data.get("price"), data.get("tags")
    if not isinstance(name, str):
        return "name: a string is required"
    if isinstance(price, bool) or not isinstance(price, int | float):
        return "price: a number is required"
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        return "tags: a list of strings is required"
    return None


def deps_body(session: str) -> dict[str, str]:
    """Return what the ``deps`` handler answers, given dep3's value."""
    return {"session": session}


def dep1_value(token: str) -> str:
    """Return dep1's value: the header, as read."""
    return token


def dep2_value(token: str) -> str:
    """Return dep2's value from dep1's."""
    return f"user:{token}"


def dep3_value(user: str) -> str:
    """Return dep3's value from dep2's."""
    return f"session:{user}"


_ITEM_BODY = b'{"name":"Widget","price":2.5,"tags":["a","b"]}'
_TYPED_QUERY = b"q=red&limit=10"

CASES: dict[str, Case] = {
    "plaintext": Case(
        name="plaintext",
        description="GET /plaintext -> 'Hello, World!' as text/plain (TFB plaintext)",
        path="/plaintext",
        media_type="text/plain",
        body=HELLO.encode(),
    ),
    "json": Case(
        name="json",
        description='GET /json -> {"message":"Hello, World!"} encoded per request (TFB JSON)',
        path="/json",
        media_type="application/json",
        body=b'{"message":"Hello, World!"}',
        is_json=True,
    ),
    "path-param": Case(
        name="path-param",
        description=(
            f"GET {route_path(TARGET_ROUTE)}/{ITEM_ID} among {ROUTES_IN_TABLE} routes "
            '/rNNN/{item_id:int} -> {"id":42} (int conversion, JSON)'
        ),
        path=f"{route_path(TARGET_ROUTE)}/{ITEM_ID}",
        media_type="application/json",
        body=b'{"id":42}',
        is_json=True,
    ),
    "typed": Case(
        name="typed",
        description=(
            f"POST /items/{ITEM_ID}?{_TYPED_QUERY.decode()} with {_ITEM_BODY.decode()} "
            "-> a computed JSON (typed path, query and validated body)"
        ),
        path=f"/items/{ITEM_ID}",
        method="POST",
        query_string=_TYPED_QUERY,
        request_body=_ITEM_BODY,
        extra_headers=((b"content-type", b"application/json"),),
        media_type="application/json",
        body=json.dumps(typed_answer(ITEM_ID, "red", 10, "Widget", 2.5, ["a", "b"])).encode(),
        is_json=True,
        rejects=(
            Reject("price not a number", request_body=b'{"name":"W","price":"x","tags":[]}'),
            Reject("a tag not a string", request_body=b'{"name":"W","price":1,"tags":["a",2]}'),
            Reject("name missing", request_body=b'{"price":1.5,"tags":[]}'),
            Reject("body not JSON", request_body=b'{"name":'),
            Reject("limit not an int", query_string=b"q=red&limit=ten"),
            Reject("q missing", query_string=b"limit=10"),
        ),
    ),
    "ratelimited": Case(
        name="ratelimited",
        description=(
            "GET /ratelimited -> 'Hello, World!' as text/plain, behind a per-client-IP "
            "rate limit in memory (fixed window) that is never reached: the plaintext "
            "case plus the cost of counting (Starlette and FastAPI: slowapi; FastAPI "
            "[fastapi-limiter]: pyrate-limiter's memory bucket; Flask: Flask-Limiter)"
        ),
        path="/ratelimited",
        media_type="text/plain",
        body=HELLO.encode(),
    ),
    "i18n": Case(
        name="i18n",
        description=(
            "GET /i18n with a browser's Accept-Language (de-DE,de;q=0.9,en;q=0.8) -> "
            "'Nicht gefunden' as text/plain: locale negotiation, Content-Language and "
            "Vary, and one gettext in the negotiated language; the plaintext case plus i18n"
        ),
        path="/i18n",
        media_type="text/plain",
        body=b"Nicht gefunden",
        extra_headers=((b"accept-language", b"de-DE,de;q=0.9,en;q=0.8"),),
    ),
    "deps": Case(
        name="deps",
        description=(
            f"GET /deps with X-Token: {DEPS_TOKEN}; dep3 <- dep2 <- dep1 (reads the header) "
            f'-> {{"session":"session:user:{DEPS_TOKEN}"}}'
        ),
        path="/deps",
        extra_headers=((b"x-token", DEPS_TOKEN.encode()),),
        media_type="application/json",
        body=json.dumps(deps_body(dep3_value(dep2_value(DEPS_TOKEN)))).encode(),
        is_json=True,
    ),
    "response-model": Case(
        name="response-model",
        description=(
            "GET /users/7 -> the stored row (a dataclass with a password hash) through each "
            "framework's response model: oakling's return annotation, FastAPI's response_model, "
            'Litestar\'s return DTO -> {"id":7,"username":"ann","email":"ann@example.com"}'
        ),
        path="/users/7",
        media_type="application/json",
        body=b'{"id":7,"username":"ann","email":"ann@example.com"}',
        is_json=True,
    ),
    "cached-hit": Case(
        name="cached-hit",
        description=(
            "GET /cached -> 'Hello, World!' served from a per-view cache hit "
            "(oakling: @cache_page on the memory cache; raw: a dict of prepared responses)"
        ),
        path="/cached",
        media_type="text/plain",
        body=HELLO.encode(),
    ),
}

_FLASK_WSGI = (
    "Flask is WSGI: in-process it answers plaintext and the Flask-Limiter case only, through "
    "an inline WSGI call (bench/inprocess_apps/flask.py); its other figures come from bench/run.py"
)

#: ``{case: {framework: why it has no app}}``: peers without the feature in
#: their own package (an add-on would measure the add-on, not the framework).
NOT_APPLICABLE: dict[str, dict[str, str]] = {
    "cached-hit": {
        "starlette": "no response cache in Starlette",
        "fastapi": "no response cache in FastAPI (fastapi-cache2 is a third-party add-on)",
        "blacksheep": "no response cache in BlackSheep",
        "falcon": "no response cache in Falcon",
        "litestar": "Litestar's response cache (cache=True) not written yet for this harness",
        "flask": _FLASK_WSGI,
    },
    **{
        case: {"flask": _FLASK_WSGI}
        for case in ("json", "path-param", "typed", "deps", "response-model")
    },
}


@dataclass(frozen=True)
class Bench:
    """One framework answering one case.

    Attributes:
        framework: ``raw``, ``oakling``, ``starlette``, ``blacksheep`` ...
        case: A key of :data:`CASES`.
        factory: Builds the ASGI app.
        variant: Empty for the framework's idiomatic form; otherwise a label
            for another way a user might write the same handler.
    """

    framework: str
    case: str
    factory: Callable[[], ASGIApp]
    variant: str = ""

    @property
    def label(self) -> str:
        """Return ``framework`` or ``framework [variant]``."""
        return f"{self.framework} [{self.variant}]" if self.variant else self.framework


@dataclass(frozen=True)
class Framework:
    """A framework the harness knows.

    Attributes:
        module: The module that must import (``None``: always there).
        dist: The distribution whose version is reported.
    """

    module: str | None
    dist: str | None


FRAMEWORKS: dict[str, Framework] = {
    "raw": Framework(None, None),
    "oakling": Framework("oakling", "oakling"),
    "starlette": Framework("starlette", "starlette"),
    "fastapi": Framework("fastapi", "fastapi"),
    "litestar": Framework("litestar", "litestar"),
    "blacksheep": Framework("blacksheep", "blacksheep"),
    "falcon": Framework("falcon", "falcon"),
    "flask": Framework("flask", "flask"),
}

BENCHES: list[Bench] = []


def bench(
    framework: str, case: str, variant: str = ""
) -> Callable[[Callable[[], ASGIApp]], Callable[[], ASGIApp]]:
    """Register the decorated app factory for ``(framework, case, variant)``.

    Raises:
        ValueError: For an unknown framework or case.
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}; add it to FRAMEWORKS")
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}")

    def decorator(factory: Callable[[], ASGIApp]) -> Callable[[], ASGIApp]:
        BENCHES.append(Bench(framework, case, factory, variant))
        return factory

    return decorator


def is_installed(framework: str) -> bool:
    """Return whether ``framework``'s module can be imported (without importing it)."""
    module = FRAMEWORKS[framework].module
    return module is None or importlib.util.find_spec(module) is not None


def load(framework: str) -> None:
    """Import ``inprocess_apps.<framework>``, registering its apps (once)."""
    importlib.import_module(f"{__name__}.{framework}")
