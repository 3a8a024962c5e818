"""docs/openapi.md's examples do what the page says, and their documents validate."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from openapi_spec_validator import validate

from oakling.testing import TestClient

Loader = Callable[[str], ModuleType]


def test_openapi_app(load_example: Loader) -> None:
    app = load_example("openapi_app").app
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
        validate(document)
        assert set(document["paths"]) == {"/api/tasks", "/api/tasks/{task_id}"}
        listed = document["paths"]["/api/tasks"]["get"]
        assert listed["operationId"] == "tasks_list_tasks"
        assert listed["tags"] == ["tasks"]
        limit = listed["parameters"][0]
        assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
        created = document["paths"]["/api/tasks"]["post"]["responses"]
        assert set(created) == {"201", "409", "415", "422"}
        assert document["paths"]["/api/tasks/{task_id}"]["get"]["deprecated"] is True
        # The response model filters: the row's hash never reaches the client.
        assert client.get("/api/tasks").json() == [
            {"id": 1, "title": "Read the docs", "completed": False}
        ]
        made = client.post("/api/tasks", json={"title": "Write"})
        assert made.status_code == 201 and "owner_password_hash" not in made.text
        assert client.post("/api/tasks", json={"title": ""}).status_code == 422
        assert client.get("/docs").status_code == 200
        assert client.get("/redoc").status_code == 200
