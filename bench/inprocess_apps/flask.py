"""Flask: the rate-limit comparison with Flask-Limiter, in-process.

Flask is a WSGI framework, so the harness's ASGI call reaches it through
:func:`wsgi_inline`: the environ a WSGI server builds from the request,
``app(environ, start_response)`` called inline on the loop (no thread, no
socket), the answer sent back as ASGI messages. That shim is part of every
Flask figure here, so Flask's rows are compared with Flask's own plaintext
row of the same run: ``ratelimited - plaintext`` is what Flask-Limiter
costs per request, beside ``oakling.ratelimit``'s and slowapi's deltas.
The other cases have no Flask app (see ``NOT_APPLICABLE``): Flask's full
figures come from the server benchmarks (``bench/run.py``, on granian's
WSGI mode).
"""

import importlib.util
import io
import sys
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response
from harness import ASGIApp, Receive, Scope, Send
from inprocess_apps import HELLO, RATE_LIMIT, bench

__all__ = ["wsgi_inline"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_inline(wsgi_app: WSGIApp) -> ASGIApp:
    """Return an ASGI app calling ``wsgi_app`` inline, as a WSGI server would (PEP 3333)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        server = scope.get("server") or ("localhost", 80)
        client = scope.get("client") or ("127.0.0.1", 0)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": "",
            "PATH_INFO": scope["path"],
            "QUERY_STRING": scope["query_string"].decode("latin-1"),
            "SERVER_NAME": server[0],
            "SERVER_PORT": str(server[1]),
            "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
            "REMOTE_ADDR": client[0],
            "REMOTE_PORT": str(client[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.get("scheme", "http"),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").upper().replace("-", "_")
            value = raw_value.decode("latin-1")
            if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[name] = value
            else:
                key = f"HTTP_{name}"
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return None

        result = wsgi_app(environ, start_response)
        try:
            chunks = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        await send(
            {
                "type": "http.response.start",
                "status": int(status.split(" ", 1)[0]),
                "headers": [
                    (name.lower().encode("latin-1"), value.encode("latin-1"))
                    for name, value in headers
                ],
            }
        )
        await send({"type": "http.response.body", "body": chunks})

    return app


@bench("flask", "plaintext")
def flask_plaintext() -> ASGIApp:
    app = Flask(__name__)

    @app.get("/plaintext")
    def plaintext() -> Response:
        return Response(HELLO, mimetype="text/plain")

    return wsgi_inline(app)


def _flask_limiter_ratelimited() -> ASGIApp:
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    app = Flask(__name__)
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://", strategy="fixed-window")

    @app.get("/ratelimited")
    @limiter.limit(RATE_LIMIT)
    def limited() -> Response:
        return Response(HELLO, mimetype="text/plain")

    return wsgi_inline(app)


# NOTE: skipped without Flask-Limiter (a benchmark dependency only).
if importlib.util.find_spec("flask_limiter") is not None:
    bench("flask", "ratelimited")(_flask_limiter_ratelimited)
