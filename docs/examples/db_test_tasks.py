# docs/examples/db_test_tasks.py
import pytest
from db_app import app
from db_models import Task
from sqlalchemy import select

from oakling.testing import AsyncClient, TestClient

pytest_plugins = ["oakling.db.testing"]  # the db and async_db fixtures


@pytest.fixture
def database():  # the fixtures ask for it: which Database to isolate
    db = app.extensions["db"]
    db.create_all()  # or run your migrations once per test session
    return db


def test_create_task(db):  # db: a Session; every request of the test joins its transaction
    with TestClient(app) as client:
        assert client.post("/tasks", json={"title": "Write"}).status_code == 201
    assert db.scalars(select(Task.title)).all() == ["Write"]


def test_each_test_starts_from_scratch(db):  # the task above was rolled back
    assert db.scalars(select(Task)).all() == []


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_show_task(async_db):  # async handlers: async_db and AsyncClient
    task = Task(title="Read")
    async_db.add(task)
    await async_db.flush()
    async with AsyncClient(app) as client:
        response = await client.get(f"/tasks/{task.id}")
    assert response.json()["title"] == "Read"
