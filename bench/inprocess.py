"""In-process overhead: call each framework's ASGI app directly, many times.

No server and no network: each app gets a prepared HTTP scope (what uvicorn
builds for a wrk request), a ``receive`` that returns the request body and a
``send`` that counts messages. What is left is what the framework itself costs
per request: routing, request and response objects, serialisation.

Usage::

    python bench/inprocess.py [--requests N] [--repeat R] [--json]
                              [--frameworks raw,oakling,...] [--cases plaintext,...]
                              [--loop auto|asyncio|uvloop]

Every (framework, case) pair is registered below with ``@bench(...)``: a
factory building the app, in the framework's idiomatic style, for one
:class:`Case` (the request to send and the response to expect). Before timing,
each app answers the request once and the answer is checked (status, body,
content type, content length); a framework that fails is reported and not
timed, so none is ever timed doing less work than the others. Peers that are
not installed are skipped (they are benchmark dependencies only: see
``bench/requirements.txt``).

To add a case: ``CASES["name"] = Case(...)`` and one ``@bench(framework,
"name")`` factory per framework. To add a framework: one factory per case.
"""

# NOTE: no ``from __future__ import annotations`` here, unlike the package: the
# handlers below are defined inside factories, with their framework imported
# locally, and oakling and BlackSheep read handler annotations at startup. Left
# evaluated, the annotations are real objects, as in a user's module; as
# strings they would not resolve (oakling refuses to start), and BlackSheep,
# which compares ``-> Response`` by identity, would add an output wrapper.

import argparse
import asyncio
import gc
import importlib
import importlib.metadata
import json
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from blacksheep import Application

    from oakling import App

__all__ = [
    "BENCHES",
    "CASES",
    "FRAMEWORKS",
    "Bench",
    "BenchError",
    "Case",
    "Report",
    "Result",
    "bench",
    "main",
    "run",
    "verify",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HELLO = "Hello, World!"
SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789"


class BenchError(Exception):
    """An app failed its correctness check, or its lifespan, and is not timed."""


# -- cases --------------------------------------------------------------------


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


ROUTES_IN_TABLE = 100
TARGET_ROUTE = 50  # NOTE: the middle of the table: neither best nor worst case for a linear scan.
ITEM_ID = 42


def route_path(index: int) -> str:
    """Return the literal prefix of parameterised route ``index`` (``/r050``)."""
    return f"/r{index:03d}"


CASES: dict[str, Case] = {
    "plaintext": Case(
        name="plaintext",
        description="GET /plaintext -> 'Hello, World!' as text/plain (TFB plaintext)",
        path="/plaintext",
        media_type="text/plain",
        body=HELLO.encode(),
    ),
    "json": Case(
        name="json",
        description='GET /json -> {"message":"Hello, World!"} encoded per request (TFB JSON)',
        path="/json",
        media_type="application/json",
        body=b'{"message":"Hello, World!"}',
        is_json=True,
    ),
    "path-param": Case(
        name="path-param",
        description=(
            f"GET {route_path(TARGET_ROUTE)}/{ITEM_ID} among {ROUTES_IN_TABLE} routes "
            '/rNNN/{item_id:int} -> {"id":42} (int conversion, JSON)'
        ),
        path=f"{route_path(TARGET_ROUTE)}/{ITEM_ID}",
        media_type="application/json",
        body=b'{"id":42}',
        is_json=True,
    ),
}


# -- registry -----------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    """One framework answering one case.

    Attributes:
        framework: ``raw``, ``oakling``, ``starlette``, ``blacksheep`` ...
        case: A key of :data:`CASES`.
        factory: Builds the ASGI app (imports the framework lazily).
        variant: Empty for the framework's idiomatic form; otherwise a label
            for another way a user might write the same handler.
    """

    framework: str
    case: str
    factory: Callable[[], ASGIApp]
    variant: str = ""

    @property
    def label(self) -> str:
        """Return ``framework`` or ``framework [variant]``."""
        return f"{self.framework} [{self.variant}]" if self.variant else self.framework


# framework -> (module that must import, distribution name for the version)
FRAMEWORKS: dict[str, tuple[str | None, str | None]] = {
    "raw": (None, None),
    "oakling": ("oakling", "oakling"),
    "starlette": ("starlette", "starlette"),
    "blacksheep": ("blacksheep", "blacksheep"),
}

BENCHES: list[Bench] = []


def bench(
    framework: str, case: str, variant: str = ""
) -> Callable[[Callable[[], ASGIApp]], Callable[[], ASGIApp]]:
    """Register the decorated app factory for ``(framework, case, variant)``."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}; add it to FRAMEWORKS")
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}")

    def decorator(factory: Callable[[], ASGIApp]) -> Callable[[], ASGIApp]:
        BENCHES.append(Bench(framework, case, factory, variant))
        return factory

    return decorator


# -- raw ASGI: the floor ----------------------------------------------------------


async def _raw_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _raw_not_found(send: Send) -> None:
    await send(
        {"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})


@bench("raw", "plaintext")
def raw_plaintext() -> ASGIApp:
    body = HELLO.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13")]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _raw_lifespan(receive, send)
            return
        if scope["path"] != "/plaintext":
            await _raw_not_found(send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@bench("raw", "json")
def raw_json() -> ASGIApp:
    import msgspec

    encode = msgspec.json.encode

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _raw_lifespan(receive, send)
            return
        if scope["path"] != "/json":
            await _raw_not_found(send)
            return
        body = encode({"message": HELLO})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@bench("raw", "path-param")
def raw_path_param() -> ASGIApp:
    import msgspec

    encode = msgspec.json.encode
    # NOTE: the least a hand-written router can do: one dict lookup on the
    # first segment, then int() on the second.
    prefixes = {route_path(index)[1:] for index in range(ROUTES_IN_TABLE)}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _raw_lifespan(receive, send)
            return
        first, _, rest = scope["path"][1:].partition("/")
        if first not in prefixes or not (rest.isascii() and rest.isdigit()):
            await _raw_not_found(send)
            return
        body = encode({"id": int(rest)})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


# -- oakling ------------------------------------------------------------------------


def _oakling_app() -> "App":
    from oakling import App

    return App(secret_key=SECRET_KEY)


@bench("oakling", "plaintext")
def oakling_plaintext() -> ASGIApp:
    from oakling import PlainTextResponse

    app = _oakling_app()

    @app.get("/plaintext")
    async def plaintext() -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    return app


@bench("oakling", "plaintext", variant="return str")
def oakling_plaintext_str() -> ASGIApp:
    app = _oakling_app()

    @app.get("/plaintext")
    async def plaintext() -> str:
        return HELLO

    return app


@bench("oakling", "plaintext", variant="response_class")
def oakling_plaintext_response_class() -> ASGIApp:
    from oakling import PlainTextResponse

    app = _oakling_app()

    @app.get("/plaintext", response_class=PlainTextResponse)
    async def plaintext() -> str:
        return HELLO

    return app


@bench("oakling", "json")
def oakling_json() -> ASGIApp:
    from oakling import JSONResponse

    app = _oakling_app()

    @app.get("/json")
    async def json_() -> JSONResponse:
        return JSONResponse({"message": HELLO})

    return app


@bench("oakling", "json", variant="return dict")
def oakling_json_dict() -> ASGIApp:
    app = _oakling_app()

    @app.get("/json")
    async def json_() -> dict[str, str]:
        return {"message": HELLO}

    return app


def _oakling_routes(as_dict: bool) -> "App":
    from oakling import JSONResponse

    app = _oakling_app()

    async def item(item_id: int) -> Any:
        return {"id": item_id} if as_dict else JSONResponse({"id": item_id})

    for index in range(ROUTES_IN_TABLE):
        app.add_route(route_path(index) + "/{item_id}", item, name=f"item{index}")
    return app


@bench("oakling", "path-param")
def oakling_path_param() -> ASGIApp:
    return _oakling_routes(as_dict=False)


@bench("oakling", "path-param", variant="return dict")
def oakling_path_param_dict() -> ASGIApp:
    return _oakling_routes(as_dict=True)


# -- Starlette ----------------------------------------------------------------------


@bench("starlette", "plaintext")
def starlette_plaintext() -> ASGIApp:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def plaintext(request: Request) -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    return Starlette(routes=[Route("/plaintext", plaintext)])


@bench("starlette", "json")
def starlette_json() -> ASGIApp:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def json_(request: Request) -> JSONResponse:
        return JSONResponse({"message": HELLO})

    return Starlette(routes=[Route("/json", json_)])


@bench("starlette", "path-param")
def starlette_path_param() -> ASGIApp:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def item(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["item_id"]})

    routes = [
        Route(route_path(index) + "/{item_id:int}", item, name=f"item{index}")
        for index in range(ROUTES_IN_TABLE)
    ]
    return Starlette(routes=routes)


# -- BlackSheep ---------------------------------------------------------------------


def _blacksheep_app() -> "Application":
    from blacksheep import Application
    from blacksheep.server.routing import Router

    # NOTE: an explicit Router: the default one is shared by every Application
    # in the process (BlackSheep's module-level @get decorators use it).
    return Application(router=Router())


@bench("blacksheep", "plaintext")
def blacksheep_plaintext() -> ASGIApp:
    from blacksheep import Response, text

    app = _blacksheep_app()

    @app.router.get("/plaintext")
    async def plaintext() -> Response:
        return text(HELLO)

    return app


@bench("blacksheep", "json")
def blacksheep_json() -> ASGIApp:
    from blacksheep import Response, json

    app = _blacksheep_app()

    @app.router.get("/json")
    async def json_() -> Response:
        return json({"message": HELLO})

    return app


@bench("blacksheep", "path-param")
def blacksheep_path_param() -> ASGIApp:
    from blacksheep import Response, json

    app = _blacksheep_app()

    async def item(item_id: int) -> Response:
        return json({"id": item_id})

    for index in range(ROUTES_IN_TABLE):
        app.router.add_get(route_path(index) + "/{int:item_id}", item)
    return app


# -- driving an app -------------------------------------------------------------------


def request_scope(case: Case) -> dict[str, Any]:
    """Return the scope uvicorn would build for ``case`` sent by wrk (a template)."""
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
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"wrk/4.2.0"),
            (b"accept", b"*/*"),
            *case.extra_headers,
        ],
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


def _new_scope(template: dict[str, Any], state: dict[str, Any]) -> Scope:
    scope = template.copy()
    # NOTE: servers give each request a shallow copy of the lifespan state.
    scope["state"] = state.copy()
    return scope


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

    await app(_new_scope(request_scope(case), state), receive, send)
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


def check(answer: Answer, case: Case) -> None:
    """Check ``answer`` is the right response to ``case``.

    Raises:
        BenchError: Saying what is wrong (status, content type, length, body).
    """
    if answer.status != 200:
        raise BenchError(f"status {answer.status}, expected 200 (body {answer.body[:200]!r})")
    types = [value for name, value in answer.headers if name == b"content-type"]
    if len(types) != 1:
        raise BenchError(f"expected one content-type header, got {types!r}")
    media_type = types[0].split(b";", 1)[0].strip().lower().decode("latin-1")
    if media_type != case.media_type:
        raise BenchError(f"content-type {types[0]!r}, expected {case.media_type}")
    lengths = [value for name, value in answer.headers if name == b"content-length"]
    if len(lengths) > 1 or (lengths and int(lengths[0]) != len(answer.body)):
        raise BenchError(f"content-length {lengths!r} for a body of {len(answer.body)} bytes")
    if case.is_json:
        try:
            value = json.loads(answer.body)
        except ValueError as ex:
            raise BenchError(f"body is not JSON: {answer.body[:200]!r}") from ex
        if value != json.loads(case.body):
            raise BenchError(f"body {answer.body[:200]!r}, expected {case.body!r}")
    elif answer.body != case.body:
        raise BenchError(f"body {answer.body[:200]!r}, expected {case.body!r}")


async def verify(app: ASGIApp, case: Case, state: dict[str, Any] | None = None) -> Answer:
    """Call ``app`` once with ``case`` and check the answer (see :func:`check`).

    Raises:
        BenchError: If the answer is wrong.
    """
    answer = await call_once(app, case, {} if state is None else state)
    check(answer, case)
    return answer


async def time_requests(
    app: ASGIApp, case: Case, state: dict[str, Any], requests: int, messages_each: int
) -> int:
    """Serve ``requests`` requests back to back; return the elapsed nanoseconds.

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
    gc.collect()
    start = time.perf_counter_ns()
    for _ in range(requests):
        scope = copy_scope()
        scope["state"] = copy_state()
        await app(scope, receive, send)
    elapsed = time.perf_counter_ns() - start
    if count != messages_each * requests:
        raise BenchError(
            f"sent {count} messages for {requests} requests; {messages_each} each when verified"
        )
    return elapsed


# -- running everything ------------------------------------------------------------


@dataclass
class Result:
    """Timings of one bench, in microseconds per request."""

    bench: Bench
    runs_us: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median_us(self) -> float:
        """The median over repeats."""
        return statistics.median(self.runs_us)

    @property
    def best_us(self) -> float:
        """The fastest repeat."""
        return min(self.runs_us)


@dataclass
class Report:
    """Everything one run measured, plus what it skipped and why."""

    requests: int
    repeat: int
    loop: str
    results: list[Result]
    skipped: dict[str, str]
    versions: dict[str, str]

    def baseline(self, case: str, framework: str) -> Result | None:
        """Return the idiomatic ``framework`` result for ``case`` if it was timed."""
        for result in self.results:
            bench_ = result.bench
            if (
                bench_.case == case
                and bench_.framework == framework
                and not bench_.variant
                and result.error is None
            ):
                return result
        return None

    def ratio(self, result: Result, framework: str, best: bool = False) -> float | None:
        """Return ``result``'s median over ``framework``'s median for the same case.

        With ``best``, the ratio of the fastest repeats instead (less exposed
        to other processes on a shared machine, which only ever add time).
        """
        base = self.baseline(result.bench.case, framework)
        if base is None or result.error is not None:
            return None
        if best:
            return result.best_us / base.best_us
        return result.median_us / base.median_us

    @property
    def failed(self) -> list[Result]:
        """Results whose app failed verification or timing."""
        return [result for result in self.results if result.error is not None]

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        rows = []
        for result in self.results:
            bench_ = result.bench
            row: dict[str, Any] = {
                "framework": bench_.framework,
                "variant": bench_.variant,
                "label": bench_.label,
                "case": bench_.case,
                "ok": result.error is None,
                "error": result.error,
            }
            if result.error is None:
                row.update(
                    median_us=round(result.median_us, 3),
                    best_us=round(result.best_us, 3),
                    runs_us=[round(value, 3) for value in result.runs_us],
                    ratio_to_raw=_round(self.ratio(result, "raw")),
                    ratio_to_oakling=_round(self.ratio(result, "oakling")),
                    ratio_to_raw_best=_round(self.ratio(result, "raw", best=True)),
                    ratio_to_oakling_best=_round(self.ratio(result, "oakling", best=True)),
                )
            rows.append(row)
        return {
            "requests": self.requests,
            "repeat": self.repeat,
            "loop": self.loop,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "versions": self.versions,
            "cases": {name: CASES[name].description for name in _cases_of(self.results)},
            "results": rows,
            "skipped": self.skipped,
        }

    def to_text(self) -> str:
        """Return the report as a table, one row per (case, framework)."""
        lines = [
            f"In-process ASGI overhead: {self.requests} requests x {self.repeat} repeats, "
            f"loop {self.loop}, Python {platform.python_version()}, {platform.machine()}",
            "versions: " + ", ".join(f"{name} {ver}" for name, ver in self.versions.items()),
            "",
            f"{'case':<11} {'framework':<28} {'median us':>10} {'best us':>9} "
            f"{'x raw':>7} {'x oakling':>10}",
        ]
        for case in _cases_of(self.results):
            for result in self.results:
                if result.bench.case != case:
                    continue
                if result.error is not None:
                    lines.append(f"{case:<11} {result.bench.label:<28} FAILED: {result.error}")
                    continue
                lines.append(
                    f"{case:<11} {result.bench.label:<28} {result.median_us:>10.2f} "
                    f"{result.best_us:>9.2f} {_fmt(self.ratio(result, 'raw')):>7} "
                    f"{_fmt(self.ratio(result, 'oakling')):>10}"
                )
            lines.append("")
        lines.append("Ratios are medians over the same case's raw ASGI / idiomatic oakling median.")
        for case in _cases_of(self.results):
            lines.append(f"  {case}: {CASES[case].description}")
        for name, reason in self.skipped.items():
            lines.append(f"skipped {name}: {reason}")
        return "\n".join(lines)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cases_of(results: Iterable[Result]) -> list[str]:
    seen = {result.bench.case for result in results}
    return [name for name in CASES if name in seen]


def available_frameworks(wanted: Iterable[str]) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Split ``wanted`` into importable frameworks and skipped ones.

    Returns:
        ``(frameworks, skipped, versions)``: names that import; ``{name:
        reason}`` for those that do not; ``{name: version}``.
    """
    ready: list[str] = []
    skipped: dict[str, str] = {}
    versions: dict[str, str] = {}
    for name in wanted:
        module, dist = FRAMEWORKS[name]
        if module is not None:
            try:
                importlib.import_module(module)
            except ImportError as ex:
                skipped[name] = f"not installed ({ex}); pip install -r bench/requirements.txt"
                continue
        if dist is not None:
            try:
                versions[name] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                versions[name] = "?"
        ready.append(name)
    return ready, skipped, versions


async def _run_async(
    benches: Sequence[Bench], requests: int, repeat: int, warmup: int
) -> list[Result]:
    prepared: list[tuple[Result, ASGIApp, Lifespan, int]] = []
    results: list[Result] = []
    for bench_ in benches:
        result = Result(bench_)
        results.append(result)
        case = CASES[bench_.case]
        try:
            app = bench_.factory()
            lifespan = Lifespan(app)
            await lifespan.startup()
        except Exception as ex:  # noqa: BLE001 - report it, time the others
            result.error = f"could not start: {type(ex).__name__}: {ex}"
            continue
        try:
            answer = await verify(app, case, lifespan.state)
            if warmup:
                await time_requests(app, case, lifespan.state, warmup, answer.messages)
        except Exception as ex:  # noqa: BLE001 - report it, time the others
            result.error = f"{type(ex).__name__}: {ex}"
            await lifespan.shutdown()
            continue
        prepared.append((result, app, lifespan, answer.messages))
    # NOTE: repeats are interleaved, and the order rotates, so that drift on a
    # shared machine (another process, CPU frequency) hits every framework.
    for round_index in range(repeat):
        shift = round_index % max(len(prepared), 1)
        for result, app, lifespan, messages in prepared[shift:] + prepared[:shift]:
            if result.error is not None:
                continue
            try:
                elapsed = await time_requests(
                    app, CASES[result.bench.case], lifespan.state, requests, messages
                )
            except Exception as ex:  # noqa: BLE001 - report it, time the others
                result.error = f"{type(ex).__name__}: {ex}"
                result.runs_us.clear()
                continue
            result.runs_us.append(elapsed / requests / 1000)
    for _, _, lifespan, _ in prepared:
        await lifespan.shutdown()
    return results


def _loop_factory(choice: str) -> tuple[Callable[[], asyncio.AbstractEventLoop], str]:
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            return uvloop.new_event_loop, f"uvloop {importlib.metadata.version('uvloop')}"
    return asyncio.new_event_loop, "asyncio"


def run(
    frameworks: Sequence[str] | None = None,
    cases: Sequence[str] | None = None,
    requests: int = 50_000,
    repeat: int = 5,
    loop: str = "auto",
    warmup: int | None = None,
    benches: Sequence[Bench] | None = None,
) -> Report:
    """Verify and time the registered benches; return the report.

    Args:
        frameworks: Names to include (default: all in :data:`FRAMEWORKS`).
        cases: Case names to include (default: all in :data:`CASES`).
        requests: Requests per timed run.
        repeat: Timed runs per bench (interleaved across benches).
        loop: ``auto`` (uvloop when installed), ``uvloop`` or ``asyncio``.
        warmup: Untimed requests per bench before timing (default
            ``min(requests, 2000)``).
        benches: Time these instead of the registry (for tests).

    Raises:
        ValueError: For an unknown framework or case name.
    """
    names = list(frameworks) if frameworks else list(FRAMEWORKS)
    wanted_cases = list(cases) if cases else list(CASES)
    for name in names:
        if name not in FRAMEWORKS:
            raise ValueError(f"unknown framework {name!r}; known: {', '.join(FRAMEWORKS)}")
    for name in wanted_cases:
        if name not in CASES:
            raise ValueError(f"unknown case {name!r}; known: {', '.join(CASES)}")
    ready, skipped, versions = available_frameworks(names)
    pool = BENCHES if benches is None else benches
    order = {name: index for index, name in enumerate(FRAMEWORKS)}
    selected = sorted(
        (bench_ for bench_ in pool if bench_.framework in ready and bench_.case in wanted_cases),
        key=lambda item: (list(CASES).index(item.case), order[item.framework]),
    )
    factory, loop_name = _loop_factory(loop)
    with asyncio.Runner(loop_factory=factory) as runner:
        results = runner.run(
            _run_async(
                selected, requests, repeat, min(requests, 2000) if warmup is None else warmup
            )
        )
    return Report(requests, repeat, loop_name, results, skipped, versions)


def main(argv: Sequence[str] | None = None) -> int:
    """Run from the command line; exit status 1 if any framework failed."""
    parser = argparse.ArgumentParser(
        description="Time each framework's ASGI app called in-process (no server).",
        epilog="cases: " + "; ".join(f"{case.name}: {case.description}" for case in CASES.values()),
    )
    parser.add_argument("--requests", type=int, default=50_000, help="requests per timed run")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per bench")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--frameworks", help=f"comma-separated subset of {','.join(FRAMEWORKS)}")
    parser.add_argument("--cases", help=f"comma-separated subset of {','.join(CASES)}")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    parser.add_argument("--warmup", type=int, help="untimed requests first (default 2000)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.repeat < 1:
        parser.error("--requests and --repeat must be at least 1")
    try:
        report = run(
            frameworks=args.frameworks.split(",") if args.frameworks else None,
            cases=args.cases.split(",") if args.cases else None,
            requests=args.requests,
            repeat=args.repeat,
            loop=args.loop,
            warmup=args.warmup,
        )
    except ValueError as ex:
        parser.error(str(ex))
    print(json.dumps(report.to_json(), indent=2) if args.json else report.to_text())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
