"""Raw ASGI: the floor. A bare ASGI callable per case, doing the minimum.

Prepared headers, msgspec for JSON, a dict lookup for the path-param route,
a msgspec ``Struct`` decode for the typed body (msgspec validates it), and
plain function calls for the dependency chain (no DI).
"""

from urllib.parse import parse_qsl

import msgspec
from harness import ASGIApp, Receive, Scope, Send
from inprocess_apps import (
    HELLO,
    ROUTES_IN_TABLE,
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

__all__: list[str] = []

_encode = msgspec.json.encode


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _status(send: Send, status: int) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})


async def _send_json(send: Send, value: object) -> None:
    body = _encode(value)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@bench("raw", "plaintext")
def raw_plaintext() -> ASGIApp:
    body = HELLO.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13")]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["path"] != "/plaintext":
            await _status(send, 404)
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@bench("raw", "ratelimited")
def raw_ratelimited() -> ASGIApp:
    # NOTE: the floor of counting: a fixed-window counter per client in a dict.
    import time

    body = HELLO.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13")]
    counts: dict[tuple[str, int], int] = {}
    limit = 1_000_000_000

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["path"] != "/ratelimited":
            await _status(send, 404)
            return
        key = (scope["client"][0], int(time.time() // 60))
        count = counts[key] = counts.get(key, 0) + 1
        if count > limit:
            await _status(send, 429)
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@bench("raw", "cached-hit")
def raw_cached_hit() -> ASGIApp:
    # NOTE: the floor of any response cache: one dict lookup by method and
    # path, then the stored status, headers and body.
    store = {
        ("GET", "/cached"): (
            200,
            [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13")],
            HELLO.encode(),
        )
    }

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        hit = store.get((scope["method"], scope["path"]))
        if hit is None:
            await _status(send, 404)
            return
        status, headers, body = hit
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@bench("raw", "json")
def raw_json() -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["path"] != "/json":
            await _status(send, 404)
            return
        await _send_json(send, {"message": HELLO})

    return app


@bench("raw", "path-param")
def raw_path_param() -> ASGIApp:
    # NOTE: the least a hand-written router can do: one dict lookup on the
    # first segment, then int() on the second.
    prefixes = {route_path(index)[1:] for index in range(ROUTES_IN_TABLE)}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        first, _, rest = scope["path"][1:].partition("/")
        if first not in prefixes or not (rest.isascii() and rest.isdigit()):
            await _status(send, 404)
            return
        await _send_json(send, {"id": int(rest)})

    return app


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body", False):
            return body


@bench("raw", "typed")
def raw_typed() -> ASGIApp:
    decode = msgspec.json.Decoder(Item).decode

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        first, _, rest = scope["path"][1:].partition("/")
        if first != "items" or not (rest.isascii() and rest.isdigit()):
            await _status(send, 404)
            return
        if scope["method"] != "POST":
            await _status(send, 405)
            return
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        q, limit = query.get("q"), query.get("limit", "")
        if q is None or not (limit.isascii() and limit.isdigit()):
            await _status(send, 422)
            return
        try:
            item = decode(await _read_body(receive))
        except msgspec.DecodeError:
            await _status(send, 422)
            return
        answer = typed_answer(int(rest), q, int(limit), item.name, item.price, item.tags)
        await _send_json(send, answer)

    return app


@bench("raw", "deps")
def raw_deps() -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["path"] != "/deps":
            await _status(send, 404)
            return
        token = None
        for name, value in scope["headers"]:
            if name == b"x-token":
                token = value.decode("latin-1")
                break
        if token is None:
            await _status(send, 422)
            return
        await _send_json(send, deps_body(dep3_value(dep2_value(dep1_value(token)))))

    return app


@bench("raw", "response-model")
def raw_response_model() -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if not scope["path"].startswith("/users/"):
            await _status(send, 404)
            return
        row = USER
        await _send_json(send, {"id": row.id, "username": row.username, "email": row.email})

    return app
