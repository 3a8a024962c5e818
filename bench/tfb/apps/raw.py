"""Raw ASGI + asyncpg: the floor no framework can beat on the same server.

A bare ASGI 3 callable doing the minimum: a dict lookup on the path,
prepared header lists, msgspec for JSON, ``html.escape`` and string building
for fortunes, an asyncpg pool opened at lifespan startup. It has no ORM, so
only the ``/raw/...`` database routes exist (``ORM = False``).

``rsgi_app`` is the same floor on granian's native RSGI interface: the
same routes and bodies, written with ``protocol.response_bytes``.

Served from the repository root::

    uvicorn bench.tfb.apps.raw:app --no-access-log --loop uvloop --http httptools
    granian --interface asgi --workers 1 --no-ws --log-level warning bench.tfb.apps.raw:app
    granian --interface rsgi --workers 1 --no-ws --log-level warning bench.tfb.apps.raw:rsgi_app
"""

import html
import os
import random
from collections.abc import Awaitable, Callable, MutableMapping
from operator import itemgetter
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import msgspec

__all__ = ["KIND", "ORM", "RSGI", "app", "rsgi_app"]

KIND = "asgi"
ORM = False
RSGI = "rsgi_app"  # the module attribute granian --interface rsgi serves

DSN = os.environ.get("TFB_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tfb")
POOL_SIZE = 8

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

READ_ROW = "SELECT id, randomnumber FROM world WHERE id = $1"
WRITE_ROW = "UPDATE world SET randomnumber = $2 WHERE id = $1"
READ_FORTUNES = "SELECT id, message FROM fortune"
ADDITIONAL_FORTUNE = "Additional fortune added at request time."

_JSON = [(b"content-type", b"application/json")]
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
_HTML = [(b"content-type", b"text/html; charset=utf-8")]
_encode = msgspec.json.Encoder().encode
_by_message = itemgetter(1)

_pool: asyncpg.Pool | None = None


def _queries(scope: Scope) -> int:
    """Return ``?queries=`` clamped to 1..500; missing or not a number is 1."""
    return _queries_in(scope["query_string"].decode("latin-1"))


def _queries_in(query_string: str) -> int:
    for key, value in parse_qsl(query_string):
        if key == "queries":
            try:
                return min(max(int(value), 1), 500)
            except ValueError:
                return 1
    return 1


async def _respond(send: Send, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _plaintext(scope: Scope, send: Send) -> None:
    await _respond(send, b"Hello, World!", _TEXT)


async def _json(scope: Scope, send: Send) -> None:
    await _respond(send, _encode({"message": "Hello, World!"}), _JSON)


async def _db(scope: Scope, send: Send) -> None:
    assert _pool is not None
    row_id, number = await _pool.fetchrow(READ_ROW, random.randint(1, 10000))
    await _respond(send, _encode({"id": row_id, "randomNumber": number}), _JSON)


async def _read_worlds(connection: asyncpg.Connection, count: int) -> list[dict[str, int]]:
    # Distinct ids: each row is read by its own query.
    worlds = []
    for row_id in random.sample(range(1, 10001), count):
        found_id, number = await connection.fetchrow(READ_ROW, row_id)
        worlds.append({"id": found_id, "randomNumber": number})
    return worlds


async def _queries_route(scope: Scope, send: Send) -> None:
    assert _pool is not None
    async with _pool.acquire() as connection:
        worlds = await _read_worlds(connection, _queries(scope))
    await _respond(send, _encode(worlds), _JSON)


async def _update_worlds(count: int) -> list[dict[str, int]]:
    assert _pool is not None
    async with _pool.acquire() as connection:
        worlds = await _read_worlds(connection, count)
        for world in worlds:
            world["randomNumber"] = random.randint(1, 10000)
        # Sorted by id so concurrent requests lock rows in the same order.
        await connection.executemany(
            WRITE_ROW,
            sorted((world["id"], world["randomNumber"]) for world in worlds),
        )
    return worlds


async def _updates(scope: Scope, send: Send) -> None:
    await _respond(send, _encode(await _update_worlds(_queries(scope))), _JSON)


async def _fortunes_page() -> bytes:
    assert _pool is not None
    fortunes = [tuple(row) for row in await _pool.fetch(READ_FORTUNES)]
    fortunes.append((0, ADDITIONAL_FORTUNE))
    fortunes.sort(key=_by_message)
    parts = [
        "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
        "<tr><th>id</th><th>message</th></tr>"
    ]
    for fortune_id, message in fortunes:
        parts.append(f"<tr><td>{fortune_id}</td><td>{html.escape(message)}</td></tr>")
    parts.append("</table></body></html>")
    return "".join(parts).encode()


async def _fortunes(scope: Scope, send: Send) -> None:
    await _respond(send, await _fortunes_page(), _HTML)


async def _not_found(scope: Scope, send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [*_TEXT, (b"content-length", b"9")],
        }
    )
    await send({"type": "http.response.body", "body": b"Not Found"})


ROUTES: dict[str, Callable[[Scope, Send], Awaitable[None]]] = {
    "/plaintext": _plaintext,
    "/json": _json,
    "/raw/db": _db,
    "/raw/queries": _queries_route,
    "/raw/updates": _updates,
    "/raw/fortunes": _fortunes,
}


async def _lifespan(receive: Receive, send: Send) -> None:
    global _pool
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                _pool = await asyncpg.create_pool(DSN, min_size=1, max_size=POOL_SIZE)
            except Exception as ex:  # noqa: BLE001 - reported to the server, which exits
                await send({"type": "lifespan.startup.failed", "message": repr(ex)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _pool is not None:
                await _pool.close()
                _pool = None
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one ASGI connection: an HTTP request or the lifespan."""
    if scope["type"] == "http":
        await ROUTES.get(scope["path"], _not_found)(scope, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


# -- the same floor on RSGI (granian's native interface) -------------------------------------

_RSGI_JSON = [("content-type", "application/json")]
_RSGI_TEXT = [("content-type", "text/plain; charset=utf-8")]
_RSGI_HTML = [("content-type", "text/html; charset=utf-8")]


async def _rsgi_db(scope: Any, protocol: Any) -> None:
    assert _pool is not None
    row_id, number = await _pool.fetchrow(READ_ROW, random.randint(1, 10000))
    protocol.response_bytes(200, _RSGI_JSON, _encode({"id": row_id, "randomNumber": number}))


async def _rsgi_queries_route(scope: Any, protocol: Any) -> None:
    assert _pool is not None
    async with _pool.acquire() as connection:
        worlds = await _read_worlds(connection, _queries_in(scope.query_string))
    protocol.response_bytes(200, _RSGI_JSON, _encode(worlds))


async def _rsgi_updates(scope: Any, protocol: Any) -> None:
    worlds = await _update_worlds(_queries_in(scope.query_string))
    protocol.response_bytes(200, _RSGI_JSON, _encode(worlds))


async def _rsgi_fortunes(scope: Any, protocol: Any) -> None:
    protocol.response_bytes(200, _RSGI_HTML, await _fortunes_page())


_RSGI_ROUTES: dict[str, Callable[[Any, Any], Awaitable[None]]] = {
    "/raw/db": _rsgi_db,
    "/raw/queries": _rsgi_queries_route,
    "/raw/updates": _rsgi_updates,
    "/raw/fortunes": _rsgi_fortunes,
}
_RSGI_PLAINTEXT = b"Hello, World!"


class _RSGIApp:
    """The raw floor on RSGI: granian calls ``__rsgi__(scope, protocol)``."""

    def __rsgi_init__(self, loop: Any) -> None:
        global _pool
        _pool = loop.run_until_complete(asyncpg.create_pool(DSN, min_size=1, max_size=POOL_SIZE))

    def __rsgi_del__(self, loop: Any) -> None:
        if _pool is not None:
            loop.run_until_complete(_pool.close())

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        path = scope.path
        if path == "/plaintext":
            protocol.response_bytes(200, _RSGI_TEXT, _RSGI_PLAINTEXT)
        elif path == "/json":
            protocol.response_bytes(200, _RSGI_JSON, _encode({"message": "Hello, World!"}))
        else:
            route = _RSGI_ROUTES.get(path)
            if route is None:
                protocol.response_bytes(404, _RSGI_TEXT, b"Not Found")
            else:
                await route(scope, protocol)


rsgi_app = _RSGIApp()
