"""The WSGI entry point under a real WSGI server (the standard library's wsgiref)."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

from oakling import App, Request
from oakling.wsgi import to_wsgi


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


def test_app_served_by_a_wsgi_server():
    app = App(secret_key="s" * 50)
    started: list[bool] = []

    @app.on_startup
    def start():
        started.append(True)

    @app.get("/hello/{name}")
    def hello(name: str, request: Request):
        return {"hello": name, "q": request.query_params.get("q")}

    @app.post("/echo")
    async def echo(request: Request):
        return {"len": len(await request.body())}

    application = to_wsgi(app)
    assert started == []  # nothing runs until the serving process needs it
    server: WSGIServer = make_server("127.0.0.1", 0, application, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        with httpx.Client(base_url=base) as client:
            assert client.get("/hello/ann?q=1").json() == {"hello": "ann", "q": "1"}
            assert started == [True]
            assert client.post("/echo", content=b"x" * 10_000).json() == {"len": 10_000}
            assert client.get("/missing").status_code == 404
    finally:
        server.shutdown()
        server.server_close()
        application.close()
