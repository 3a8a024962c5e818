"""The Tasks demo through HTTP: pages, forms, the JSON API and the live feed.

Each test gets its own SQLite file (``database_url``) and, unless it says
otherwise, a client logged in as "ann" through the login form
(``tests/examples/accounts.py``). The database itself (migrations,
restarts, PostgreSQL and MariaDB) is tested in ``test_tasks_database.py``;
attacks on the security batteries in ``test_tasks_security.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import event

from examples.tasks.app import LOCAL_HOSTS, TaskChange, create_app, get_repository
from examples.tasks.events import Broadcaster
from examples.tasks.repository import SqlTaskRepository, Task, TaskRepository
from oakling.auth import CurrentUser
from oakling.auth.tokens import create_token_sync
from oakling.concurrency import run_in_threadpool
from oakling.db import Session
from oakling.testing import AsyncClient, TestClient
from tests.examples.accounts import (
    PASSWORD,
    alogin,
    csrf_from,
    login,
    make_user,
    session_cookie,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A fresh SQLite file for this test's app (created and migrated at startup)."""
    return f"sqlite:///{tmp_path / 'tasks.db'}"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """A client logged in as "ann" (through the login form), on a fresh database."""
    with TestClient(create_app(database_url), follow_redirects=False) as client:
        make_user(client.app, "ann")
        assert login(client, "ann").status_code == 303
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
    assert 'href="/static/app.css?v=' in response.text
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


def test_the_stylesheet_is_cached_safely(client: TestClient) -> None:
    from examples.tasks.app import asset_version

    page = client.get("/").text
    version = asset_version("app.css")
    assert f'href="/static/app.css?v={version}"' in page
    versioned = client.get(f"/static/app.css?v={version}")
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    # an old version's URL is not promised to be immutable
    assert "immutable" not in client.get("/static/app.css?v=0ld").headers.get("cache-control", "")
    # unversioned: revalidated with the ETag, 304 when unchanged
    plain = client.get("/static/app.css")
    assert "immutable" not in plain.headers.get("cache-control", "")
    again = client.get("/static/app.css", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304


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


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": ""}, "Bitte einen Titel eingeben."),
        ({"title": "x" * 101}, "Ein Titel hat höchstens 100 Zeichen; dieser hat 101."),
    ],
)
def test_form_errors_speak_german_to_a_german_browser(
    client: TestClient, data: dict[str, str], message: str
) -> None:
    response = client.post("/tasks", data=data, headers={"accept-language": "de"})
    assert response.status_code == 422
    assert f'<p id="title-error" class="error" role="alert">{message}</p>' in response.text


def test_title_of_exactly_100_characters_is_accepted(client: TestClient) -> None:
    assert client.post("/tasks", data={"title": "x" * 100}).status_code == 303
    assert client.post("/api/tasks", json={"title": "y" * 100}).status_code == 201


def test_titles_are_escaped(client: TestClient) -> None:
    attack = '<script>alert("owned")</script>'
    add(client, attack)
    for page in (client.get("/").text, client.post("/tasks", data={"title": attack * 5}).text):
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in page


def test_login_flashes_a_welcome(database_url: str) -> None:
    with TestClient(create_app(database_url), follow_redirects=False) as client:
        make_user(client.app, "ann")
        page = client.get("/auth/login")
        data = {"csrf_token": csrf_from(page.text), "username": "ann", "password": PASSWORD}
        client.post("/auth/login", data=data)
        assert '<p class="flash success">Signed in as ann.</p>' in client.get("/").text
        assert "Signed in as ann." not in client.get("/").text


def test_add_and_toggle_flash_a_message_shown_once(client: TestClient) -> None:
    client.post("/tasks", data={"title": "<b>Oak</b>"})
    page = client.get("/").text
    # SECURITY: the flash repeats what the user typed: escaped, like the list.
    assert (
        '<div class="flashes" role="status">\n      '
        '<p class="flash success">Added “&lt;b&gt;Oak&lt;/b&gt;”.</p>'
    ) in page
    assert 'class="flashes"' not in client.get("/").text
    client.post("/tasks/1/toggle")
    assert "Marked “&lt;b&gt;Oak&lt;/b&gt;” as done." in client.get("/").text


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
    # NOTE: the page after the redirect says what happened, once (a flash).
    page = client.get("/").text
    assert 'role="status"' in page and "Deleted “Remove me”." in page
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
        make_user(app, "ann")
        login(client, "ann")
        assert client.get("/api/tasks").json() == [{"id": 1, "title": "Seeded", "completed": False}]
        client.post("/tasks", data={"title": "Through the form"})
    assert [task.title for task in repository.list()] == ["Seeded", "Through the form"]
    with TestClient(create_app(database_url)) as client:
        login(client, "ann")
        assert client.get("/api/tasks").json() == []  # the database was not touched


def test_each_database_has_its_own_tasks(tmp_path: Path) -> None:
    first_app = create_app(f"sqlite:///{tmp_path / 'first.db'}")
    second_app = create_app(f"sqlite:///{tmp_path / 'second.db'}")
    with TestClient(first_app) as first, TestClient(second_app) as second:
        for client in (first, second):
            make_user(client.app, "ann")
            login(client, "ann")
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


def test_allowed_hosts_from_the_setting_or_the_local_names(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.delenv("OAKLING_ALLOWED_HOSTS", raising=False)
    monkeypatch.delenv("OAKLING_DEBUG", raising=False)
    app = create_app(database_url)
    assert app.settings.ALLOWED_HOSTS == list(LOCAL_HOSTS)
    with TestClient(app, follow_redirects=False) as client:
        for host in ("localhost", "127.0.0.1", "[::1]:8000", "testserver"):
            assert client.get("/auth/login", headers={"host": host}).status_code == 200, host
        assert client.get("/auth/login", headers={"host": "evil.example"}).status_code == 400
    monkeypatch.setenv("OAKLING_ALLOWED_HOSTS", "tasks.example")
    app = create_app(database_url)
    assert app.settings.ALLOWED_HOSTS == ["tasks.example"]
    with TestClient(app, base_url="http://tasks.example") as client:
        assert client.get("/auth/login").status_code == 200
        assert client.get("/auth/login", headers={"host": "localhost"}).status_code == 400


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

    def __init__(self, app: Any, cookie: str) -> None:
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
            "headers": [
                (b"host", b"testserver"),
                (b"accept", b"text/event-stream"),
                (b"cookie", cookie.encode("latin-1")),
            ],
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
        await run_in_threadpool(make_user, app, "ann")
        await alogin(client, "ann")
        stream = SSEConnection(app, session_cookie(client))
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

    def failing_commit(db: Session, user: CurrentUser) -> TaskRepository:
        def refuse(_session: Any) -> None:
            raise RuntimeError("the commit failed")

        event.listen(db, "before_commit", refuse)
        return SqlTaskRepository(db, user.id)

    async with AsyncClient(app, raise_server_exceptions=False) as client:
        await run_in_threadpool(make_user, app, "ann")
        await alogin(client, "ann")
        stream = SSEConnection(app, session_cookie(client))
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
    async with AsyncClient(app) as client:
        await run_in_threadpool(make_user, app, "ann")
        await alogin(client, "ann")
        streams = [SSEConnection(app, session_cookie(client)) for _ in range(3)]
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
    feed: Broadcaster[TaskChange] = Broadcaster(TaskChange)
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
    feed: Broadcaster[TaskChange] = Broadcaster(TaskChange, max_pending=3)
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
    feed: Broadcaster[TaskChange] = Broadcaster(TaskChange)
    feed.publish(change("nobody listens"))  # no loop yet: dropped, no error
    with pytest.raises(RuntimeError, match="start"):
        await anext(feed.subscribe())
    await feed.start()
    await feed.close()
    feed.publish(change("too late"))
    with pytest.raises(StopAsyncIteration):
        await anext(feed.subscribe())  # a new subscriber after close ends at once
    assert feed.subscribers == 0


# -- accounts, CSRF tokens in forms, API tokens -----------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(database_url: str) -> None:
    with TestClient(create_app(database_url), follow_redirects=False) as client:
        for path in ("/", "/events", "/?page=2"):
            response = client.get(path)
            assert response.status_code == 302
            assert response.headers["location"] == "/auth/login?" + urlencode({"next": path})
        page = client.get("/auth/login")
        assert page.status_code == 200
        assert "<title>Log in · oakling Tasks</title>" in page.text  # the demo's look
        assert 'class="card"' in page.text and 'href="/static/app.css?v=' in page.text
        assert 'href="/auth/signup"' in page.text
        assert "Signed in as" not in page.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/tasks", None),
        ("POST", "/api/tasks", {"title": "x"}),
        ("GET", "/api/tasks/1", None),
        ("PATCH", "/api/tasks/1", {"completed": True}),
        ("DELETE", "/api/tasks/1", None),
    ],
)
def test_anonymous_api_calls_get_a_json_401(
    database_url: str, method: str, path: str, body: Any
) -> None:
    with TestClient(create_app(database_url), follow_redirects=False) as client:
        # Even a browser-like Accept: the API never redirects to a login page.
        for accept in ("*/*", "text/html"):
            response = client.request(method, path, json=body, headers={"accept": accept})
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["detail"].startswith("Authentication required")


def test_sign_up_log_out_and_log_in_again(database_url: str) -> None:
    with TestClient(
        create_app(database_url),
        follow_redirects=False,
        enforce_csrf_checks=True,
        fill_csrf_token=False,
    ) as client:
        page = client.get("/auth/signup")
        assert "<title>Sign up · oakling Tasks</title>" in page.text
        form = {"username": "bob", "password1": PASSWORD, "password2": PASSWORD}
        response = client.post("/auth/signup", data={**form, "csrf_token": csrf_from(page.text)})
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        page = client.get("/").text
        assert 'Signed in as <strong id="username">bob</strong>' in page
        # The logout button is a form posting to the logout view, with a token.
        logout = re.search(r'<form method="post" action="/auth/logout">\s*(<input[^>]*>)', page)
        assert logout is not None and 'name="csrf_token"' in logout.group(1)
        assert client.post("/auth/logout").status_code == 403  # no token: refused
        response = client.post("/auth/logout", data={"csrf_token": csrf_from(logout.group(1))})
        assert response.status_code == 303
        assert client.get("/").status_code == 302  # logged out
        assert login(client, "bob").status_code == 303
        assert client.get("/").status_code == 200


def test_every_form_carries_a_csrf_token(client: TestClient) -> None:
    add(client, "One")
    add(client, "Two")
    client.post("/tokens", data={"name": "laptop"})
    pages = [
        client.get("/").text,
        client.post("/tasks", data={"title": ""}).text,
        client.get("/auth/password/change").text,
    ]
    assert client.post("/auth/logout").status_code == 303
    pages += [client.get(path).text for path in ("/auth/login", "/auth/signup")]
    pages.append(client.get("/auth/password/reset").text)
    for page in pages:
        forms = re.findall(r"<form\b.*?</form>", page, re.DOTALL)
        assert forms
        for form in forms:
            if 'method="post"' in form:
                assert re.search(r'name="csrf_token" value="[A-Za-z0-9]{64}"', form), form


def test_title_with_a_script_is_shown_escaped(client: TestClient) -> None:
    client.post("/tasks", data={"title": "<script>alert(1)</script>"})
    page = client.get("/").text
    assert "<script>alert(1)</script>" not in page
    assert '<span class="title">&lt;script&gt;alert(1)&lt;/script&gt;</span>' in page


def test_an_api_token_is_shown_once_and_works_without_the_session(client: TestClient) -> None:
    response = client.post("/tokens", data={"name": "my script"})
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    found = re.search(
        r'<code id="new-token">(oak_[0-9a-f]{8}_[A-Za-z0-9_-]+)</code>', response.text
    )
    assert found is not None
    token = found.group(1)
    listed = client.get("/").text
    assert token not in listed  # shown once: only its hash is stored
    assert f"oak_{token[4:12]}_…" in listed and "my script" in listed
    add(client, "Mine")
    with TestClient(client.app, follow_redirects=False) as script:  # no cookie, no CSRF token
        bearer = {"authorization": f"Bearer {token}"}
        assert [task["title"] for task in script.get("/api/tasks", headers=bearer).json()] == [
            "Mine"
        ]
        response = script.post("/api/tasks", json={"title": "From a script"}, headers=bearer)
        assert response.status_code == 201  # a bearer request needs no CSRF token
        task_id = response.json()["id"]
        assert script.patch(f"/api/tasks/{task_id}", json={}, headers=bearer).status_code == 200
        assert script.delete(f"/api/tasks/{task_id}", headers=bearer).status_code == 204
        # A token does not log anyone in to the pages.
        assert script.get("/").status_code == 302
        wrong = {"authorization": "Bearer oak_00000000_" + "x" * 43}
        response = script.get("/api/tasks", headers=wrong)
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid or expired API token"}
        # Revoked: refused from then on.
        token_id = re.search(r'action="/tokens/(\d+)/delete"', listed)
        assert token_id is not None
        assert client.post(f"/tokens/{token_id.group(1)}/delete").status_code == 303
        assert script.get("/api/tasks", headers=bearer).status_code == 401


def test_a_token_without_the_write_scope_can_only_read(client: TestClient) -> None:
    add(client, "Read me")
    with client.app.extensions["db"].session() as db:
        from oakling.auth.services import get_user_by_username_sync

        ann = get_user_by_username_sync(db, "ann")
        assert ann is not None
        _, read_only = create_token_sync(db, ann, name="reader", scopes=["tasks:read"])
        _, write_only = create_token_sync(db, ann, name="writer", scopes=["tasks:write"])
        db.commit()
    with TestClient(client.app) as script:
        reader = {"authorization": f"Bearer {read_only}"}
        assert script.get("/api/tasks", headers=reader).status_code == 200
        response = script.post("/api/tasks", json={"title": "No"}, headers=reader)
        assert response.status_code == 403
        assert (
            'error="insufficient_scope", scope="tasks:write"'
            in (response.headers["www-authenticate"])
        )
        assert script.delete("/api/tasks/1", headers=reader).status_code == 403
        writer = {"authorization": f"Bearer {write_only}"}
        assert script.get("/api/tasks/1", headers=writer).status_code == 403
        assert script.post("/api/tasks", json={"title": "Yes"}, headers=writer).status_code == 201
    assert [task["title"] for task in client.get("/api/tasks").json()] == ["Read me", "Yes"]


def test_token_names_are_checked(client: TestClient) -> None:
    response = client.post("/tokens", data={"name": "n" * 101})
    assert response.status_code == 422
    assert "A token name has at most 100 characters; this one has 101." in response.text
    assert 'id="new-token"' not in response.text
    assert client.post("/tokens/999/delete").status_code == 404


@pytest.mark.anyio
async def test_the_feed_only_sends_a_user_their_own_changes(database_url: str) -> None:
    app = create_app(database_url)
    async with AsyncClient(app) as ann, AsyncClient(app) as bob:
        for name, client in (("ann", ann), ("bob", bob)):
            await run_in_threadpool(make_user, app, name)
            await alogin(client, name)
        ann_stream = SSEConnection(app, session_cookie(ann))
        await ann_stream.wait_subscribed(app.state.feed)
        bob_stream = SSEConnection(app, session_cookie(bob))
        for _ in range(100):
            if app.state.feed.subscribers == 2:
                break
            await asyncio.sleep(0.01)
        assert app.state.feed.subscribers == 2
        bobs = (await bob.post("/api/tasks", json={"title": "Bob's secret"})).json()
        anns = (await ann.post("/api/tasks", json={"title": "Ann's"})).json()
        # Ann's first event is her own task: Bob's went to Bob alone.
        assert await ann_stream.next_event() == ("task", {"action": "added", "task": anns})
        await bob_stream.messages.get()  # the response start
        assert await bob_stream.next_event() == ("task", {"action": "added", "task": bobs})
        for stream in (ann_stream, bob_stream):
            stream.gone.set()
            await asyncio.wait_for(stream.task, 5)
