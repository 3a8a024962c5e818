"""Operations guarded by the auth battery list its schemes and the scopes they need."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from openapi_spec_validator import validate

from oakling import App, Depends
from oakling.auth import Auth, CurrentUser, login_required, require_scopes, scopes_required
from oakling.auth.models import User
from oakling.config import Settings
from oakling.csrf import CSRF
from oakling.db import Database
from oakling.openapi import OpenAPI
from oakling.sessions import Sessions
from oakling.testing import TestClient


def test_guards_and_dependencies_document_their_security(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'marks.db'}")
    app = App(
        settings=Settings(SECRET_KEY="s" * 50, ALLOWED_HOSTS=["testserver"]),
        plugins=[database, Sessions(), Auth(), CSRF(), OpenAPI()],
    )

    @app.get("/me")
    def me(user: CurrentUser) -> dict[str, Any]:
        return {"id": user.id}

    @app.post("/write")
    @scopes_required("tasks:write")
    def write() -> None:
        return None

    @app.get("/page")
    @login_required
    def page() -> str:
        return "hi"

    @app.delete("/scoped")
    def scoped(user: Annotated[User, Depends(require_scopes("tasks:delete"))]) -> None:
        return None

    @app.put("/stacked")
    @login_required
    @scopes_required("tasks:write", "tasks:admin")
    def stacked() -> None:
        return None

    @app.get("/open")
    def open_route() -> str:
        return "open"

    try:
        with TestClient(app) as client:
            document = client.get("/openapi.json").json()
    finally:
        database.sync_engine().dispose()
    validate(document)
    assert set(document["components"]["securitySchemes"]) == {
        "bearerAuth",
        "sessionCookie",
        "csrfHeader",
    }
    paths = document["paths"]
    assert paths["/me"]["get"]["security"] == [{"bearerAuth": []}, {"sessionCookie": []}]
    assert paths["/write"]["post"]["security"] == [
        {"bearerAuth": ["tasks:write"]},
        {"sessionCookie": [], "csrfHeader": []},
    ]
    assert paths["/page"]["get"]["security"] == [{"bearerAuth": []}, {"sessionCookie": []}]
    assert paths["/scoped"]["delete"]["security"][0] == {"bearerAuth": ["tasks:delete"]}
    assert paths["/stacked"]["put"]["security"][0] == {"bearerAuth": ["tasks:write", "tasks:admin"]}
    assert {"401", "403"} <= set(paths["/me"]["get"]["responses"])
    assert "security" not in paths["/open"]["get"]
    assert "401" not in paths["/open"]["get"]["responses"]
