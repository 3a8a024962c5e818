"""The Auth plugin's wiring: requirements, middleware order, templates, checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oakling import App, Request
from oakling.auth import Auth, AuthMiddleware
from oakling.checks import run_checks
from oakling.config import Settings
from oakling.db import Database
from oakling.exceptions import ImproperlyConfigured
from oakling.sessions import Sessions
from oakling.testing import TestClient

KEY = "p" * 40


def test_auth_needs_db_and_sessions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(ImproperlyConfigured, match="'db' battery"):
        App(settings=Settings(SECRET_KEY=KEY), plugins=[Sessions(), Auth()])
    with pytest.raises(ImproperlyConfigured, match="'sessions' battery"):
        App(settings=Settings(SECRET_KEY=KEY), plugins=[Database(url), Auth()])
    with pytest.raises(ImproperlyConfigured, match="SITE_URL"):
        App(
            settings=Settings(SECRET_KEY=KEY),
            plugins=[Database(url), Sessions(), Auth(site_url="example.com")],
        )
    with pytest.raises(ImproperlyConfigured, match="throttling"):
        App(
            settings=Settings(SECRET_KEY=KEY),
            plugins=[Database(url), Sessions(), Auth(throttle_account="often")],
        )


def test_middleware_sits_just_inside_sessions(tmp_path: Path) -> None:
    class Outer:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await self.app(scope, receive, send)

    from oakling.middleware import Middleware

    app = App(
        settings=Settings(SECRET_KEY=KEY),
        middleware=[Middleware(Outer)],
        plugins=[Database(f"sqlite:///{tmp_path / 'x.db'}"), Sessions(), Auth()],
    )
    classes = [spec.cls for spec in app.user_middleware]
    sessions_at = next(
        index for index, cls in enumerate(classes) if cls.__module__.startswith("oakling.sessions")
    )
    assert classes[sessions_at + 1] is AuthMiddleware
    assert classes.index(Outer) > sessions_at + 1  # the app's own middleware sees request.user
    assert app.extensions["auth"].login_url == "/auth/login"


def test_prefix_and_template_override(make_app: Any, tmp_path: Path) -> None:
    folder = tmp_path / "templates" / "auth"
    folder.mkdir(parents=True)
    (folder / "base.html").write_text(
        "<html><body class=mine>{% block content %}{% endblock %}</body></html>"
    )
    app = make_app(prefix="/account")
    app.template_folder = str(tmp_path / "templates")
    with TestClient(app) as client:
        page = client.get("/account/login")
        assert page.status_code == 200
        assert "<body class=mine>" in page.text
        assert 'action="/account/login"' in page.text
        assert client.get("/auth/login").status_code == 404


def test_templates_get_the_user(make_app: Any, add_user: Any, tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hello.html").write_text(
        "{% if user.is_authenticated %}Hi {{ user.username }}{% else %}Hi stranger{% endif %}"
    )
    app = make_app()
    app.template_folder = str(tmp_path / "templates")
    add_user(app)

    @app.get("/")
    def hello(request: Request) -> Any:
        from oakling.templating import render

        return render(request, "hello.html")

    with TestClient(app) as client:
        assert client.get("/").text == "Hi stranger"
        client.post(
            "/auth/login", data={"username": "ann", "password": "correct horse battery staple"}
        )
        assert client.get("/").text == "Hi ann"


def test_deploy_checks(make_app: Any) -> None:
    app = make_app(extra={"EMAIL_BACKEND": "console"})
    ids = {message.id for message in run_checks(app, deploy=True)}
    assert {"auth.W001", "auth.W002"} <= ids
    quiet = make_app(extra={"EMAIL_BACKEND": "smtp", "SITE_URL": "https://example.com"})
    ids = {message.id for message in run_checks(quiet, deploy=True)}
    assert not {"auth.W001", "auth.W002"} & ids
    assert "auth.W001" not in {message.id for message in run_checks(app, deploy=False)}
