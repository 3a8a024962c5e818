"""The docs/csrf.md examples do what the page says.

tests/test_docs_examples.py finds them here by their ``test_<example stem>`` names.
"""

from __future__ import annotations

import re

from csrf_support import CheckedClient

from tests.conftest import Loader


def test_csrf_app(load_example: Loader) -> None:
    module = load_example("csrf_app")
    with CheckedClient(module.app) as client:
        page = client.get("/tasks/new").text
        hidden = re.search(r'name="csrf_token" value="(\w{64})"', page)
        meta = re.search(r'name="csrf-token" content="(\w{64})"', page)
        assert hidden is not None and meta is not None, page
        assert 'action="/tasks"' in page
        # A forged post: no token, or another site's Origin.
        assert client.post("/tasks", data={"title": "pwned"}).status_code == 403
        evil = {"Origin": "https://evil.example", "X-CSRFToken": meta.group(1)}
        assert client.post("/tasks", data={"title": "pwned"}, headers=evil).status_code == 403
        assert module.TASKS == []
        # The form's hidden field, the page's meta tag (as JavaScript sends it), a trusted origin.
        form = {"title": "Write", "csrf_token": hidden.group(1)}
        assert client.post("/tasks", data=form).json() == {"tasks": ["Write"]}
        headers = {"X-CSRFToken": meta.group(1), "Origin": "https://admin.example.com"}
        assert client.post("/tasks", data={"title": "Ship"}, headers=headers).status_code == 200
        token = client.get("/api/csrf").json()["token"]
        new = client.post("/login", headers={"X-CSRFToken": token}).json()["token"]
        assert client.post("/tasks", data={"title": "x", "csrf_token": token}).status_code == 403
        assert client.post("/tasks", data={"title": "Log", "csrf_token": new}).status_code == 200
        assert module.TASKS == ["Write", "Ship", "Log"]
        hook = client.post(
            "/hooks/payments", content=b"{}", headers={"Origin": "https://pay.example"}
        )
        assert hook.json() == {"received": 2}


def test_csrf_forms(load_example: Loader) -> None:
    module = load_example("csrf_forms")
    with CheckedClient(module.app, follow_redirects=False) as client:
        page = client.get("/tasks/new").text
        match = re.search(r'name="csrf_token" type="hidden" value="(\w{64})"', page)
        assert match is not None, page
        token = match.group(1)
        assert client.post("/tasks/new", data={"title": "x"}).status_code == 403
        invalid = client.post("/tasks/new", data={"title": "", "csrf_token": token})
        assert invalid.status_code == 200
        assert "This field is required." in invalid.text
        created = client.post("/tasks/new", data={"title": "Write", "csrf_token": token})
        assert (created.status_code, created.headers["location"]) == (303, "/tasks/new")
        assert module.TASKS == ["Write"]
