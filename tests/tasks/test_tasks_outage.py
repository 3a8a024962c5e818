"""A broker that is down: 503 with Retry-After, never a 2xx for a task that was lost.

The shared broker is never stopped: Redis is a private ``redis-server`` on
port 16401 that the test kills, RabbitMQ sits behind a TCP proxy on 16402
that the test cuts. No worker runs: the queue's length is what was sent.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App
from oakling.config import Settings
from oakling.db import Database, Model, Session
from oakling.tasks import Tasks, task
from oakling.testing import TestClient
from tests.conftest import PrivateRedis, amqp_problem, skip_or_fail
from tests.db.db_support import TcpProxy

AMQP_URL = os.environ.get("OAKLING_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
SECRET = "tasks-test-secret-key-of-enough-length-0123456789"
REDIS_PORT = 16401
PROXY_PORT = 16402


class Order(Model):
    __tablename__ = "tasks_test_order"
    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str] = mapped_column(String(50))


@task(name="tests.outage.ship")
def ship(order_id: int) -> None:
    """Never run here: the test counts the messages in the queue."""


def make_app(broker_url: str, tmp_path: Path, queue: str) -> tuple[App, Database]:
    database = Database(f"sqlite:///{tmp_path}/orders.db")
    Order.__table__.create(database.sync_engine(), checkfirst=True)
    settings = Settings(
        SECRET_KEY=SECRET,
        extra={"TASKS_BROKER_URL": broker_url, "TASKS_DEFAULT_QUEUE": queue},
    )
    app = App(settings=settings, plugins=[database, Tasks()])

    @app.post("/orders")
    def order(item: str, session: Session) -> dict[str, int]:
        row = Order(item=item)
        session.add(row)
        session.flush()
        ship.enqueue(row.id)
        return {"id": row.id}

    return app, database


def items(database: Database) -> list[str]:
    with database.session() as session:
        return list(session.scalars(select(Order.item).order_by(Order.id)))


def run_outage(client: TestClient, cut: Any, restore: Any, queued: Any, database: Database) -> None:
    assert client.post("/orders", params={"item": "before"}).status_code == 200
    assert queued() == 1

    cut()
    first = client.post("/orders", params={"item": "first-in-outage"})
    second = client.post("/orders", params={"item": "second-in-outage"})
    for response in (first, second):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "broker unavailable" in response.json()["detail"]
    # NOTE: the documented window: the first request of an outage had
    # committed when the send failed, so its row exists without its task
    # (the client was told 503 and retries); from then on enqueue probes the
    # broker and fails before the commit: no row, no task.
    assert items(database) == ["before", "first-in-outage"]

    restore()
    after = client.post("/orders", params={"item": "after"})
    assert after.status_code == 200
    assert items(database)[-1] == "after"
    # NOTE: every 2xx has its message in the broker, and nothing else does.
    assert queued() == (1 if queued.fresh_after_restart else 2)


def test_redis_broker_down(tmp_path: Path) -> None:
    server = PrivateRedis(REDIS_PORT)
    server.start()
    queue = f"oakling-outage-{uuid.uuid4().hex[:8]}"
    app, database = make_app(server.url, tmp_path, queue)

    def queued() -> int:
        import redis

        client = redis.Redis(port=REDIS_PORT)
        try:
            return int(client.llen(queue))
        finally:
            client.close()

    queued.fresh_after_restart = True  # type: ignore[attr-defined]
    try:
        with TestClient(app) as client:
            run_outage(client, server.stop, server.start, queued, database)
    finally:
        server.stop()
        database.sync_engine().dispose()


@pytest.fixture
def amqp() -> Iterator[str]:
    problem = amqp_problem(AMQP_URL)
    if problem:
        skip_or_fail(problem)
    yield AMQP_URL


def test_rabbitmq_down(amqp: str, tmp_path: Path) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(amqp)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5672))
    proxy.port = PROXY_PORT
    proxy.start()
    credentials = parts.netloc.rpartition("@")[0]
    proxied = parts._replace(netloc=f"{credentials}@127.0.0.1:{PROXY_PORT}").geturl()
    queue = f"oakling-outage-{uuid.uuid4().hex[:8]}"
    app, database = make_app(proxied, tmp_path, queue)

    def queued() -> int:
        with Connection(amqp) as connection:
            channel = connection.channel()
            try:
                return int(channel.queue_declare(queue, passive=True).message_count)
            finally:
                channel.close()

    queued.fresh_after_restart = False  # type: ignore[attr-defined]
    try:
        with TestClient(app) as client:
            run_outage(client, proxy.stop, proxy.start, queued, database)
    finally:
        proxy.stop()
        with Connection(amqp) as connection:
            channel = connection.channel()
            channel.queue_delete(queue)
            channel.close()
        database.sync_engine().dispose()
