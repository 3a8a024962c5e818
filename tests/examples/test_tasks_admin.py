"""The demo's /admin: tasks with their owners (search, filters, actions) and the auth models."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.tasks.models import Task
from oakling.auth import User
from oakling.testing import TestClient
from tests.examples.accounts import csrf_from, demo_with_users, login


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    """The demo with "ann" (staff, superuser) and "bob" (a plain user), and their tasks."""
    for demo in demo_with_users(f"sqlite:///{tmp_path / 'tasks.db'}", "ann", "bob"):
        with demo.extensions["db"].session() as session:
            ann = session.query(User).filter_by(username="ann").one()
            bob = session.query(User).filter_by(username="bob").one()
            ann.is_staff = ann.is_superuser = True
            session.add_all(
                [
                    Task(title="Water the plants", owner_id=ann.id),
                    Task(title="Buy milk", owner_id=bob.id),
                    Task(title="Fix the bike", owner_id=bob.id, completed=True),
                ]
            )
            session.commit()
        yield demo


def rows(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/admin/tasks/task/\d+/change">([^<]*)</a>', html)


def test_the_demo_admin_lists_searches_filters_and_acts_on_tasks(app: Any) -> None:
    with TestClient(app, follow_redirects=False) as client:
        assert login(client, "ann").status_code == 303
        index = client.get("/admin/")
        assert index.status_code == 200
        for path in (
            "/admin/tasks/task",
            "/admin/auth/user",
            "/admin/auth/group",
            "/admin/auth/apitoken",
        ):
            assert f'href="{path}"' in index.text
        listing = client.get("/admin/tasks/task")
        assert rows(listing.text) == ["Fix the bike", "Buy milk", "Water the plants"]
        assert "<td>bob</td>" in listing.text
        assert rows(client.get("/admin/tasks/task?q=BO").text) == ["Fix the bike", "Buy milk"]
        assert rows(client.get("/admin/tasks/task?completed__exact=1").text) == ["Fix the bike"]
        with app.extensions["db"].session() as session:
            milk = session.query(Task).filter_by(title="Buy milk").one().id
        token = csrf_from(listing.text)
        done = client.post(
            "/admin/tasks/task",
            data={"csrf_token": token, "action": "mark_completed", "_selected_action": str(milk)},
        )
        assert done.status_code == 303
        assert rows(client.get("/admin/tasks/task?completed__exact=0").text) == ["Water the plants"]
        # the demo's own pages still work beside it
        assert client.get("/").status_code == 200


def test_a_plain_user_of_the_demo_cannot_use_the_admin(app: Any) -> None:
    with TestClient(app, follow_redirects=False) as client:
        assert login(client, "bob").status_code == 303
        assert client.get("/admin/").status_code == 403
        assert client.get("/admin/tasks/task").status_code == 403
