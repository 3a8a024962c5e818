"""The docs/auth.md examples do what the page says."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from oakling.testing import TestClient
from tests.conftest import Loader


def _auth_tables(app: Any) -> None:
    from oakling.db import Model

    tables = [t for t in Model.metadata.sorted_tables if t.name.startswith("auth_")]
    Model.metadata.create_all(app.extensions["db"].sync_engine(), tables=tables)


def _csrf(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_auth_app(load_example: Loader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OAKLING_DATABASE_URL", f"sqlite:///{tmp_path / 'docs.db'}")
    monkeypatch.setenv("OAKLING_DEBUG", "1")
    monkeypatch.setenv("OAKLING_EMAIL_BACKEND", "memory")
    app = load_example("auth_app").app
    _auth_tables(app)
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/").json() == {"user": "", "logged_in": False}
        browser = client.get("/tasks", headers={"Accept": "text/html"})
        assert browser.headers["location"] == "/auth/login?next=%2Ftasks"
        assert client.get("/me", headers={"Accept": "application/json"}).status_code == 401
        token = _csrf(client.get("/auth/signup").text)
        signed_up = client.post(
            "/auth/signup",
            data={
                "username": "ann",
                "email": "ann@example.com",
                "password1": "a long passphrase",
                "password2": "a long passphrase",
                "next": "/tasks",
                "csrf_token": token,
            },
        )
        assert signed_up.headers["location"] == "/tasks"
        assert client.get("/tasks").json() == {"owner": "ann"}
        assert client.get("/me").json()["username"] == "ann"
        token = _csrf(client.get("/auth/password/change").text)
        denied = client.post("/tasks/1/archive", headers={"X-CSRFToken": token})
        assert denied.status_code == 403
        assert client.delete("/tasks/1", headers={"X-CSRFToken": token}).status_code == 403
    sys.modules.pop("auth_app", None)


def test_auth_api(load_example: Loader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OAKLING_DATABASE_URL", f"sqlite:///{tmp_path / 'docs.db'}")
    monkeypatch.setenv("OAKLING_DEBUG", "1")
    app = load_example("auth_api").app
    _auth_tables(app)
    from oakling.auth import create_user_sync

    with app.extensions["db"].session() as session:
        create_user_sync(session, "ann", "a long passphrase", validate=False)
        session.commit()
    with TestClient(app, follow_redirects=False) as client:
        token = _csrf(client.get("/auth/login").text)
        client.post(
            "/auth/login",
            data={"username": "ann", "password": "a long passphrase", "csrf_token": token},
        )
        token = _csrf(client.get("/auth/password/change").text)
        made = client.post("/tokens?name=cli", headers={"X-CSRFToken": token})
        assert made.status_code == 201, made.text
        plaintext = made.json()["token"]
    with TestClient(app) as script:  # no cookie, no CSRF token
        bearer = {"Authorization": f"Bearer {plaintext}"}
        assert script.get("/api/tasks", headers=bearer).json() == {"user": "ann", "via": "token"}
        assert script.post("/api/tasks", headers=bearer).status_code == 403
        assert script.get("/api/tasks", headers={"Authorization": "Bearer nope"}).status_code == 401
    sys.modules.pop("auth_api", None)
