"""Task backends: in-process (the embedded default) and Celery (a broker).

Chosen by settings alone (see :class:`~oakling.tasks.Tasks`): no
``TASKS_BROKER_URL`` means in-process; ``amqp://`` (RabbitMQ) or
``redis://`` means Celery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from oakling.exceptions import ImproperlyConfigured, ServiceUnavailable
from oakling.outages import outages

from .results import (
    DROPPED,
    FAILURE,
    RETRY,
    STARTED,
    SUCCESS,
    MemoryResults,
    ResultStore,
    TaskResult,
)
from .runner import execute

if TYPE_CHECKING:
    from celery import Celery

    from .outbox import TaskMessage
    from .plugin import Tasks

__all__ = ["BROKER", "Backend", "CeleryBackend", "InProcessBackend"]

logger = logging.getLogger("oakling.tasks")

BROKER = "the task broker"
RETRY_AFTER_SECONDS = 5


class Backend:
    """What the outbox needs of a backend.

    Attributes:
        durable: Messages survive this process (they are in a broker).
    """

    durable = False

    def __init__(self, plugin: Tasks) -> None:
        self.plugin = plugin

    def check(self, idempotent: bool, probe: bool = True) -> None:
        """Raise before a task is held if it could not be sent (enqueue time).

        ``probe=False`` checks the configuration only, not the broker (the
        task will be a row of the outbox, ``TASKS_OUTBOX``).
        """

    def result(self, task_id: str, task_name: str) -> TaskResult:
        """Return a handle on ``task_id``."""
        raise NotImplementedError

    def dropped(self, message: TaskMessage) -> None:
        """Record that ``message`` was never sent."""

    def send(self, messages: list[TaskMessage], log_failure: bool = True) -> None:
        """Send ``messages`` to the broker (durable backends; blocking).

        ``log_failure=False``: a failure is not logged per message (they are
        kept in the outbox, and sent later).
        """
        raise NotImplementedError

    async def run(self, messages: list[TaskMessage]) -> None:
        """Run ``messages`` here, one after the other (in-process backend)."""
        raise NotImplementedError

    def send_now(self, message: TaskMessage) -> None:
        """Send or start ``message`` outside any request or task run."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release what the backend holds (at app shutdown)."""


class InProcessBackend(Backend):
    """Run tasks in this process, after the response: **not durable**.

    A task runs on the event loop (``async def``) or in the thread pool
    (``def``) once the response that enqueued it has been sent; a retry
    waits its backoff in a background asyncio task. Everything pending is
    lost when the process stops (the app's shutdown waits up to
    ``shutdown_timeout`` seconds for it). Results of the last 10,000 tasks
    and idempotency keys are kept in memory.
    """

    durable = False

    def __init__(self, plugin: Tasks, shutdown_timeout: float = 10.0) -> None:
        super().__init__(plugin)
        self.results = MemoryResults()
        self.shutdown_timeout = shutdown_timeout
        self._keys: dict[str, float] = {}
        self._keys_lock = threading.Lock()
        self._background: set[asyncio.Task[None]] = set()

    def result(self, task_id: str, task_name: str) -> TaskResult:
        """Return a handle reading the in-memory results."""
        return TaskResult(task_id, task_name, self.results)

    def dropped(self, message: TaskMessage) -> None:
        """Mark the result ``DROPPED``."""
        self.results.set(message.task_id, DROPPED)

    def _claim(self, message: TaskMessage) -> bool:
        if message.idempotency_key is None:
            return True
        now = time.monotonic()
        with self._keys_lock:
            expires = self._keys.get(message.task_id)
            if expires is not None and expires > now:
                return False
            if len(self._keys) > 100_000:
                self._keys = {key: when for key, when in self._keys.items() if when > now}
            self._keys[message.task_id] = now + message.task.options.idempotency_ttl
        return True

    async def run(self, messages: list[TaskMessage]) -> None:
        """Run each message now, in order; retries and countdowns go to the background."""
        for message in messages:
            if not self._claim(message):
                logger.info(
                    "task %s %s skipped: idempotency key already used",
                    message.task.name,
                    message.task_id,
                )
                continue
            if message.countdown:
                self._spawn(self._attempt(message, 1, message.countdown))
            else:
                await self._attempt(message, 1, 0.0)

    def send_now(self, message: TaskMessage) -> None:
        """Start ``message`` on the running loop, or run it to the end when there is none."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.run([message]))
            return
        self._spawn(self.run([message]))

    def _spawn(self, coro: Any) -> None:
        job = asyncio.get_running_loop().create_task(coro)
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _attempt(self, message: TaskMessage, attempt: int, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        task = message.task
        self.results.set(message.task_id, STARTED)
        try:
            value = await execute(task, message.values, self.plugin)
        except Exception as ex:  # noqa: BLE001 - a task's failure is recorded, not raised
            options = task.options
            if attempt <= options.retries and isinstance(ex, options.retry_on):
                wait = options.backoff(attempt)
                logger.warning(
                    "task %s %s failed (%r); retry %d of %d in %.1f s",
                    task.name,
                    message.task_id,
                    ex,
                    attempt,
                    options.retries,
                    wait,
                )
                self.results.set(message.task_id, RETRY, repr(ex))
                self._spawn(self._attempt(message, attempt + 1, wait))
                return
            logger.error("task %s %s failed", task.name, message.task_id, exc_info=True)
            self.results.set(message.task_id, FAILURE, repr(ex))
            return
        self.results.set(message.task_id, SUCCESS, value)

    async def close(self) -> None:
        """Wait for background runs (retries, countdowns) up to ``shutdown_timeout``."""
        pending = [job for job in self._background if not job.done()]
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=self.shutdown_timeout)
        for job in still:
            job.cancel()
        if still:
            logger.warning("%d in-process task(s) lost at shutdown", len(still))


class CeleryResults(ResultStore):
    """Results read from Celery's result backend (``TASKS_RESULT_BACKEND``)."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def state(self, task_id: str) -> tuple[str, Any]:
        """Return Celery's state and result (the error's text on failure)."""
        result = self.celery.AsyncResult(task_id)
        state = result.state
        value = result.result
        if state == FAILURE:
            value = repr(value)
        return state, value

    def set(self, task_id: str, state: str, value: Any = None) -> None:
        """Record a state oakling sets itself (``DROPPED``)."""
        self.celery.backend.store_result(task_id, value, state)


class CeleryBackend(Backend):
    """Send tasks to a Celery broker: RabbitMQ (``amqp://``) or Redis (``redis://``).

    Messages are JSON, published with RabbitMQ's publisher confirms (a send
    returns once the broker has the message), acknowledged by the worker
    after the run (``acks_late``), so a worker that dies mid-task leaves
    the message for another. A broker that cannot be reached (2 s connect
    timeout, one retry) is a :class:`~oakling.exceptions.ServiceUnavailable`
    (503 + ``Retry-After``); while it is down, ``enqueue`` probes it with a
    fresh connection and fails at once, before the request's transaction
    commits.

    Args:
        plugin: The Tasks plugin.
        broker_url: ``amqp://user:password@host:port/vhost`` or ``redis://host:port/db``.
        result_backend: Where results are kept (``redis://...``), or None.
        default_queue: The queue of tasks that name none (Celery's
            ``task_default_queue``, default ``celery``).
    """

    durable = True

    def __init__(
        self,
        plugin: Tasks,
        broker_url: str,
        result_backend: str | None,
        default_queue: str | None = None,
    ) -> None:
        super().__init__(plugin)
        try:
            from celery import Celery
        except ImportError as ex:  # pragma: no cover - depends on the install
            raise ImportError("TASKS_BROKER_URL needs Celery: pip install 'oakling[tasks]'") from ex
        self.broker_url = broker_url
        self.result_backend = result_backend
        transport: dict[str, Any] = {}
        if broker_url.startswith(("amqp://", "amqps://", "pyamqp://")):
            transport["confirm_publish"] = True
        else:
            transport.update(socket_connect_timeout=2, socket_timeout=2)
        self.celery = Celery("oakling", broker=broker_url, backend=result_backend or None)
        self.celery.conf.update(
            task_serializer="json",
            result_serializer="json",
            accept_content=["json"],
            broker_connection_timeout=2,
            broker_connection_retry_on_startup=True,
            broker_transport_options=transport,
            task_acks_late=True,
            task_reject_on_worker_lost=True,
            worker_prefetch_multiplier=1,
            result_extended=True,
            worker_hijack_root_logger=False,
            task_default_queue=default_queue or "celery",
        )
        self._results = CeleryResults(self.celery) if result_backend else None

    def check(self, idempotent: bool, probe: bool = True) -> None:
        """Fail at enqueue while the broker is down (a fresh connection probes it).

        ``probe=False`` skips the broker: the task goes to the outbox.

        Raises:
            ServiceUnavailable: The broker is still down.
            ImproperlyConfigured: An idempotency key without a result backend.
        """
        if idempotent and self._results is None:
            raise ImproperlyConfigured(
                "idempotency keys on Celery need TASKS_RESULT_BACKEND (redis://...): "
                "the worker records the keys it has run there"
            )
        if not probe or not outages.is_down(BROKER):
            return
        connection = self.celery.connection_for_write()
        try:
            connection.ensure_connection(max_retries=0, timeout=1)
        except Exception as ex:  # noqa: BLE001 - any failure means "still down"
            outages.failed(BROKER, ex)
            raise ServiceUnavailable(BROKER, RETRY_AFTER_SECONDS) from None
        finally:
            connection.release()
        outages.recovered(BROKER)

    def result(self, task_id: str, task_name: str) -> TaskResult:
        """Return a handle reading the result backend (None: status stays PENDING)."""
        return TaskResult(task_id, task_name, self._results)

    def send(self, messages: list[TaskMessage], log_failure: bool = True) -> None:
        """Publish ``messages`` on one pooled connection, confirmed by the broker.

        Raises:
            ServiceUnavailable: When the broker cannot be reached or refuses.
        """
        claimed: list[str] = []
        try:
            with self.celery.producer_or_acquire() as producer:
                for message in messages:
                    if message.idempotency_key is not None:
                        name = self._claim(message)
                        if name is None:
                            continue
                        claimed.append(name)
                    options = message.task.options
                    self.celery.send_task(
                        message.task.name,
                        args=[message.payload()],
                        task_id=message.task_id,
                        countdown=message.countdown,
                        queue=options.queue,
                        producer=producer,
                        retry=True,
                        retry_policy={
                            "max_retries": 1,
                            "interval_start": 0.1,
                            "interval_step": 0.2,
                            "interval_max": 0.3,
                        },
                    )
        except Exception as ex:  # noqa: BLE001 - kombu raises many kinds
            if claimed:
                self._unclaim(claimed)
            outages.failed(BROKER, ex)
            for message in messages if log_failure else ():
                logger.error("task %s %s not sent: %r", message.task.name, message.task_id, ex)
            raise ServiceUnavailable(BROKER, RETRY_AFTER_SECONDS) from None
        if outages.is_down(BROKER):
            outages.recovered(BROKER)

    def _redis(self) -> Any:
        client = getattr(self.celery.backend, "client", None)
        if client is None:  # pragma: no cover - check() refuses keys without a backend
            raise ImproperlyConfigured("idempotency keys need a Redis TASKS_RESULT_BACKEND")
        return client

    def _claim(self, message: TaskMessage) -> str | None:
        """Take the message's idempotency key (``SET NX EX``); None when already taken."""
        name = f"oakling:tasks:idempotency:{message.task_id}"
        ttl = max(1, int(message.task.options.idempotency_ttl))
        if self._redis().set(name, message.task_id, nx=True, ex=ttl):
            return name
        logger.info(
            "task %s %s not sent: idempotency key already used", message.task.name, message.task_id
        )
        return None

    def _unclaim(self, names: list[str]) -> None:
        try:
            self._redis().delete(*names)
        except Exception:  # noqa: BLE001 - the keys expire on their own
            logger.warning("could not release idempotency keys %s", names, exc_info=True)

    def send_now(self, message: TaskMessage) -> None:
        """Publish at once (outside a request; blocking)."""
        self.send([message])

    def dropped(self, message: TaskMessage) -> None:
        """Nothing to record: the broker never saw it."""

    async def close(self) -> None:
        """Close the broker's and the result backend's connections (at app shutdown)."""
        self.shutdown()

    def shutdown(self) -> None:
        """Close every connection this process holds: producers, broker pool, results.

        ``Celery.close()`` alone leaves the producer pool's connections and
        the Redis result client's open.
        """
        from kombu import pools

        amqp = self.celery.__dict__.get("amqp")
        if amqp is not None and amqp._producer_pool is not None:
            amqp._producer_pool.force_close_all()
            amqp._producer_pool = None
        # NOTE: Celery.close() only forgets its pool, which kombu keeps in a
        # process-wide registry: closed here and taken out of the registry,
        # so that a later send (the app started again) gets a fresh pool.
        if self.celery._pool is not None:
            self.celery._pool.force_close_all()
            key = self.celery.connection_for_write()
            for registry in (pools.producers, pools.connections):
                # NOTE: kombu's EqualityDict hashes keys in __delitem__ but
                # not in __contains__.
                with contextlib.suppress(KeyError):
                    del registry[key]
            key.release()
        self.celery.close()
        if self._results is not None:
            client = getattr(self.celery.backend, "client", None)
            if client is not None:
                client.connection_pool.disconnect()
