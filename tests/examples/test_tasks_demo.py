"""The Tasks demo through HTTP: pages, forms, the JSON API and the live feed.

Each test gets its own SQLite file (``database_url``); the database itself
(migrations, restarts, PostgreSQL and MariaDB) is tested in
``test_tasks_database.py``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from examples.tasks.app import TaskChange, create_app, get_repository
from examples.tasks.events import Broadcaster
from examples.tasks.repository import SqlTaskRepository, Task, TaskRepository
from oakling.db import Session
from oakling.testing import AsyncClient, TestClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A fresh SQLite file for this test's app (created and migrated at startup)."""
    return f"sqlite:///{tmp_path / 'tasks.db'}"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(database_url), follow_redirects=False) as client:
        yield client


def add(client: TestClient, title: str) -> dict[str, Any]:
    response = client.post("/api/tasks", json={"title": title})
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


# -- pages ----------------------------------------------------------------------


def test_index_lists_tasks_with_their_state(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>oakling · Tasks</title>" in response.text
    assert "Nothing to do yet" in response.text
    assert 'href="/static/app.css"' in response.text
    assert 'href="/api/tasks"' in response.text  # the footer links to the API

    add(client, "Buy milk")
    task = add(client, "Write docs")
    client.patch(f"/api/tasks/{task['id']}", json={"completed": True})
    page = client.get("/").text
    assert '<li class="task" id="task-1">' in page
    assert '<li class="task completed" id="task-2">' in page
    assert "Buy milk" in page and "Write docs" in page
    assert "1 of 2 done" in page


def test_static_css_is_served(client: TestClient) -> None:
    response = client.get("/static/app.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "line-through" in response.text  # completed tasks are struck through
    assert client.get("/static/app.js").status_code == 200


def test_add_through_the_form_redirects_and_lists_it(client: TestClient) -> None:
    response = client.post("/tasks", data={"title": "  Water the oak  "})
    assert response.status_code == 303
    assert response.headers["location"] == "http://testserver/"
    assert '<span class="title">Water the oak</span>' in client.get("/").text
    assert client.get("/api/tasks").json() == [
        {"id": 1, "title": "Water the oak", "completed": False}
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": ""}, "Please enter a title."),
        ({"title": " \t  "}, "Please enter a title."),
        ({}, "Please enter a title."),
        ({"title": "x" * 101}, "A title has at most 100 characters; this one has 101."),
    ],
)
def test_invalid_form_shows_the_page_again_with_the_error(
    client: TestClient, data: dict[str, str], message: str
) -> None:
    add(client, "Existing task")
    response = client.post("/tasks", data=data)
    assert response.status_code == 422
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert f'<p id="title-error" class="error" role="alert">{message}</p>' in response.text
    assert f'value="{data.get("title", "")}"' in response.text  # what was typed is kept
    assert "Existing task" in response.text  # the list is still shown
    assert client.get("/api/tasks").json()[1:] == []  # nothing was added


def test_title_of_exactly_100_characters_is_accepted(client: TestClient) -> None:
    assert client.post("/tasks", data={"title": "x" * 100}).status_code == 303
    assert client.post("/api/tasks", json={"title": "y" * 100}).status_code == 201


def test_titles_are_escaped(client: TestClient) -> None:
    attack = '<script>alert("owned")</script>'
    add(client, attack)
    for page in (client.get("/").text, client.post("/tasks", data={"title": attack * 5}).text):
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in page


def test_toggle_through_the_form(client: TestClient) -> None:
    task = add(client, "Toggle me")
    response = client.post(f"/tasks/{task['id']}/toggle")
    assert response.status_code == 303
    assert response.headers["location"] == "http://testserver/"
    assert client.get(f"/api/tasks/{task['id']}").json()["completed"] is True
    assert 'class="task completed"' in client.get("/").text
    client.post(f"/tasks/{task['id']}/toggle")
    assert client.get(f"/api/tasks/{task['id']}").json()["completed"] is False


def test_delete_through_the_form(client: TestClient) -> None:
    keep = add(client, "Keep")
    gone = add(client, "Remove me")
    response = client.post(f"/tasks/{gone['id']}/delete")
    assert response.status_code == 303
    assert response.headers["location"] == "http://testserver/"
    assert client.get("/api/tasks").json() == [keep]
    assert "Remove me" not in client.get("/").text


@pytest.mark.parametrize("action", ["toggle", "delete"])
def test_unknown_task_in_a_form_is_a_404_page(client: TestClient, action: str) -> None:
    response = client.post(f"/tasks/7/{action}", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "Task 7 not found" in response.text


@pytest.mark.parametrize(
    "path",
    ["/tasks/abc/toggle", "/tasks/-1/delete", "/tasks/99999999999999999999999/toggle"],
)
def test_ids_that_name_no_task_are_404(client: TestClient, path: str) -> None:
    assert client.post(path).status_code == 404
    assert client.get("/api" + path.rsplit("/", 1)[0]).status_code == 404


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"title": "JSON to the form"}}, 415),
        ({"data": {"title": "x" * 5_000_000}}, 413),  # past the form size limit
    ],
)
def test_bad_form_posts_get_a_4xx(client: TestClient, kwargs: dict[str, Any], status: int) -> None:
    assert client.post("/tasks", **kwargs).status_code == status
    assert client.get("/api/tasks").json() == []


def test_pages_only_answer_their_methods(client: TestClient) -> None:
    assert client.get("/tasks/1/toggle").status_code == 405
    assert client.delete("/").status_code == 405


# -- JSON API -------------------------------------------------------------------


def test_api_crud(client: TestClient) -> None:
    assert client.get("/api/tasks").json() == []

    response = client.post("/api/tasks", json={"title": " Ship it ", "completed": True})
    assert response.status_code == 201
    assert response.json() == {"id": 1, "title": "Ship it", "completed": True}
    assert response.headers["location"] == "http://testserver/api/tasks/1"

    assert client.get("/api/tasks/1").json() == {"id": 1, "title": "Ship it", "completed": True}
    assert client.post("/api/tasks", json={"title": "Second"}).json()["completed"] is False

    response = client.patch("/api/tasks/1", json={"title": "Shipped"})
    assert response.status_code == 200
    assert response.json() == {"id": 1, "title": "Shipped", "completed": True}
    response = client.patch("/api/tasks/1", json={"completed": False})
    assert response.json() == {"id": 1, "title": "Shipped", "completed": False}
    assert client.patch("/api/tasks/1", json={}).json()["title"] == "Shipped"

    response = client.delete("/api/tasks/1")
    assert response.status_code == 204
    assert response.content == b""
    assert [task["id"] for task in client.get("/api/tasks").json()] == [2]
    assert client.post("/api/tasks", json={"title": "Third"}).json()["id"] == 3  # ids not reused


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"completed": True}), ("DELETE", None)],
)
def test_api_unknown_task_is_a_json_404(client: TestClient, method: str, body: Any) -> None:
    response = client.request(method, "/api/tasks/7", json=body)
    assert response.status_code == 404
    assert response.json() == {"detail": "Task 7 not found"}


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({}, ["body", "title"]),
        ({"title": ""}, ["body", "title"]),
        ({"title": "   "}, ["body", "title"]),
        ({"title": "x" * 101}, ["body", "title"]),
        ({"title": 42}, ["body", "title"]),
        ({"title": "ok", "completed": "yes"}, ["body", "completed"]),
        (["not", "an", "object"], ["body"]),
    ],
)
def test_api_create_rejects_invalid_bodies_with_422(
    client: TestClient, payload: Any, loc: list[str]
) -> None:
    response = client.post("/api/tasks", json=payload)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [error["loc"] for error in errors] == [loc]
    assert client.get("/api/tasks").json() == []


def test_api_create_rejects_broken_json_and_other_media_types(client: TestClient) -> None:
    response = client.post(
        "/api/tasks", content=b'{"title": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
    response = client.post("/api/tasks", data={"title": "form, not JSON"})
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"title": ""}, ["body", "title"]),
        ({"title": "  "}, ["body", "title"]),
        ({"title": "x" * 101}, ["body", "title"]),
        ({"completed": "done"}, ["body", "completed"]),
    ],
)
def test_api_update_rejects_invalid_bodies_with_422(
    client: TestClient, payload: Any, loc: list[str]
) -> None:
    task = add(client, "Unchanged")
    response = client.patch(f"/api/tasks/{task['id']}", json=payload)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]
    assert client.get(f"/api/tasks/{task['id']}").json() == task


class ListRepository:
    """A stand-in storage: any TaskRepository will do for the handlers."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []

    def list(self) -> Sequence[Task]:
        return tuple(self.tasks)

    def get(self, task_id: int) -> Task | None:
        return next((task for task in self.tasks if task.id == task_id), None)

    def add(self, title: str, completed: bool = False) -> Task:
        task = Task(len(self.tasks) + 1, title, completed)
        self.tasks.append(task)
        return task

    def update(
        self, task_id: int, *, title: str | None = None, completed: bool | None = None
    ) -> Task | None:
        raise NotImplementedError

    def delete(self, task_id: int) -> Task | None:
        raise NotImplementedError


def test_repository_is_a_dependency_tests_can_replace(database_url: str) -> None:
    app = create_app(database_url)
    repository = ListRepository()
    repository.add("Seeded")
    app.dependency_overrides[get_repository] = lambda: repository
    with TestClient(app) as client:
        assert client.get("/api/tasks").json() == [{"id": 1, "title": "Seeded", "completed": False}]
        client.post("/tasks", data={"title": "Through the form"})
    assert [task.title for task in repository.list()] == ["Seeded", "Through the form"]
    with TestClient(create_app(database_url)) as client:
        assert client.get("/api/tasks").json() == []  # the database was not touched


def test_each_database_has_its_own_tasks(tmp_path: Path) -> None:
    first_app = create_app(f"sqlite:///{tmp_path / 'first.db'}")
    second_app = create_app(f"sqlite:///{tmp_path / 'second.db'}")
    with TestClient(first_app) as first, TestClient(second_app) as second:
        first.post("/api/tasks", json={"title": "Only here"})
        assert second.get("/api/tasks").json() == []


def test_secret_key_from_environment_or_random(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.delenv("OAKLING_SECRET_KEY", raising=False)
    monkeypatch.delenv("OAKLING_DEBUG", raising=False)
    first, second = create_app(database_url), create_app(database_url)
    assert first.debug is False
    assert first.settings.SECRET_KEY and second.settings.SECRET_KEY
    assert len(first.settings.SECRET_KEY) >= 50
    assert first.settings.SECRET_KEY != second.settings.SECRET_KEY
    first.check_settings()  # starts with no configuration at all
    monkeypatch.setenv("OAKLING_SECRET_KEY", "k" * 40)
    assert create_app(database_url).settings.SECRET_KEY == "k" * 40


def test_concurrent_requests_lose_nothing(client: TestClient) -> None:
    # Sync handlers run in a thread pool: requests write at the same time.
    # NOTE: creations only: a request that reads then writes can fail on
    # SQLite while another one commits (oakling.db begins transactions DEFERRED).
    failures: list[str] = []

    def work(worker: int) -> None:
        for number in range(25):
            response = client.post("/api/tasks", json={"title": f"{worker}-{number}"})
            if response.status_code != 201:
                failures.append(response.text)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    tasks = client.get("/api/tasks").json()
    assert len(tasks) == 200
    assert sorted(task["id"] for task in tasks) == list(range(1, 201))  # no id handed out twice
    assert {task["title"] for task in tasks} == {f"{w}-{n}" for w in range(8) for n in range(25)}


# -- the live feed --------------------------------------------------------------


class SSEConnection:
    """A ``GET /events`` request driven by hand: the test client buffers whole bodies."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/events",
            "raw_path": b"/events",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"accept", b"text/event-stream")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.task = asyncio.ensure_future(app(scope, self.receive, self.messages.put))

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def next_event(self) -> tuple[str, Any]:
        while True:
            message = await asyncio.wait_for(self.messages.get(), 5)
            body = message.get("body", b"")
            if body.startswith(b"event:"):
                lines = dict(line.split(": ", 1) for line in body.decode().strip().split("\n"))
                return lines["event"], json.loads(lines["data"])

    async def wait_subscribed(self, feed: Broadcaster[TaskChange]) -> None:
        start = await asyncio.wait_for(self.messages.get(), 5)
        assert start["status"] == 200
        assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
        for _ in range(100):
            if feed.subscribers:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the stream never subscribed to the feed")


@pytest.mark.anyio
async def test_feed_announces_every_change_over_sse(database_url: str) -> None:
    app = create_app(database_url)
    feed = app.state.feed
    async with AsyncClient(app) as client:
        stream = SSEConnection(app)
        await stream.wait_subscribed(feed)

        task = (await client.post("/api/tasks", json={"title": "Live"})).json()
        assert await stream.next_event() == ("task", {"action": "added", "task": task})

        await client.post("/tasks", data={"title": "From the form"})
        event, data = await stream.next_event()
        assert (event, data["action"], data["task"]["title"]) == ("task", "added", "From the form")

        await client.post(f"/tasks/{task['id']}/toggle")
        done = {**task, "completed": True}
        assert await stream.next_event() == ("task", {"action": "updated", "task": done})

        await client.patch(f"/api/tasks/{task['id']}", json={"title": "Renamed"})
        renamed = {**done, "title": "Renamed"}
        assert await stream.next_event() == ("task", {"action": "updated", "task": renamed})

        await client.delete(f"/api/tasks/{task['id']}")
        assert await stream.next_event() == ("task", {"action": "deleted", "task": renamed})

        # Invalid input changes nothing, so announces nothing.
        await client.post("/tasks", data={"title": ""})
        await client.post("/api/tasks", json={"title": ""})
        await client.post("/tasks/99/toggle")
        assert stream.messages.empty()

        # The client goes away: the stream ends and unsubscribes.
        stream.gone.set()
        await asyncio.wait_for(stream.task, 5)
        assert feed.subscribers == 0


@pytest.mark.anyio
async def test_a_change_that_is_not_committed_is_not_announced(database_url: str) -> None:
    app = create_app(database_url)

    def failing_commit(db: Session) -> TaskRepository:
        def refuse(_session: Any) -> None:
            raise RuntimeError("the commit failed")

        event.listen(db, "before_commit", refuse)
        return SqlTaskRepository(db)

    async with AsyncClient(app, raise_server_exceptions=False) as client:
        stream = SSEConnection(app)
        await stream.wait_subscribed(app.state.feed)
        app.dependency_overrides[get_repository] = failing_commit
        # The task is stored (flushed, with an id) before the commit fails.
        assert (await client.post("/api/tasks", json={"title": "Lost"})).status_code == 500
        assert (await client.post("/tasks", data={"title": "Lost too"})).status_code == 500
        app.dependency_overrides.clear()
        assert (await client.get("/api/tasks")).json() == []  # rolled back
        kept = (await client.post("/api/tasks", json={"title": "Kept"})).json()
        # The first announcement is the committed task: the others never went out.
        assert await stream.next_event() == ("task", {"action": "added", "task": kept})
        stream.gone.set()
        await asyncio.wait_for(stream.task, 5)


@pytest.mark.anyio
async def test_feed_streams_end_at_shutdown(database_url: str) -> None:
    app = create_app(database_url)
    async with AsyncClient(app):
        streams = [SSEConnection(app) for _ in range(3)]
        for stream in streams:
            await stream.wait_subscribed(app.state.feed)
    # The lifespan shutdown ran: every stream finished its body without a disconnect.
    for stream in streams:
        await asyncio.wait_for(stream.task, 5)
        messages = [stream.messages.get_nowait() for _ in range(stream.messages.qsize())]
        assert messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


# -- the broadcaster on its own ------------------------------------------------------


def change(title: str) -> TaskChange:
    return TaskChange("added", Task(id=1, title=title))


@pytest.mark.anyio
async def test_broadcaster_delivers_from_worker_threads() -> None:
    feed: Broadcaster[TaskChange] = Broadcaster()
    await feed.start()
    first, second = feed.subscribe(), feed.subscribe()
    receive_first = asyncio.ensure_future(anext(first))
    receive_second = asyncio.ensure_future(anext(second))
    await asyncio.sleep(0)  # both are subscribed now
    assert feed.subscribers == 2
    # Sync handlers publish from the thread pool.
    await asyncio.to_thread(feed.publish, change("from a thread"))
    assert (await asyncio.wait_for(receive_first, 5)).task.title == "from a thread"
    assert (await asyncio.wait_for(receive_second, 5)).task.title == "from a thread"
    await first.aclose()
    await second.aclose()
    assert feed.subscribers == 0


@pytest.mark.anyio
async def test_broadcaster_caps_what_a_stalled_subscriber_holds() -> None:
    feed: Broadcaster[TaskChange] = Broadcaster(max_pending=3)
    await feed.start()
    stalled = feed.subscribe()
    waiting = asyncio.ensure_future(anext(stalled))
    await asyncio.sleep(0)
    for number in range(1000):
        feed.publish(change(str(number)))
    await asyncio.sleep(0)  # deliveries run on the loop
    titles = [(await asyncio.wait_for(waiting, 5)).task.title]
    titles += [(await anext(stalled)).task.title for _ in range(2)]
    assert titles == ["0", "1", "2"]  # the rest was dropped, not queued
    await feed.close()
    with pytest.raises(StopAsyncIteration):
        await anext(stalled)


@pytest.mark.anyio
async def test_broadcaster_before_start_and_after_close() -> None:
    feed: Broadcaster[TaskChange] = Broadcaster()
    feed.publish(change("nobody listens"))  # no loop yet: dropped, no error
    with pytest.raises(RuntimeError, match="start"):
        await anext(feed.subscribe())
    await feed.start()
    await feed.close()
    feed.publish(change("too late"))
    with pytest.raises(StopAsyncIteration):
        await anext(feed.subscribe())  # a new subscriber after close ends at once
    assert feed.subscribers == 0
