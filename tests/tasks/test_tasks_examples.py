"""docs/tasks.md's example does what the page says."""

from __future__ import annotations

from oakling.testing import TestClient


def test_tasks_app_example(load_example: object) -> None:
    module = load_example("tasks_app")  # type: ignore[operator]
    with TestClient(module.app) as client:
        response = client.post("/signup", params={"email": "ada@example.com", "name": "Ada"})
        assert response.status_code == 200
        assert module.SENT == ["ada@example.com"]
        handle = module.app.extensions["tasks"].backend.result(
            response.json()["task_id"], "send_welcome"
        )
        assert handle.get(timeout=1) == "ada@example.com"
