"""oakling.tasks on the in-process backend: checked arguments, transactional enqueue.

Through sync handlers (``Session``) and async ones (``AsyncSession``) with the
same body, on SQLite (the embedded default) and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App
from oakling.config import Settings
from oakling.db import AsyncSession, Database, Model, Session, no_transaction
from oakling.requests import Request
from oakling.responses import JSONResponse
from oakling.tasks import Task, TaskArgumentsError, TaskFailed, Tasks, task
from oakling.testing import TestClient
from tests.conftest import database_problem

RAN: list[tuple[str, Any]] = []
SECRET = "tasks-test-secret-key-of-enough-length-0123456789"


def new_app(plugins: list[Any], **extra: Any) -> App:
    return App(settings=Settings(SECRET_KEY=SECRET, extra=extra), plugins=plugins)


class Note(Model):
    __tablename__ = "tasks_test_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(100))


class Change(msgspec.Struct):
    action: str
    note_id: int


@task
def record(change: Change, owner: int = 0) -> str:
    RAN.append(("record", (change.action, change.note_id, owner)))
    return f"{change.action}:{change.note_id}"


@task
async def record_async(note_id: int) -> int:
    RAN.append(("record_async", note_id))
    return note_id * 2


@pytest.fixture(autouse=True)
def _clear() -> Iterator[None]:
    RAN.clear()
    yield
    RAN.clear()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/tasks.db"
    else:
        url = os.environ.get("OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test")
        problem = database_problem(url)
        if problem:
            from tests.conftest import skip_or_fail

            skip_or_fail(problem)
    db = Database(url)
    Note.__table__.drop(db.sync_engine(), checkfirst=True)
    Note.__table__.create(db.sync_engine())
    yield db
    Note.__table__.drop(db.sync_engine(), checkfirst=True)
    db.sync_engine().dispose()


def notes(database: Database) -> list[str]:
    with database.session() as session:
        return list(session.scalars(select(Note.text).order_by(Note.id)))


def make_app(database: Database | None, flavor: str) -> App:
    plugins: list[Any] = [Tasks()]
    if database is not None:
        plugins.insert(0, database)
    app = new_app(plugins)

    def add(outcome: str, session: Any, text: str) -> Any:
        note = Note(text=text)
        session.add(note)
        if outcome == "enqueue-first":
            record.enqueue(Change("added", 0))
        session.flush()
        record.enqueue(Change("added", note.id), owner=7)
        if outcome == "raise":
            raise RuntimeError("boom")
        if outcome == "5xx":
            return JSONResponse({"detail": "upstream failed"}, 502)
        if outcome == "4xx":
            return JSONResponse({"detail": "kept anyway"}, 409)
        return JSONResponse({"id": note.id}, 201)

    if flavor == "sync":

        @app.post("/notes/{outcome}")
        def add_sync(outcome: str, session: Session, text: str) -> Any:
            return add(outcome, session, text)

    else:

        @app.post("/notes/{outcome}")
        async def add_async(outcome: str, session: AsyncSession, text: str) -> Any:
            note = Note(text=text)
            session.add(note)
            if outcome == "enqueue-first":
                record.enqueue(Change("added", 0))
            await session.flush()
            record.enqueue(Change("added", note.id), owner=7)
            if outcome == "raise":
                raise RuntimeError("boom")
            if outcome == "5xx":
                return JSONResponse({"detail": "upstream failed"}, 502)
            if outcome == "4xx":
                return JSONResponse({"detail": "kept anyway"}, 409)
            return JSONResponse({"id": note.id}, 201)

    return app


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_committed_request_runs_its_task_exactly_once(database: Database, flavor: str) -> None:
    app = make_app(database, flavor)
    with TestClient(app) as client:
        response = client.post("/notes/ok", params={"text": "hello"})
        assert response.status_code == 201
        note_id = response.json()["id"]
    assert notes(database) == ["hello"]
    assert RAN == [("record", ("added", note_id, 7))]


@pytest.mark.parametrize("flavor", ["sync", "async"])
@pytest.mark.parametrize("outcome", ["raise", "5xx"])
def test_rolled_back_request_sends_nothing(database: Database, flavor: str, outcome: str) -> None:
    app = make_app(database, flavor)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(f"/notes/{outcome}", params={"text": "lost"})
        assert response.status_code in (500, 502)
    assert notes(database) == []
    assert RAN == []


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_tasks_enqueued_before_the_first_query_follow_the_transaction(
    database: Database, flavor: str
) -> None:
    app = make_app(database, flavor)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/notes/enqueue-first", params={"text": "a"}).status_code == 201
        assert [name for name, _ in RAN] == ["record", "record"]
        RAN.clear()
        client.post("/notes/raise", params={"text": "b"})
    assert RAN == []
    assert notes(database) == ["a"]


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_4xx_the_handler_returns_still_commits_and_sends(database: Database, flavor: str) -> None:
    # NOTE: oakling.db commits below 500 (Django's ATOMIC_REQUESTS commits
    # whatever the view returns); the tasks follow the data.
    app = make_app(database, flavor)
    with TestClient(app) as client:
        assert client.post("/notes/4xx", params={"text": "kept"}).status_code == 409
    assert notes(database) == ["kept"]
    assert len(RAN) == 1


def test_the_task_runs_after_the_commit_and_sees_the_row(tmp_path: Any) -> None:
    database = Database(f"sqlite:///{tmp_path}/seen.db")
    Note.__table__.create(database.sync_engine())
    seen: list[list[str]] = []

    @task(name="tests.tasks.look")
    def look(note_id: int) -> None:
        # NOTE: a separate connection: it sees only committed rows.
        seen.append(notes(database))

    app = new_app([database, Tasks()])

    @app.post("/notes")
    def add(session: Session) -> dict[str, int]:
        note = Note(text="visible")
        session.add(note)
        session.flush()
        look.enqueue(note.id)
        return {"id": note.id}

    with TestClient(app) as client:
        client.post("/notes")
    database.sync_engine().dispose()
    assert seen == [["visible"]]


def test_no_database_sends_after_the_response_unless_5xx() -> None:
    app = new_app([Tasks()])

    @app.post("/ping")
    async def ping(fail: bool = False) -> Any:
        result = record_async.enqueue(21)
        if fail:
            return JSONResponse({"detail": "no"}, 503)
        return {"task_id": result.id}

    with TestClient(app) as client:
        assert client.post("/ping").status_code == 200
        assert RAN == [("record_async", 21)]
        client.post("/ping", params={"fail": "true"})
    assert RAN == [("record_async", 21)]


def test_no_transaction_handler_sends_after_the_response(tmp_path: Any) -> None:
    database = Database(f"sqlite:///{tmp_path}/nt.db")
    app = new_app([database, Tasks()])

    @app.post("/go")
    @no_transaction
    def go(session: Session) -> None:
        record.enqueue(Change("manual", 1))

    with TestClient(app) as client:
        assert client.post("/go").status_code == 204
    database.sync_engine().dispose()
    assert RAN == [("record", ("manual", 1, 0))]


def test_results_are_kept_in_process() -> None:
    app = new_app([Tasks()])
    handles: list[Any] = []

    @app.post("/double")
    async def double() -> None:
        handles.append(record_async.enqueue(5))

    with TestClient(app) as client:
        client.post("/double")
    (handle,) = handles
    assert handle.status == "SUCCESS"
    assert handle.get(timeout=1) == 10


# -- arguments checked at enqueue time ------------------------------------------


def test_bad_arguments_fail_in_the_caller() -> None:
    with pytest.raises(TaskArgumentsError, match="note_id"):
        record_async.enqueue("5")  # type: ignore[arg-type]
    with pytest.raises(TaskArgumentsError, match="unexpected argument 'colour'"):
        record.enqueue(Change("a", 1), colour="red")  # type: ignore[call-arg]
    with pytest.raises(TaskArgumentsError, match="change"):
        record.enqueue()  # type: ignore[call-arg]
    with pytest.raises(TaskArgumentsError, match="positional"):
        record_async.enqueue(1, 2)  # type: ignore[call-arg]
    assert RAN == []


def test_bad_arguments_from_input_are_a_422_naming_the_field() -> None:
    app = new_app([Tasks()])

    @app.post("/record")
    async def handler(request: Request) -> None:
        body = await request.json()
        record.enqueue(body)

    with TestClient(app) as client:
        response = client.post("/record", json={"action": "added", "note_id": "seven"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["task", record.name, "change", "note_id"]
    assert "Expected `int`" in error["msg"]
    assert RAN == []


def test_structs_are_read_from_orm_objects_and_copied() -> None:
    class Row:
        action = "from-orm"
        note_id = 3

    with_attributes = record.validate((Row(),), {})
    assert with_attributes.change == Change("from-orm", 3)  # type: ignore[attr-defined]


class Opaque:
    """Not a type msgspec can validate or send."""


def test_unsupported_annotation_is_a_clear_error() -> None:
    @task(name="tests.tasks.opaque")
    def opaque(value: Opaque) -> None: ...

    with pytest.raises(TypeError, match="task 'tests.tasks.opaque': unsupported annotation"):
        opaque.enqueue(Opaque())


# -- retries, time limit, idempotency -------------------------------------------


def test_retries_with_backoff_then_success() -> None:
    attempts: list[float] = []

    @task(name="tests.tasks.flaky", retries=3, retry_backoff=0.05)
    async def flaky() -> str:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) < 3:
            raise ConnectionError("not yet")
        return "done"

    async def main() -> Any:
        handle = flaky.enqueue()
        return await handle.aget(timeout=5)

    assert asyncio.run(main()) == "done"
    assert len(attempts) == 3
    # NOTE: 0.05 s, then 0.1 s (doubling)
    assert attempts[1] - attempts[0] >= 0.045
    assert attempts[2] - attempts[1] >= 0.095


def test_retries_exhausted_is_a_failure() -> None:
    calls: list[int] = []

    @task(name="tests.tasks.broken", retries=1, retry_backoff=0.01)
    def broken() -> None:
        calls.append(1)
        raise ValueError("always")

    async def main() -> Any:
        return await broken.enqueue().aget(timeout=5)

    with pytest.raises(TaskFailed, match="always"):
        asyncio.run(main())
    assert len(calls) == 2


def test_errors_not_in_retry_on_fail_at_once() -> None:
    calls: list[int] = []

    @task(name="tests.tasks.picky", retries=5, retry_backoff=0.01, retry_on=(ConnectionError,))
    def picky() -> None:
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(TaskFailed, match="bug"):
        picky.enqueue().get(timeout=2)
    assert calls == [1]


def test_time_limit_stops_an_async_task() -> None:
    finished: list[bool] = []

    @task(name="tests.tasks.slow", time_limit=0.05)
    async def slow() -> None:
        await asyncio.sleep(5)
        finished.append(True)

    with pytest.raises(TaskFailed, match="TimeoutError"):
        slow.enqueue().get(timeout=2)
    assert finished == []


def test_idempotency_key_runs_once() -> None:
    app = new_app([Tasks()])
    key = str(uuid.uuid4())

    @app.post("/pay")
    async def pay() -> dict[str, str]:
        return {"id": record_async.enqueue(1, _idempotency_key=key).id}

    with TestClient(app) as client:
        first = client.post("/pay").json()["id"]
        second = client.post("/pay").json()["id"]
    assert first == second
    assert RAN == [("record_async", 1)]


def test_a_rolled_back_idempotent_task_does_not_burn_its_key() -> None:
    app = new_app([Tasks()])
    key = str(uuid.uuid4())

    @app.post("/pay")
    async def pay(fail: bool = False) -> Any:
        record_async.enqueue(2, _idempotency_key=key)
        if fail:
            return JSONResponse({}, 500)
        return None

    with TestClient(app) as client:
        client.post("/pay", params={"fail": "true"})
        client.post("/pay")
    assert RAN == [("record_async", 2)]


def test_task_sessions_commit_per_run(tmp_path: Any) -> None:
    database = Database(f"sqlite:///{tmp_path}/runs.db")
    Note.__table__.create(database.sync_engine())
    app = new_app([database, Tasks()])

    @task(name="tests.tasks.write")
    def write(text: str, session: Session) -> None:
        session.add(Note(text=text))
        if text == "fail":
            raise RuntimeError("rolled back")
        record.enqueue(Change("wrote", 0))

    @app.post("/write")
    async def handler(text: str) -> None:
        write.enqueue(text)

    with TestClient(app) as client:
        client.post("/write", params={"text": "kept"})
        client.post("/write", params={"text": "fail"})
    assert notes(database) == ["kept"]
    # NOTE: the task's own enqueue left after its commit, and not for the failed run
    assert RAN == [("record", ("wrote", 0, 0))]
    database.sync_engine().dispose()


def test_task_is_still_callable_directly() -> None:
    assert record(Change("direct", 9)) == "direct:9"
    assert isinstance(record, Task)


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_failed_commit_409_drops_the_task(database: Database, flavor: str) -> None:
    # NOTE: the commit's flush fails (duplicate primary key): oakling.db
    # answers 409, a status below 500, yet nothing was kept: nothing is sent.
    with database.session() as session:
        session.add(Note(id=1, text="first"))
        session.commit()
    app = new_app([database, Tasks()])

    if flavor == "sync":

        @app.post("/dup")
        def dup(session: Session) -> None:
            session.add(Note(id=1, text="again"))
            record.enqueue(Change("dup", 1))

    else:

        @app.post("/dup")
        async def dup_async(session: AsyncSession) -> None:
            session.add(Note(id=1, text="again"))
            record.enqueue(Change("dup", 1))

    with TestClient(app) as client:
        assert client.post("/dup").status_code == 409
    assert RAN == []
    assert notes(database) == ["first"]


def test_a_5xx_set_after_the_commit_still_sends(database: Database) -> None:
    # NOTE: the data was committed before the hook turned the answer into a
    # 503 (as the sessions battery does when it cannot save a session):
    # dropping the task now would lose the effect of kept data.
    app = make_app(database, "sync")

    @app.after_request
    def unavailable(response: Any) -> Any:
        return JSONResponse({"detail": "session store down"}, 503)

    with TestClient(app) as client:
        assert client.post("/notes/ok", params={"text": "kept"}).status_code == 503
    assert notes(database) == ["kept"]
    assert len(RAN) == 1


def test_countdown_waits_before_running() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        handle = record_async.enqueue(4, _countdown=0.1)
        assert await handle.aget(timeout=5) == 8
        return loop.time() - started

    assert asyncio.run(main()) >= 0.1


def test_unknown_enqueue_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="_priority"):
        record_async.enqueue(1, _priority=3)
