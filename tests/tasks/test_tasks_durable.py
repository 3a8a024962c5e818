"""The transactional outbox (``TASKS_OUTBOX``): no acknowledged write loses its task.

RabbitMQ sits behind a TCP proxy (port 7110) that the test cuts; the shared
broker is never stopped. No worker runs: the queue's length is what was sent,
and the ``oakling_task_outbox`` rows are what waits for the relay.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection
from sqlalchemy import String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App, abort
from oakling.config import Settings
from oakling.db import AsyncSession, Database, Model, Session
from oakling.tasks import Tasks, task
from oakling.tasks.durable import OutboxEntry
from oakling.testing import TestClient
from tests.conftest import amqp_problem, skip_or_fail
from tests.db.db_support import TcpProxy

AMQP_URL = os.environ.get("OAKLING_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
SECRET = "tasks-test-secret-key-of-enough-length-0123456789"
PROXY_PORT = int(os.environ.get("OAKLING_TEST_OUTBOX_PROXY_PORT", "7110"))


class Parcel(Model):
    __tablename__ = "tasks_test_parcel"
    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str] = mapped_column(String(50))


@task(name="tests.durable.deliver")
def deliver(parcel_id: int) -> None:
    """Never run here: the test counts the messages in the queue."""


def make_app(broker_url: str, tmp_path: Path, queue: str) -> tuple[App, Database]:
    database = Database(f"sqlite:///{tmp_path}/parcels.db")
    engine = database.sync_engine()
    Parcel.__table__.create(engine, checkfirst=True)
    OutboxEntry.__table__.create(engine, checkfirst=True)
    settings = Settings(
        SECRET_KEY=SECRET,
        extra={
            "TASKS_BROKER_URL": broker_url,
            "TASKS_DEFAULT_QUEUE": queue,
            "TASKS_OUTBOX": "true",
            "TASKS_OUTBOX_INTERVAL": "0.2",
            "TASKS_OUTBOX_GRACE": "0.5",
        },
    )
    app = App(settings=settings, plugins=[database, Tasks()])

    @app.post("/parcels")
    def send_parcel(item: str, session: Session) -> dict[str, int]:
        row = Parcel(item=item)
        session.add(row)
        session.flush()
        deliver.enqueue(row.id)
        if item == "refused":
            abort(409, "refused after the enqueue")
        return {"id": row.id}

    @app.post("/async-parcels")
    async def send_parcel_async(item: str, session: AsyncSession) -> dict[str, int]:
        row = Parcel(item=item)
        session.add(row)
        await session.flush()
        deliver.enqueue(row.id)
        return {"id": row.id}

    return app, database


def items(database: Database) -> list[str]:
    with database.session() as session:
        return list(session.scalars(select(Parcel.item).order_by(Parcel.id)))


def held(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxEntry)) or 0)


def wait_until(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The app on a proxied RabbitMQ, its database, the proxy and the queue's length."""
    from urllib.parse import urlsplit

    problem = amqp_problem(AMQP_URL)
    if problem:
        skip_or_fail(problem)
    parts = urlsplit(AMQP_URL)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5672))
    proxy.port = PROXY_PORT
    proxy.start()
    credentials = parts.netloc.rpartition("@")[0]
    proxied = parts._replace(netloc=f"{credentials}@127.0.0.1:{PROXY_PORT}").geturl()
    queue = f"oakling-outbox-{uuid.uuid4().hex[:8]}"
    app, database = make_app(proxied, tmp_path, queue)

    def queued() -> int:
        with Connection(AMQP_URL) as connection:
            channel = connection.channel()
            try:
                return int(channel.queue_declare(queue, passive=True).message_count)
            finally:
                channel.close()

    try:
        yield {"app": app, "database": database, "proxy": proxy, "queued": queued}
    finally:
        proxy.stop()
        with Connection(AMQP_URL) as connection:
            channel = connection.channel()
            channel.queue_delete(queue)
            channel.close()
        database.sync_engine().dispose()


def test_a_broker_outage_keeps_every_acknowledged_writes_task(broker: dict[str, Any]) -> None:
    database, proxy, queued = broker["database"], broker["proxy"], broker["queued"]
    with TestClient(broker["app"]) as client:
        assert client.post("/parcels", params={"item": "before"}).status_code == 200
        assert queued() == 1 and held(database) == 0  # sent, and its row deleted

        proxy.stop()
        # The first request of the outage too: its data and its task commit together,
        # so it is acknowledged (no 503), and the task waits in the outbox.
        first = client.post("/parcels", params={"item": "first-in-outage"})
        second = client.post("/parcels", params={"item": "second-in-outage"})
        assert (first.status_code, second.status_code) == (200, 200)
        assert items(database) == ["before", "first-in-outage", "second-in-outage"]
        assert held(database) == 2
        assert queued() == 1

        proxy.start()
        # The relay sends both once the broker is back, then forgets them.
        wait_until(lambda: held(database) == 0)
        assert queued() == 3
        assert client.post("/parcels", params={"item": "after"}).status_code == 200
        assert queued() == 4 and held(database) == 0


def test_an_async_sessions_transaction_stages_its_tasks_too(broker: dict[str, Any]) -> None:
    database, proxy, queued = broker["database"], broker["proxy"], broker["queued"]
    with TestClient(broker["app"]) as client:
        proxy.stop()
        answer = client.post("/async-parcels", params={"item": "async-in-outage"})
        assert answer.status_code == 200
        assert items(database) == ["async-in-outage"] and held(database) == 1
        proxy.start()
        wait_until(lambda: held(database) == 0)
        assert queued() == 1


def test_a_rolled_back_request_stages_and_sends_nothing(broker: dict[str, Any]) -> None:
    database, queued = broker["database"], broker["queued"]
    with TestClient(broker["app"]) as client:
        assert client.post("/parcels", params={"item": "before"}).status_code == 200
        refused = client.post("/parcels", params={"item": "refused"})
        assert refused.status_code == 409
        assert items(database) == ["before"]
        assert held(database) == 0
        time.sleep(1)  # NOTE: longer than the relay's grace and interval
        assert queued() == 1


def test_the_relay_sends_what_a_dead_process_left(broker: dict[str, Any]) -> None:
    # A process committed its data and its outbox row, then died before the send.
    database, queued = broker["database"], broker["queued"]
    with database.session() as session:
        session.add(Parcel(id=41, item="orphan"))
        session.add(
            OutboxEntry(
                task_name="tests.durable.deliver",
                task_id=str(uuid.uuid4()),
                payload='{"parcel_id": 41}',
                created_at=time.time() - 60,
                attempts=0,
            )
        )
        session.commit()
    with TestClient(broker["app"]):
        wait_until(lambda: held(database) == 0)
        assert queued() == 1


def test_the_outbox_without_a_database_is_refused_at_startup() -> None:
    settings = Settings(
        SECRET_KEY=SECRET,
        extra={"TASKS_BROKER_URL": "amqp://guest:guest@127.0.0.1:1//", "TASKS_OUTBOX": "true"},
    )
    app = App(settings=settings, plugins=[Tasks()])
    # NOTE: the test client reports a failed lifespan startup as a RuntimeError.
    with pytest.raises(RuntimeError, match="ImproperlyConfigured: TASKS_OUTBOX needs oakling.db"):
        with TestClient(app):
            pass
