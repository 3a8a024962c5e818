# docs/examples/testing_test_tasks.py
import pytest
from testing_tasks import create_app, current_user

from oakling.testing import TestClient


@pytest.fixture
def app():  # the `client` and `async_client` fixtures serve this app
    app = create_app()
    app.dependency_overrides[current_user] = lambda: "ann"  # skip real authentication
    return app


@pytest.fixture
def anyio_backend():
    return "asyncio"


def test_create_then_list(client):
    response = client.post("/tasks", json={"title": "Write tests"})
    assert response.status_code == 201
    assert client.get("/tasks").json() == [{"title": "Write tests", "owner": "ann"}]


def test_blank_title_is_422(client):
    response = client.post("/tasks", json={"title": ""})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "title"]


@pytest.mark.anyio
async def test_with_the_async_client(async_client):
    response = await async_client.get("/tasks")
    assert response.json() == []


def test_without_the_override_a_token_is_required():
    with TestClient(create_app()) as client:  # runs startup and shutdown hooks
        assert client.get("/tasks").status_code == 401
        response = client.get("/tasks", headers={"Authorization": "Bearer bob"})
        assert response.json() == []
