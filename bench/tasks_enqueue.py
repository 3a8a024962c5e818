"""Enqueue cost per request: oakling.tasks in-process and on Celery (RabbitMQ, Redis).

In-process, one event loop, one ``POST`` per request through the whole app
(the Tasks middleware, the handler, the outbox settled at the response):

- ``no Tasks plugin``: the same handler in an app without the battery (the
  floor: what an app that does not use tasks pays, unchanged);
- ``Tasks, no enqueue``: the plugin installed, the handler enqueues nothing
  (the per-request cost of the outbox middleware);
- ``in-process enqueue+run``: the handler enqueues a no-op ``async`` task,
  run after the response (argument check, outbox, the run itself);
- ``Celery/RabbitMQ enqueue``: the handler enqueues; the message is published
  with publisher confirms before the status line goes out;
- ``Celery send_task (RabbitMQ)``: Celery's own ``send_task`` on the same
  broker, outside any request (what Flask + Celery's pattern pays per call);
- ``Celery/Redis enqueue`` and ``Celery send_task (Redis)``: the same on Redis.

Usage::

    python bench/tasks_enqueue.py [--requests N] [--repeat R] [--json]

Brokers: ``OAKLING_BENCH_AMQP_URL`` (default ``amqp://guest:guest@127.0.0.1:5672//``)
and ``OAKLING_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/1``); each run
uses a queue of its own, deleted afterwards. No worker runs: the messages stay
in the queue until then. Reports microseconds per request (median and best of
the repeats, cases interleaved) and each row over ``no Tasks plugin``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from oakling import App
from oakling.concurrency import run_in_threadpool
from oakling.config import Settings
from oakling.tasks import Tasks, task

AMQP_URL = os.environ.get("OAKLING_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_URL = os.environ.get("OAKLING_BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789"


class Change(msgspec.Struct):
    action: str
    task_id: int


@task(name="bench.noop")
async def noop(change: Change, owner_id: int) -> None:
    """Do nothing: the cost measured is the enqueue's."""


def build_app(plugin: Tasks | None, enqueue: bool) -> App:
    extra: dict[str, Any] = {}
    app = App(
        settings=Settings(SECRET_KEY=SECRET_KEY, extra=extra),
        plugins=[plugin] if plugin is not None else [],
    )

    if enqueue:

        @app.post("/tasks")
        async def create() -> None:
            noop.enqueue(Change("added", 1), 7)

    else:

        @app.post("/tasks")
        async def create_plain() -> None:
            return None

    app.build()
    return app


SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "POST",
    "scheme": "http",
    "path": "/tasks",
    "raw_path": b"/tasks",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"content-length", b"0")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
    "state": {},
}


async def main_async(requests: int, repeat: int, brokers: list[str]) -> dict[str, Any]:
    queue = f"bench-tasks-{uuid.uuid4().hex[:8]}"
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    def request_to(app: App) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            await app(dict(SCOPE), receive, send)

        return call

    cases: dict[str, Callable[[], Awaitable[None]]] = {
        "no Tasks plugin": request_to(build_app(None, False)),
        "Tasks, no enqueue": request_to(build_app(Tasks(broker_url=""), False)),
        "in-process enqueue+run": request_to(build_app(Tasks(broker_url=""), True)),
    }
    plugins: list[Tasks] = []
    for name, url in (("RabbitMQ", AMQP_URL), ("Redis", REDIS_URL)):
        if name.lower() not in brokers:
            continue
        plugin = Tasks(broker_url=url, result_backend="")
        plugins.append(plugin)
        app = build_app(plugin, True)
        plugin.backend.celery.conf.task_default_queue = queue
        cases[f"Celery/{name} enqueue"] = request_to(app)
        celery = plugin.backend.celery

        def send_task(celery: Any = celery) -> None:
            celery.send_task("bench.noop", args=[{"change": {"action": "added", "task_id": 1}}])

        async def celery_send(send_task: Callable[[], None] = send_task) -> None:
            # NOTE: in the thread pool, as oakling sends, so both pay the same hop.
            await run_in_threadpool(send_task)

        cases[f"Celery send_task ({name})"] = celery_send

    for func in cases.values():  # NOTE: warm up; checks every request answered 204
        for _ in range(min(requests, 200)):
            await func()
    assert set(statuses) == {204}, f"unexpected statuses {set(statuses)}"
    runs: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, func in cases.items():
            started = time.perf_counter()
            for _ in range(requests):
                await func()
            runs[name].append((time.perf_counter() - started) / requests * 1e6)
    assert set(statuses) == {204}, f"unexpected statuses {set(statuses)}"
    for plugin in plugins:
        celery = plugin.backend.celery
        with celery.connection_for_write() as connection:
            channel = connection.channel()
            try:
                channel.queue_delete(queue)
            finally:
                channel.close()
        plugin.backend.shutdown()
    floor = statistics.median(runs["no Tasks plugin"])
    return {
        "amqp": AMQP_URL if "rabbitmq" in brokers else None,
        "redis": REDIS_URL if "redis" in brokers else None,
        "requests": requests,
        "repeat": repeat,
        "results": [
            {
                "case": name,
                "median_us": round(statistics.median(values), 2),
                "best_us": round(min(values), 2),
                "x_no_tasks": round(statistics.median(values) / floor, 2),
            }
            for name, values in runs.items()
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--brokers", default="rabbitmq,redis", help="comma-separated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    brokers = [name for name in args.brokers.split(",") if name]
    report = asyncio.run(main_async(args.requests, args.repeat, brokers))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"Enqueue per request, in-process: {report['requests']} x {report['repeat']}")
    print(f"{'case':<30} {'median us':>10} {'best us':>9} {'x none':>7}")
    for row in report["results"]:
        print(
            f"{row['case']:<30} {row['median_us']:>10.2f} {row['best_us']:>9.2f} "
            f"{row['x_no_tasks']:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
