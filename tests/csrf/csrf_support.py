"""Apps and helpers shared by the CSRF tests: the attacks need a real app to hit."""

from __future__ import annotations

import re
import secrets
from collections.abc import MutableMapping
from types import SimpleNamespace
from typing import Annotated, Any

from oakling import App, File, Request, UploadFile
from oakling.config import Settings
from oakling.csrf import CSRF, csrf_exempt, get_token, rotate_token
from oakling.routing import View
from oakling.testing import TestClient
from oakling.types import Receive, Scope, Send

SECRET = "csrf-tests-secret-key-" + "k" * 30
EVIL = "https://evil.example"
BEARER = "Bearer let-me-in"


class StubSessionMiddleware:
    """A test-only session: a dict in memory keyed by a plain random cookie.

    Used to test the CSRF battery on its own (and when oakling.sessions is
    not importable); the real battery is used wherever it works.
    """

    store: dict[str, dict[str, Any]] = {}

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = dict(scope["headers"]).get(b"cookie", b"").decode()
        match = re.search(r"stub_session=(\w+)", cookie)
        key = match.group(1) if match and match.group(1) in self.store else None
        data: MutableMapping[str, Any] = self.store[key] if key else {}
        scope["session"] = data

        async def send_with_cookie(message: dict[str, Any]) -> None:
            nonlocal key
            if message["type"] == "http.response.start" and key is None and data:
                key = secrets.token_hex(16)
                self.store[key] = dict(data)
                message["headers"] = [
                    *message.get("headers", []),
                    (b"set-cookie", f"stub_session={key}; Path=/; HttpOnly".encode()),
                ]
            elif message["type"] == "http.response.start" and key is not None:
                self.store[key] = dict(data)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


class StubSessions:
    """The stub as a plugin named like the real battery."""

    name = "sessions"

    def install(self, app: App) -> None:
        app.extensions[self.name] = self
        app.add_middleware(StubSessionMiddleware)


class FakeBearerAuth:
    """Sets ``scope["auth"]`` as the auth battery does: token or session."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", []))
        if headers.get(b"authorization") == BEARER.encode():
            scope["auth"] = SimpleNamespace(method="token", scopes=frozenset({"tasks"}))
        elif headers.get(b"x-test-login") == b"1":
            scope["auth"] = SimpleNamespace(method="session", scopes=frozenset())
        await self.app(scope, receive, send)


def real_sessions() -> Any | None:
    """Return the real ``Sessions`` plugin class, or None when it is not usable."""
    try:
        from oakling.sessions import Sessions
    except ImportError:
        return None
    return Sessions


def sessions_plugin(kind: str) -> Any:
    if kind == "stub":
        return StubSessions()
    sessions = real_sessions()
    assert sessions is not None, "oakling.sessions is not importable"
    return sessions()


def make_app(kind: str = "real", *, extra: dict[str, Any] | None = None, **options: Any) -> App:
    """Build the app under attack: a form page, unsafe endpoints, an exempt one."""
    settings = Settings(SECRET_KEY=SECRET, extra=extra or {})
    app = App(settings=settings, plugins=[sessions_plugin(kind), CSRF(**options)])
    # NOTE: innermost middleware: runs after the sessions middleware, as the auth battery.
    app.user_middleware.append(_middleware(FakeBearerAuth))

    @app.get("/form")
    def form(request: Request) -> dict[str, str]:
        return {"token": get_token(request)}

    @app.get("/tokens")
    def tokens(request: Request) -> dict[str, list[str]]:
        return {"tokens": [get_token(request) for _ in range(5)]}

    @app.route("/submit", methods=["POST", "PUT", "PATCH", "DELETE"])
    async def submit(request: Request) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form", "multipart/")):
            form = await request.form()
            return {"ok": True, "method": request.method, "title": form.get("title")}
        return {"ok": True, "method": request.method, "body": (await request.body()).decode()}

    @app.post("/upload")
    async def upload(document: Annotated[UploadFile, File()]) -> dict[str, Any]:
        return {"filename": document.filename, "size": len(await document.read())}

    @app.post("/webhook")
    @csrf_exempt
    def webhook() -> dict[str, bool]:
        return {"received": True}

    @csrf_exempt
    class Hook(View):
        def post(self) -> dict[str, str]:
            return {"view": "exempt"}

    app.add_route("/view-hook", Hook)

    @app.post("/login")
    def login(request: Request) -> dict[str, str]:
        rotate_token(request)
        return {"token": get_token(request)}

    @app.get("/page")
    def page(request: Request) -> Any:
        from oakling.responses import HTMLResponse

        template = app.templates.env.from_string(
            "<form method=post>{{ csrf_input() }}</form><p>{{ csrf_token() }}</p>"
        )
        return HTMLResponse(template.render(app.templates.context_for(request)))

    return app


def _middleware(cls: Any) -> Any:
    from oakling.middleware import Middleware

    return Middleware(cls)


def token_of(client: TestClient, path: str = "/form") -> str:
    """Load the form page (starting a session) and return its token."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def CheckedClient(app: Any, **kwargs: Any) -> TestClient:  # noqa: N802 - used as the class
    """A test client whose requests the CSRF battery checks, sending only what the test says.

    oakling's ``TestClient`` skips CSRF checks by default (as Django's does);
    the attack tests opt back in, without the client filling tokens itself.
    """
    return TestClient(app, enforce_csrf_checks=True, fill_csrf_token=False, **kwargs)
