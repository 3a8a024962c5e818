"""The messages docs examples do what docs/messages.md says."""

from __future__ import annotations

from typing import Any

from oakling.testing import TestClient


def test_messages_app(load_example: Any) -> None:
    module = load_example("messages_app")
    with TestClient(module.app) as client:
        page = client.post("/tasks", data={"title": "<i>Oak</i>"})
        assert (
            '<p class="flash success" role="status">Added &lt;i&gt;Oak&lt;/i&gt;.</p>' in page.text
        )
        assert "flash" not in client.get("/").text
        assert 'class="flash error"' in client.post("/tasks", data={"title": " "}).text
        cleared = client.post("/tasks/clear")
        assert 'All clear. <a href="/">Add one</a>' in cleared.text
