"""The docs/rest.md example does what the page says."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from oakling.auth.services import create_user_sync
from oakling.auth.tokens import create_token_sync
from oakling.db import Model
from oakling.testing import TestClient
from tests.conftest import Loader


def test_rest_tasks(load_example: Loader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OAKLING_DATABASE_URL", f"sqlite:///{tmp_path / 'docs.db'}")
    monkeypatch.setenv("OAKLING_DEBUG", "1")
    module = load_example("rest_tasks")
    app = module.app
    tables = [
        table
        for table in Model.metadata.sorted_tables
        if table.name.startswith(("auth_", "admin_", "docs_task"))
    ]
    engine = app.extensions["db"].sync_engine()
    Model.metadata.create_all(engine, tables=tables)
    with app.extensions["db"].session() as session:
        ann = create_user_sync(session, "ann", "pw-" + "x" * 20, validate=False)
        bob = create_user_sync(session, "bob", "pw-" + "y" * 20, validate=False)
        _, ann_token = create_token_sync(
            session, ann, name="t", scopes=["tasks:read", "tasks:write"]
        )
        _, bob_read = create_token_sync(session, bob, name="t", scopes=["tasks:read"])
        session.add(module.Task(title="Bob's", owner_id=bob.id))
        session.commit()
        ann_id = ann.id
    ann_headers = {"Authorization": f"Bearer {ann_token}"}
    bob_headers = {"Authorization": f"Bearer {bob_read}"}
    try:
        with TestClient(app) as client:
            created = client.post("/api/tasks", json={"title": "Write docs"}, headers=ann_headers)
            assert created.status_code == 201, created.text
            assert created.json()["owner_id"] == ann_id
            listed = client.get("/api/tasks?completed=false&ordering=-id", headers=ann_headers)
            assert [item["title"] for item in listed.json()["items"]] == ["Write docs"]
            assert client.get("/api/tasks/1", headers=ann_headers).status_code == 404  # Bob's
            assert (
                client.post("/api/tasks", json={"title": "x"}, headers=bob_headers).status_code
                == 403
            )
            assert client.get("/api/tasks").status_code == 401
            too_long = client.post("/api/tasks", json={"title": "x" * 101}, headers=ann_headers)
            assert too_long.status_code == 422
            page = client.get("/tasks/new").text
            assert 'maxlength="100"' in page and "What to do" in page
            document = client.get("/openapi.json").json()
            validate(document)
            title = document["components"]["schemas"]["TaskCreate"]["properties"]["title"]
            assert title == {
                "type": "string",
                "maxLength": 100,
                "pattern": r"^[^\x00]*$",
                "description": "What to do",
            }
            assert client.get("/tasks/count").json() == {"tasks": 2}
    finally:
        engine.dispose()
        sys.modules.pop("rest_tasks", None)
