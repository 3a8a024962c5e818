"""WTForms forms carrying the session's CSRF token (oakling.csrf.forms)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from csrf_support import CheckedClient, make_app, real_sessions
from wtforms import StringField
from wtforms.validators import DataRequired

from oakling import Request
from oakling.csrf import csrf_exempt
from oakling.csrf.forms import CSRFForm
from oakling.responses import HTMLResponse
from oakling.testing import TestClient

KIND = "real" if real_sessions() is not None else "stub"


class TaskForm(CSRFForm):
    title = StringField("Title", validators=[DataRequired()])


def form_app() -> Any:
    app = make_app(KIND)

    @app.get("/tasks/new")
    async def new_task(request: Request) -> HTMLResponse:
        form = await TaskForm.from_request(request)
        return HTMLResponse(f"<form method=post>{form.csrf_token}{form.title}</form>")

    async def create(request: Request) -> dict[str, Any]:
        form = await TaskForm.from_request(request)
        if not form.validate():
            return {"errors": form.errors}
        return {"title": form.title.data}

    @app.post("/tasks")
    async def create_checked(request: Request) -> dict[str, Any]:
        return await create(request)

    @app.post("/unchecked/tasks")
    @csrf_exempt
    async def create_exempt(request: Request) -> dict[str, Any]:
        # The app-wide check is off here: the form's own validation must hold.
        return await create(request)

    @app.post("/built")
    @csrf_exempt
    async def built(request: Request) -> dict[str, Any]:
        form = TaskForm(await request.form(), meta={"csrf_context": request})
        return {"valid": form.validate(), "errors": form.errors}

    return app


def hidden_token(client: TestClient) -> str:
    page = client.get("/tasks/new").text
    hidden = r'<input id="csrf_token" name="csrf_token" type="hidden" value="(\w+)">'
    match = re.search(hidden, page)
    assert match is not None, page
    return match.group(1)


def test_form_validates_with_its_token() -> None:
    with CheckedClient(form_app()) as client:
        token = hidden_token(client)
        assert client.post("/tasks", data={"title": "Write", "csrf_token": token}).json() == {
            "title": "Write"
        }
        # The same token also passes the form validation where the hook is off.
        response = client.post("/unchecked/tasks", data={"title": "W", "csrf_token": token})
        assert response.json() == {"title": "W"}
        # A token from csrf_token() / get_token() is the same kind.
        other = client.get("/form").json()["token"]
        assert client.post("/tasks", data={"title": "X", "csrf_token": other}).status_code == 200


def test_form_fails_without_or_with_a_bad_token() -> None:
    with CheckedClient(form_app()) as client:
        hidden_token(client)
        assert client.post("/tasks", data={"title": "Write"}).status_code == 403  # the hook
        missing = client.post("/unchecked/tasks", data={"title": "Write"}).json()
        assert missing == {"errors": {"csrf_token": ["CSRF token missing."]}}
        bad = client.post("/unchecked/tasks", data={"title": "Write", "csrf_token": "a" * 64})
        assert bad.json() == {"errors": {"csrf_token": ["CSRF token incorrect."]}}
        built = client.post("/built", data={"title": "Write"}).json()
        assert built == {"valid": False, "errors": {"csrf_token": ["CSRF token missing."]}}


def test_form_token_of_another_session_fails() -> None:
    app = form_app()
    with CheckedClient(app) as attacker, CheckedClient(app) as victim:
        stolen = hidden_token(attacker)
        hidden_token(victim)
        response = victim.post("/unchecked/tasks", data={"title": "x", "csrf_token": stolen})
        assert response.json() == {"errors": {"csrf_token": ["CSRF token incorrect."]}}


def test_form_needs_the_request() -> None:
    with pytest.raises(TypeError, match=r"meta=\{'csrf_context': request\}"):
        TaskForm()
