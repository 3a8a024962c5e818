"""Flask's app-wide blueprint hooks: before_app_request, after_app_request, app_errorhandler."""

from __future__ import annotations

import pytest

from oakling import App, HTTPException, JSONResponse, Request, Response, Router
from oakling.testing import TestClient

SECRET = "x" * 40


@pytest.fixture(params=["sync", "async"])
def hooks_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def build(kind: str) -> tuple[App, list[str]]:
    seen: list[str] = []
    app = App(secret_key=SECRET)
    auth = Router("/auth", name="auth")
    other = Router("/other", name="other")

    if kind == "sync":

        def load_user(request: Request) -> None:
            seen.append(f"auth-wide {request.url.path}")

        def stamp(response: Response) -> Response:
            response.headers["X-Auth-Wide"] = "1"
            return response

    else:

        async def load_user(request: Request) -> None:
            seen.append(f"auth-wide {request.url.path}")

        async def stamp(response: Response) -> Response:
            response.headers["X-Auth-Wide"] = "1"
            return response

    auth.before_app_request(load_user)
    auth.after_app_request(stamp)

    @app.before_request
    def app_own() -> None:
        seen.append("app")

    @other.before_request
    def other_own() -> None:
        seen.append("other")

    @auth.get("/login")
    def login() -> str:
        return "login"

    @other.get("/page")
    def page() -> str:
        return "page"

    @app.get("/")
    def index() -> str:
        return "index"

    app.include(auth)
    app.include(other)
    return app, seen


def test_before_app_request_runs_for_routes_of_other_routers(hooks_kind: str) -> None:
    app, seen = build(hooks_kind)
    with TestClient(app) as client:
        for path in ("/", "/other/page", "/auth/login"):
            response = client.get(path)
            assert response.status_code == 200
            assert response.headers["x-auth-wide"] == "1"
    # The app's hooks, then app-wide ones, then the route's routers' own.
    assert seen == [
        "app",
        "auth-wide /",
        "app",
        "auth-wide /other/page",
        "other",
        "app",
        "auth-wide /auth/login",
    ]


def test_plain_before_request_stays_local_to_its_router() -> None:
    app = App(secret_key=SECRET)
    admin = Router("/admin", name="admin")

    @admin.before_request
    def deny() -> Response:
        return Response("no", 403)

    @admin.get("/x")
    def inside() -> str:
        return "inside"

    @app.get("/")
    def outside() -> str:
        return "outside"

    app.include(admin)
    with TestClient(app) as client:
        assert client.get("/").text == "outside"
        assert client.get("/admin/x").status_code == 403


def test_before_app_request_can_answer_for_every_route() -> None:
    app = App(secret_key=SECRET)
    maintenance = Router(name="maintenance")

    @maintenance.before_app_request
    def closed(request: Request) -> Response | None:
        if request.url.path.startswith("/open"):
            return None
        return Response("maintenance", 503, headers={"Retry-After": "60"})

    @app.get("/open")
    def still_open() -> str:
        return "open"

    @app.get("/closed")
    def closed_page() -> str:
        return "never"

    app.include(maintenance)
    with TestClient(app) as client:
        assert client.get("/open").text == "open"
        response = client.get("/closed")
        assert (response.status_code, response.text) == (503, "maintenance")


def test_app_errorhandler_answers_routing_errors_and_other_routers() -> None:
    app = App(secret_key=SECRET)
    errors = Router(name="errors")
    api = Router("/api", name="api")

    @errors.app_errorhandler(404)
    def not_found(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"missing": request.url.path}, 404)

    @errors.app_errorhandler(KeyError)
    def key_error(request: Request, exc: KeyError) -> JSONResponse:
        return JSONResponse({"key": str(exc.args[0])}, 400)

    @errors.errorhandler(ValueError)
    def local_only(request: Request, exc: ValueError) -> str:
        return "errors router only"

    @api.get("/item")
    def item() -> str:
        raise KeyError("id")

    @api.get("/gone")
    def gone() -> str:
        raise HTTPException(404)

    @api.get("/value")
    def value() -> str:
        raise ValueError("x")

    app.include(errors)
    app.include(api)
    with TestClient(app, raise_server_exceptions=False) as client:
        # A path no route matches: the router's app-wide 404 handler answers.
        assert client.get("/nowhere").json() == {"missing": "/nowhere"}
        assert client.get("/api/gone").json() == {"missing": "/api/gone"}
        response = client.get("/api/item")
        assert (response.status_code, response.json()) == (400, {"key": "id"})
        # errorhandler (not app_) stays with its own router's routes.
        assert client.get("/api/value").status_code == 500


def test_the_apps_own_handler_wins_over_an_app_wide_one() -> None:
    app = App(secret_key=SECRET)
    errors = Router(name="errors")

    @errors.app_errorhandler(404)
    def router_404(request: Request, exc: HTTPException) -> str:
        return "router"

    @app.errorhandler(404)
    def app_404(request: Request, exc: HTTPException) -> str:
        return "app"

    app.include(errors)
    with TestClient(app) as client:
        assert client.get("/nowhere").text == "app"


def test_app_wide_hooks_limited_to_methods() -> None:
    app = App(secret_key=SECRET)
    guard = Router(name="guard")
    calls: list[str] = []

    guard.before_app_request(lambda: calls.append("post"), methods={"POST"})

    @app.route("/", methods=["GET", "POST"])
    def index() -> str:
        return "ok"

    app.include(guard)
    with TestClient(app) as client:
        client.get("/")
        client.post("/")
    assert calls == ["post"]
