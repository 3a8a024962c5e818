"""Shared driving of ASGI apps in-process, for ``inprocess.py`` and ``db_inprocess.py``.

What both harnesses do alike lives here: the request each app gets (the scope
uvicorn builds for a wrk request, a ``receive`` giving the body, a ``send``
that counts), the ASGI lifespan, collecting and checking one answer, timing
N requests back to back, the interleaved repeats, and the small helpers of
the tables (medians, ratios, versions, the event loop).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import platform
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "ASGIApp",
    "Answer",
    "BenchError",
    "Case",
    "Lifespan",
    "Message",
    "Prepared",
    "Receive",
    "Reject",
    "Scope",
    "Send",
    "Timings",
    "add_common_arguments",
    "call_once",
    "check",
    "check_media",
    "check_rejects",
    "fmt",
    "header_lines",
    "loop_factory",
    "prepare",
    "request_scope",
    "round_or_none",
    "run_info",
    "shutdown_all",
    "time_interleaved",
    "time_requests",
    "versions_of",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# NOTE: loose on purpose: each framework types its own ``__call__`` (Litestar's
# event unions, Falcon's dicts), and all of them are ASGI apps.
ASGIApp = Callable[..., Awaitable[None]]


class BenchError(Exception):
    """An app failed its correctness check, or its lifespan, and is not timed."""


@dataclass(frozen=True)
class Reject:
    """A bad request every framework must refuse with a 4xx (checked, never timed).

    Attributes:
        what: What is wrong with it, for the error message.
        query_string: Replaces the case's query string when not ``None``.
        request_body: Replaces the case's body when not ``None``.
    """

    what: str
    query_string: bytes | None = None
    request_body: bytes | None = None


@dataclass(frozen=True)
class Case:
    """One request to send and the response every framework must give.

    Attributes:
        name: Short key (``plaintext``).
        description: One line for the README and ``--help``.
        path: The request path (``/plaintext``).
        media_type: The expected ``Content-Type`` media type (parameters
            such as ``charset`` are not compared).
        body: The expected body; compared as parsed JSON when ``is_json``.
        is_json: Compare bodies as JSON values (encoders differ in spacing).
        method: The request method.
        query_string: The raw query string, without ``?``.
        request_body: What ``receive`` returns as the request body.
        extra_headers: Request headers added after wrk's.
        rejects: Bad variants of the request that must get a 4xx.
    """

    name: str
    description: str
    path: str
    media_type: str
    body: bytes
    is_json: bool = False
    method: str = "GET"
    query_string: bytes = b""
    request_body: bytes = b""
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()
    rejects: tuple[Reject, ...] = ()


def request_scope(case: Case) -> dict[str, Any]:
    """Return the scope uvicorn would build for ``case`` sent by wrk (a template)."""
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"wrk/4.2.0"),
        (b"accept", b"*/*"),
        *case.extra_headers,
    ]
    if case.request_body:
        headers.append((b"content-length", str(len(case.request_body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 51234),
        "scheme": "http",
        "method": case.method,
        "root_path": "",
        "path": case.path,
        "raw_path": case.path.encode("ascii"),
        "query_string": case.query_string,
        "headers": headers,
    }


class Lifespan:
    """Run an app's ASGI lifespan: startup before the requests, shutdown after."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _expect(self, wanted: str) -> None:
        assert self._task is not None
        getter = asyncio.ensure_future(self._outbox.get())
        done, _ = await asyncio.wait(
            (getter, self._task), timeout=10, return_when=asyncio.FIRST_COMPLETED
        )
        if getter not in done:
            getter.cancel()
            if self._task.done() and self._task.exception() is not None:
                raise BenchError(f"lifespan raised {self._task.exception()!r}")
            raise BenchError(f"lifespan ended or hung without {wanted}")
        message = getter.result()
        if message["type"] != wanted:
            raise BenchError(f"lifespan sent {message!r}, expected {wanted}")

    async def startup(self) -> None:
        """Send ``lifespan.startup`` and wait for its completion.

        Raises:
            BenchError: If the app fails or does not answer in 10 seconds.
        """
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._task = asyncio.ensure_future(self.app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "lifespan.startup"})
        await self._expect("lifespan.startup.complete")

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait for the app to finish."""
        if self._task is None or self._task.done():
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        try:
            await self._expect("lifespan.shutdown.complete")
        finally:
            await asyncio.wait((self._task,), timeout=10)


@dataclass
class Answer:
    """What an app sent for one request."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    messages: int
    receives: int


async def call_once(app: ASGIApp, case: Case, state: dict[str, Any]) -> Answer:
    """Send ``case``'s request to ``app`` once and collect the answer.

    Raises:
        BenchError: If the messages do not form one complete HTTP response.
    """
    sent: list[Message] = []
    receives = 0

    async def receive() -> Message:
        nonlocal receives
        receives += 1
        if receives == 1:
            return {"type": "http.request", "body": case.request_body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = request_scope(case)
    # NOTE: servers give each request a shallow copy of the lifespan state.
    scope["state"] = state.copy()
    await app(scope, receive, send)
    if not sent or sent[0].get("type") != "http.response.start":
        raise BenchError(f"first message is not http.response.start: {sent[:1]!r}")
    body = b""
    finished = False
    for message in sent[1:]:
        if message.get("type") != "http.response.body" or finished:
            raise BenchError(f"unexpected message {message!r}")
        body += message.get("body", b"")
        finished = not message.get("more_body", False)
    if not finished:
        raise BenchError("the response body never finished (more_body stayed True)")
    headers = [(bytes(name).lower(), bytes(value)) for name, value in sent[0]["headers"]]
    return Answer(int(sent[0]["status"]), headers, body, len(sent), receives)


def check_media(answer: Answer, media_type: str) -> None:
    """Check the status is 200, the media type and ``Content-Length`` are right.

    Raises:
        BenchError: Saying what is wrong.
    """
    if answer.status != 200:
        raise BenchError(f"status {answer.status}, expected 200 (body {answer.body[:200]!r})")
    types = [value for name, value in answer.headers if name == b"content-type"]
    if len(types) != 1:
        raise BenchError(f"expected one content-type header, got {types!r}")
    found = types[0].split(b";", 1)[0].strip().lower().decode("latin-1")
    if found != media_type:
        raise BenchError(f"content-type {types[0]!r}, expected {media_type}")
    lengths = [value for name, value in answer.headers if name == b"content-length"]
    if len(lengths) > 1 or (lengths and int(lengths[0]) != len(answer.body)):
        raise BenchError(f"content-length {lengths!r} for a body of {len(answer.body)} bytes")


def check(answer: Answer, case: Case) -> None:
    """Check ``answer`` is the right response to ``case``.

    Raises:
        BenchError: Saying what is wrong (status, content type, length, body).
    """
    check_media(answer, case.media_type)
    if case.is_json:
        try:
            value = json.loads(answer.body)
        except ValueError as ex:
            raise BenchError(f"body is not JSON: {answer.body[:200]!r}") from ex
        if value != json.loads(case.body):
            raise BenchError(f"body {answer.body[:200]!r}, expected {case.body!r}")
    elif answer.body != case.body:
        raise BenchError(f"body {answer.body[:200]!r}, expected {case.body!r}")


async def check_rejects(app: ASGIApp, case: Case, state: dict[str, Any]) -> None:
    """Send each of ``case.rejects`` once; each must get a 4xx.

    Raises:
        BenchError: If a bad request is answered with anything but a 4xx
            (the framework did not validate it).
    """
    for reject in case.rejects:
        bad = replace(
            case,
            query_string=case.query_string if reject.query_string is None else reject.query_string,
            request_body=case.request_body if reject.request_body is None else reject.request_body,
        )
        answer = await call_once(app, bad, state)
        if not 400 <= answer.status < 500:
            raise BenchError(
                f"{reject.what}: status {answer.status}, expected a 4xx "
                f"(body {answer.body[:200]!r})"
            )


async def time_requests(
    app: ASGIApp,
    case: Case,
    state: dict[str, Any],
    requests: int,
    messages_each: int,
    collect: int | None = 2,
) -> tuple[int, int]:
    """Serve ``requests`` requests back to back; return (wall, CPU) nanoseconds.

    The CPU time is the whole process's (every thread: the loop's, a thread
    pool's): waiting on a database server costs none of it. ``collect`` is
    the generation ``gc.collect`` clears first (``None``: none); the
    collector stays on during the run, as in production.

    Raises:
        BenchError: If the app sent a different number of messages than it did
            when verified (it skipped work, or did extra).
    """
    template = request_scope(case)
    request_message = {"type": "http.request", "body": case.request_body, "more_body": False}
    count = 0

    async def receive() -> Message:
        return request_message

    async def send(message: Message) -> None:
        nonlocal count
        count += 1

    copy_scope = template.copy
    copy_state = state.copy
    if collect is not None:
        gc.collect(collect)
    cpu_start = time.process_time_ns()
    start = time.perf_counter_ns()
    for _ in range(requests):
        scope = copy_scope()
        scope["state"] = copy_state()
        await app(scope, receive, send)
    elapsed = time.perf_counter_ns() - start
    cpu = time.process_time_ns() - cpu_start
    if count != messages_each * requests:
        raise BenchError(
            f"sent {count} messages for {requests} requests; {messages_each} each when verified"
        )
    return elapsed, cpu


# -- timing many apps ------------------------------------------------------------


@dataclass
class Timings:
    """Timed runs of one app, in microseconds per request, or why it failed."""

    runs_us: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median_us(self) -> float:
        """The median over repeats."""
        return statistics.median(self.runs_us)

    @property
    def best_us(self) -> float:
        """The fastest repeat."""
        return min(self.runs_us)

    @property
    def median_cpu_us(self) -> float:
        """The median CPU time (all the process's threads) over repeats."""
        return statistics.median(self.cpu_us)


@dataclass
class Prepared:
    """An app started, verified and warmed up, ready to be timed."""

    timings: Timings
    app: ASGIApp
    lifespan: Lifespan
    case: Case
    messages: int


async def prepare(
    timings: Timings,
    build: Callable[[], ASGIApp],
    case: Case,
    verify: Callable[[ASGIApp, dict[str, Any]], Awaitable[Answer]],
    warmup: int,
) -> Prepared | None:
    """Build and start an app, verify it, warm it up; ``None`` if it failed.

    A failure is recorded in ``timings.error`` (the app is then never timed).
    """
    try:
        app = build()
        lifespan = Lifespan(app)
        await lifespan.startup()
    except Exception as ex:  # noqa: BLE001 - report it, time the others
        timings.error = f"could not start: {type(ex).__name__}: {ex}"
        return None
    try:
        answer = await verify(app, lifespan.state)
        if warmup:
            await time_requests(app, case, lifespan.state, warmup, answer.messages, None)
    except Exception as ex:  # noqa: BLE001 - report it, time the others
        timings.error = f"{type(ex).__name__}: {ex}"
        await lifespan.shutdown()
        return None
    return Prepared(timings, app, lifespan, case, answer.messages)


async def time_interleaved(prepared: Sequence[Prepared], requests: int, repeat: int) -> None:
    """Time every prepared app ``repeat`` times, interleaved, then shut them down."""
    # NOTE: repeats are interleaved, and the order rotates, so that drift on a
    # shared machine (another process, CPU frequency) hits every app alike.
    # PERF: one full collection a round, then the young generations before
    # each app: a full one per app costs ~0.3 s with every peer loaded.
    items = list(prepared)
    for round_index in range(repeat):
        shift = round_index % max(len(items), 1)
        gc.collect()
        for item in items[shift:] + items[:shift]:
            if item.timings.error is not None:
                continue
            try:
                elapsed, cpu = await time_requests(
                    item.app, item.case, item.lifespan.state, requests, item.messages, 1
                )
            except Exception as ex:  # noqa: BLE001 - report it, time the others
                item.timings.error = f"{type(ex).__name__}: {ex}"
                item.timings.runs_us.clear()
                item.timings.cpu_us.clear()
                continue
            item.timings.runs_us.append(elapsed / requests / 1000)
            item.timings.cpu_us.append(cpu / requests / 1000)


async def shutdown_all(prepared: Iterable[Prepared]) -> None:
    """Run every prepared app's lifespan shutdown."""
    for item in prepared:
        await item.lifespan.shutdown()


# -- small helpers of the reports ------------------------------------------------------


def loop_factory(choice: str) -> tuple[Callable[[], asyncio.AbstractEventLoop], str]:
    """Return the event loop factory for ``auto``/``uvloop``/``asyncio``, and its name.

    Raises:
        ImportError: For ``uvloop`` when it is not installed.
    """
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            return uvloop.new_event_loop, f"uvloop {importlib.metadata.version('uvloop')}"
    return asyncio.new_event_loop, "asyncio"


def versions_of(dists: Iterable[str]) -> dict[str, str]:
    """Return ``{distribution: version}``, ``-`` for those not installed."""
    versions: dict[str, str] = {}
    for dist in dists:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "-"
    return versions


def header_lines(title: str, versions: dict[str, str]) -> list[str]:
    """Return a report's first lines: the title, the platform and the versions."""
    return [
        f"{title}, Python {platform.python_version()}, {platform.machine()}",
        "versions: " + ", ".join(f"{name} {ver}" for name, ver in versions.items()),
    ]


def run_info(versions: dict[str, str]) -> dict[str, Any]:
    """Return the JSON reports' common keys: ``python``, ``platform``, ``versions``."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def round_or_none(value: float | None, digits: int = 3) -> float | None:
    """Return ``value`` rounded, or ``None``."""
    return None if value is None else round(value, digits)


def fmt(value: float | None) -> str:
    """Return ``value`` with two decimals, or ``-`` for ``None``."""
    return "-" if value is None else f"{value:.2f}"


def add_common_arguments(
    parser: argparse.ArgumentParser, requests: int, repeat: int, warmup: int
) -> None:
    """Add ``--requests --repeat --warmup --loop --json`` with these defaults."""
    parser.add_argument("--requests", type=int, default=requests, help="requests per timed run")
    parser.add_argument("--repeat", type=int, default=repeat, help="timed runs per app")
    parser.add_argument("--warmup", type=int, help=f"untimed requests first (default {warmup})")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
