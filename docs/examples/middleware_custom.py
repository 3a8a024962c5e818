# docs/examples/middleware_custom.py
import re
import uuid

from oakling import App, PlainTextResponse, Request, Router
from oakling.middleware import Middleware

VALID_ID = re.compile(rb"[A-Za-z0-9-]{1,64}")


class RequestID:
    """Give each request an id: a valid incoming X-Request-ID, or a new one."""

    def __init__(self, app, header: str = "x-request-id"):
        self.app = app  # the app (or middleware) this one wraps
        self.header = header.lower().encode("latin-1")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":  # lifespan and websocket pass through
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(self.header, b"")
        request_id = sent if VALID_ID.fullmatch(sent) else uuid.uuid4().hex.encode()
        scope["request_id"] = request_id.decode()  # handlers: request.scope["request_id"]

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                headers = [*message["headers"], (self.header, request_id)]
                message = {**message, "headers": headers}  # a copy: never edit the app's
            await send(message)

        await self.app(scope, receive, send_with_id)


class Maintenance:
    """Answer 503 instead of running the app while `enabled`."""

    def __init__(self, app, enabled: bool = False):
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.enabled:
            response = PlainTextResponse("Down for maintenance", 503, {"Retry-After": "600"})
            await response(scope, receive, send)  # a Response is an ASGI app too
            return
        await self.app(scope, receive, send)


admin = Router("/admin", name="admin", middleware=[Middleware(Maintenance, enabled=True)])


@admin.get("/")
def dashboard():
    return "admin"


app = App(debug=True, middleware=[Middleware(RequestID)])
app.include(admin)


@app.get("/")
def index(request: Request):
    return {"request_id": request.scope["request_id"]}
