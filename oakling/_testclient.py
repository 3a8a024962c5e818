"""The machinery behind :mod:`oakling.testing`: scopes, loop thread, lifespan, WebSockets."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import math
import queue
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeAlias, TypeVar
from urllib.parse import unquote

import anyio
import httpx
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from oakling.exceptions import WebSocketDisconnect
from oakling.types import ASGIApp, Message, Scope

__all__ = ["WebSocketDenied", "WebSocketTestSession"]


_T = TypeVar("_T")
_Headers: TypeAlias = httpx.Headers | Mapping[str, str] | Sequence[tuple[str, str]]
_Cookies: TypeAlias = (
    httpx.Cookies | http.cookiejar.CookieJar | dict[str, str] | list[tuple[str, str]]
)

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_WEBSOCKET_SCHEMES = {"http": "ws", "https": "wss"}


class WebSocketDenied(WebSocketDisconnect):
    """The app answered the WebSocket handshake with an HTTP response.

    Raised on entering :meth:`TestClient.websocket_connect` when the app sends
    a denial response (the ASGI ``websocket.http.response`` extension), or
    returns or fails (with ``raise_server_exceptions=False``) before
    accepting: servers answer those with 403 and 500. The close ``code`` is
    1006, what a browser reports for a handshake that got no ``101``.

    Attributes:
        response: The HTTP response the app sent (status, headers, body).
    """

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(1006, f"HTTP {response.status_code}")
        self.response = response


@dataclass(frozen=True, slots=True)
class _Connection:
    """What every scope one client builds shares."""

    app: ASGIApp
    root_path: str
    client: tuple[str, int] | None
    raise_server_exceptions: bool
    state: dict[str, Any]  # filled by the lifespan startup, copied into each scope
    enforce_csrf_checks: bool = False


def _scope(request: httpx.Request, connection: _Connection, kind: str) -> dict[str, Any]:
    """Return the ASGI ``http`` or ``websocket`` scope for ``request``."""
    url = request.url
    scheme = url.scheme if kind == "http" else _WEBSOCKET_SCHEMES.get(url.scheme, url.scheme)
    raw_path = url.raw_path.partition(b"?")[0]
    scope: dict[str, Any] = {
        "type": kind,
        # NOTE: websocket 2.4: send() after the client closed raises an OSError.
        "asgi": {"version": "3.0", "spec_version": "2.3" if kind == "http" else "2.4"},
        "http_version": "1.1",
        "scheme": scheme,
        "server": (url.host, url.port or _DEFAULT_PORTS.get(scheme, 80)),
        "client": connection.client,
        "root_path": connection.root_path,
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": url.query,
        "headers": [(name.lower(), value) for name, value in request.headers.raw],
        "state": dict(connection.state),
        "oakling.raise_server_exceptions": connection.raise_server_exceptions,
        # NOTE: read by the csrf battery (the core imports no battery). No
        # server sets these keys, so real requests are always checked.
        "oakling.testing": True,
        "oakling.enforce_csrf_checks": connection.enforce_csrf_checks,
    }
    if kind == "http":
        scope["method"] = request.method
    return scope


async def _replay(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


class _HTTPCycle:
    """The receive and send callables of one request, collecting the response."""

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self._body = body
        self._lookahead: bytes | None = None
        self._body_started = False
        self._body_done = False
        self.complete = anyio.Event()
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []

    async def _next_chunk(self) -> bytes | None:
        async for chunk in self._body:
            if chunk:
                return bytes(chunk)
        return None

    async def receive(self) -> Message:
        if self._body_done:
            # NOTE: the client is gone once the response is complete, not before.
            await self.complete.wait()
            return {"type": "http.disconnect"}
        if not self._body_started:
            self._body_started = True
            self._lookahead = await self._next_chunk()
        chunk = self._lookahead
        self._lookahead = None if chunk is None else await self._next_chunk()
        self._body_done = self._lookahead is None
        return {"type": "http.request", "body": chunk or b"", "more_body": not self._body_done}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("http.response.start sent twice")
            self.status = int(message["status"])
            self.headers = [(bytes(key), bytes(value)) for key, value in message.get("headers", ())]
        elif kind == "http.response.body":
            if self.status is None:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.complete.is_set():
                raise RuntimeError("http.response.body sent after the response was complete")
            self.chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                self.complete.set()


async def _exchange(
    connection: _Connection, request: httpx.Request, body: AsyncIterator[bytes]
) -> httpx.Response:
    """Send ``request`` (its body from ``body``) through the app.

    Returns:
        The response, its body read whole. With ``raise_server_exceptions``
        off, an app that fails (or returns) before starting a response gives
        a 500 with an empty body, one that fails later what it had sent.

    Raises:
        Exception: Whatever the app raised, if ``raise_server_exceptions``.
        RuntimeError: If the app returned without starting a response and
            ``raise_server_exceptions`` is on.
    """
    cycle = _HTTPCycle(body)
    try:
        await connection.app(_scope(request, connection, "http"), cycle.receive, cycle.send)
    except Exception:
        if connection.raise_server_exceptions:
            raise
    finally:
        cycle.complete.set()
        aclose: Callable[[], Awaitable[object]] | None = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()
    if cycle.status is None:
        if connection.raise_server_exceptions:
            raise RuntimeError("the ASGI app returned without sending http.response.start")
        cycle.status, cycle.headers, cycle.chunks = 500, [(b"content-length", b"0")], []
    return httpx.Response(
        cycle.status,
        headers=cycle.headers,
        stream=httpx.ByteStream(b"".join(cycle.chunks)),
        request=request,
        extensions={"http_version": b"HTTP/1.1"},
    )


class _Lifespan:
    """Drive the ASGI lifespan protocol: startup on enter, shutdown on exit.

    An app that raises or returns before reading ``lifespan.startup``, or
    answers it with a message that isn't ``lifespan.*``, is taken not to
    support lifespan and runs without it (uvicorn's ``lifespan="auto"``). One
    that raises after reading it without answering has a broken startup: that
    exception is re-raised. Enter and exit must happen in the same task.
    """

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self._app = app
        self._scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": state,
        }
        self._task_group: TaskGroup | None = None
        self._streams: list[MemoryObjectSendStream[Message] | MemoryObjectReceiveStream[Message]]
        self._streams = []
        self._error: Exception | None = None
        self._read_startup = False
        self._running = False

    async def __aenter__(self) -> None:
        self._to_app, self._app_inbox = anyio.create_memory_object_stream[Message](math.inf)
        self._app_outbox, self._from_app = anyio.create_memory_object_stream[Message](math.inf)
        self._streams = [self._to_app, self._app_inbox, self._app_outbox, self._from_app]
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            task_group.start_soon(self._run_app)
            await self._to_app.send({"type": "lifespan.startup"})
            reply = await self._reply()
        except BaseException:
            await self._close(cancel=True)
            raise
        if reply is None or not str(reply["type"]).startswith("lifespan."):
            # NOTE: an app not speaking lifespan runs without it, as under
            # uvicorn's lifespan="auto"; a crash after reading startup is real.
            await self._close(cancel=reply is not None)
            if reply is None and self._error is not None and self._read_startup:
                raise self._error
            return
        if reply["type"] == "lifespan.startup.complete":
            self._running = True
            return
        await self._close(cancel=True)
        if reply["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"lifespan startup failed: {reply.get('message', '')}")
        raise RuntimeError(f"unexpected lifespan message during startup: {reply['type']!r}")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._running:
            return
        self._running = False
        if isinstance(exc_value, anyio.get_cancelled_exc_class()):
            await self._close(cancel=True)
            return
        try:
            await self._to_app.send({"type": "lifespan.shutdown"})
            reply = await self._reply()
        except BaseException:
            await self._close(cancel=True)
            raise
        complete = reply is None or reply["type"] == "lifespan.shutdown.complete"
        await self._close(cancel=not complete)
        if reply is not None and reply["type"] == "lifespan.shutdown.failed":
            raise RuntimeError(f"lifespan shutdown failed: {reply.get('message', '')}")
        if not complete:
            assert reply is not None
            raise RuntimeError(f"unexpected lifespan message during shutdown: {reply['type']!r}")
        if self._error is not None:
            raise self._error

    async def _run_app(self) -> None:
        async with self._app_outbox:  # closing it tells _reply the app has returned
            try:
                await self._app(self._scope, self._receive, self._app_outbox.send)
            except Exception as ex:
                self._error = ex

    async def _receive(self) -> Message:
        self._read_startup = True
        return await self._app_inbox.receive()

    async def _reply(self) -> Message | None:
        try:
            return await self._from_app.receive()
        except anyio.EndOfStream:
            return None

    async def _close(self, *, cancel: bool) -> None:
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return
        if cancel:
            task_group.cancel_scope.cancel()
        try:
            await task_group.__aexit__(None, None, None)
        finally:
            for stream in self._streams:
                stream.close()


def _finish_driver_threads(timeout: float = 0.5) -> None:
    """Let aiosqlite's worker threads with queued work finish while the loop runs.

    NOTE: aiosqlite 0.22 queues the stop of a connection that failed to
    open without awaiting it (omnilib/aiosqlite#241); its thread then posts
    to the loop, and dies with "Event loop is closed" when the client has
    already closed it. Idle threads (an open pooled connection) are left
    alone; the wait is bounded by ``timeout`` seconds in all.
    """
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if not thread.name.endswith("(_connection_worker_thread)"):
            continue
        args = getattr(thread, "_args", ())
        work = args[0] if args else None
        if isinstance(work, queue.SimpleQueue) and work.qsize() > 0:
            thread.join(max(0.0, deadline - time.monotonic()))


class _LoopThread:
    """An asyncio event loop in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def _serve(self, ready: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            ready.set()
            await self._stopping.wait()

        try:
            # NOTE: asyncio.Runner cancels leftover tasks and closes the loop on exit.
            with asyncio.Runner() as runner:
                runner.run(main())
        finally:
            ready.set()

    def loop(self) -> asyncio.AbstractEventLoop:
        """Return the running loop, starting the thread on first use.

        Raises:
            RuntimeError: If the thread was stopped (the client is closed).
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the test client is closed")
            if self._thread is None:
                ready = threading.Event()
                self._thread = threading.Thread(
                    target=self._serve, args=(ready,), name="oakling-testclient", daemon=True
                )
                self._thread.start()
                ready.wait()
            assert self._loop is not None
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, _T]) -> Future[_T]:
        """Schedule ``coro`` on the loop and return its thread-safe future."""
        try:
            loop = self.loop()
        except RuntimeError:
            coro.close()
            raise
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and return its result (or raise its error)."""
        return self.submit(coro).result()

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Call ``callback(*args)`` in the loop's thread."""
        self.loop().call_soon_threadsafe(callback, *args)

    def stop(self) -> None:
        """Stop the loop and join the thread (idempotent)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._closed = True
        if thread is None:
            return
        assert self._loop is not None and self._stopping is not None
        if thread is not threading.current_thread():
            _finish_driver_threads()
        self._loop.call_soon_threadsafe(self._stopping.set)
        if thread is not threading.current_thread():
            thread.join()


class _SyncTransport(httpx.BaseTransport):
    """Sends each request through the app on the client's loop thread."""

    def __init__(self, connection: _Connection) -> None:
        self.connection = connection
        self.loop_thread = _LoopThread()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.SyncByteStream):
            raise TypeError("TestClient needs a sync request body; use AsyncClient for async ones")
        # NOTE: the body is read here, in the caller's thread; the app still
        # gets it chunk by chunk.
        chunks = [bytes(chunk) for chunk in request.stream]
        return self.loop_thread.run(_exchange(self.connection, request, _replay(chunks)))

    def close(self) -> None:
        self.loop_thread.stop()


class _AsyncTransport(httpx.AsyncBaseTransport):
    """Sends each request through the app on the caller's event loop."""

    def __init__(self, connection: _Connection) -> None:
        self.connection = connection

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise TypeError("AsyncClient needs an async request body")
        return await _exchange(self.connection, request, aiter(request.stream))


async def _hold_lifespan(
    connection: _Connection,
    started: Future[None],
    stop: Future[None],
) -> None:
    async with _Lifespan(connection.app, connection.state):
        started.set_result(None)
        await asyncio.wrap_future(stop)


def _default_headers(headers: _Headers | None) -> httpx.Headers:
    merged = httpx.Headers({"user-agent": "testclient"})
    merged.update(httpx.Headers(headers))  # NOTE: the user's user-agent wins
    return merged


@dataclass(frozen=True, slots=True)
class _AppFinished:
    """Put on a session's queue when the app returns or raises."""

    error: Exception | None


class _ClientGone(OSError):
    """Raised in the app by ``send()`` after the test client closed (ASGI websocket 2.4)."""


class WebSocketTestSession:
    """A WebSocket connection to the app, made by :meth:`TestClient.websocket_connect`.

    Entering it runs the handshake. It raises :class:`WebSocketDisconnect`
    with the app's code and reason if the app closes before accepting, and
    :class:`WebSocketDenied` if it answers with an HTTP response instead.
    Once the app sends ``websocket.close``, ``receive_*`` raise
    :class:`WebSocketDisconnect`; an app that returns without closing counts
    as a close with 1000.

    An exception in the app is re-raised here, on the next receive or on
    exit, unless the client was built with ``raise_server_exceptions=False``
    (then the test sees a close with 1011, or a 500 denial before accepting).
    Exit closes the connection (``websocket.disconnect`` with 1000) and
    waits for the app to return. An app's ``send()`` after that raises an
    OSError, which is not re-raised, nor is a WebSocketDisconnect from it.

    Attributes:
        accepted_subprotocol: The subprotocol the app chose, or None.
        extra_headers: Header pairs the app sent with ``websocket.accept``.
        timeout: Seconds a receive (and exit) waits for the app.
    """

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        request: httpx.Request,
        loop_thread: _LoopThread,
        *,
        raise_server_exceptions: bool,
        timeout: float,
    ) -> None:
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[bytes, bytes]] = []
        self.timeout = timeout
        self._app = app
        self._scope = scope
        self._request = request
        self._loop_thread = loop_thread
        self._raise = raise_server_exceptions
        self._from_app: queue.Queue[Message | _AppFinished] = queue.Queue()
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._future: Future[None] | None = None
        self._client_closed = False
        self._close_message: Message | None = None
        self._finished: _AppFinished | None = None
        self._error_reported = False

    # -- the app's side (runs on the loop thread) ------------------------------

    async def _run_app(self) -> None:
        error: Exception | None = None
        try:
            await self._app(self._scope, self._app_receive, self._app_send)
        except Exception as ex:
            error = ex
        finally:
            self._from_app.put(_AppFinished(error))

    async def _app_receive(self) -> Message:
        message = await self._to_app.get()
        if message["type"] == "websocket.disconnect":
            # NOTE: a disconnect is final; an app asking again gets it again.
            self._to_app.put_nowait(message)
        return message

    async def _app_send(self, message: Message) -> None:
        if self._client_closed:
            raise _ClientGone("the test client has closed the WebSocket")
        self._from_app.put(message)

    # -- the test's side -------------------------------------------------------

    def __enter__(self) -> Self:
        if self._future is not None:
            raise RuntimeError("a WebSocketTestSession can be entered once")
        self._future = self._loop_thread.submit(self._run_app())
        self._loop_thread.call_soon(self._to_app.put_nowait, {"type": "websocket.connect"})
        try:
            self._handshake()
        except BaseException:
            self._finish()  # an app error raised here takes precedence
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._finish()

    def _next(self, timeout: float | None = None) -> Message | _AppFinished:
        wait = self.timeout if timeout is None else timeout
        try:
            return self._from_app.get(timeout=wait)
        except queue.Empty:
            raise TimeoutError(f"no message from the app within {wait} s") from None

    def _raise_app_error(self, finished: _AppFinished) -> None:
        error = finished.error
        if error is None or not self._raise or self._error_reported:
            return
        if self._client_closed and isinstance(error, _ClientGone | WebSocketDisconnect):
            return
        self._error_reported = True
        raise error

    def _handshake(self) -> None:
        item = self._next()
        if isinstance(item, _AppFinished):
            self._finished = item
            self._raise_app_error(item)
            status = 500 if item.error is not None else 403
            raise WebSocketDenied(httpx.Response(status, request=self._request))
        kind = item["type"]
        if kind == "websocket.accept":
            self.accepted_subprotocol = item.get("subprotocol")
            self.extra_headers = [(bytes(key), bytes(val)) for key, val in item.get("headers", ())]
            return
        if kind == "websocket.close":
            self._close_message = item
            raise WebSocketDisconnect(item.get("code", 1000), item.get("reason"))
        if kind == "websocket.http.response.start":
            raise WebSocketDenied(self._read_denial(item))
        raise RuntimeError(f"expected websocket.accept from the app, got {kind!r}")

    def _read_denial(self, start: Message) -> httpx.Response:
        chunks: list[bytes] = []
        while True:
            item = self._next()
            if isinstance(item, _AppFinished):
                self._finished = item
                self._raise_app_error(item)
                break
            if item["type"] != "websocket.http.response.body":
                raise RuntimeError(f"expected websocket.http.response.body, got {item['type']!r}")
            chunks.append(bytes(item.get("body", b"")))
            if not item.get("more_body", False):
                break
        return httpx.Response(
            int(start["status"]),
            headers=list(start.get("headers", [])),
            content=b"".join(chunks),
            request=self._request,
        )

    def _finish(self) -> None:
        """Close from the client, wait for the app to return, raise its error."""
        self.close()
        deadline = time.monotonic() + self.timeout
        while self._finished is None:
            try:
                item = self._from_app.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                assert self._future is not None
                self._future.cancel()
                raise TimeoutError(
                    f"the app did not return within {self.timeout} s of the client closing"
                    " the WebSocket; it was cancelled"
                ) from None
            if isinstance(item, _AppFinished):
                self._finished = item
        self._raise_app_error(self._finished)

    def send(self, message: Message) -> None:
        """Send a raw ASGI message to the app (``websocket.receive`` usually).

        Raises:
            RuntimeError: If the client has closed the connection.
        """
        if self._client_closed:
            raise RuntimeError("the WebSocket is closed; send() called after close()")
        self._loop_thread.call_soon(self._to_app.put_nowait, message)

    def send_text(self, data: str) -> None:
        """Send a text message."""
        self.send({"type": "websocket.receive", "text": data})

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        self.send({"type": "websocket.receive", "bytes": data})

    def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` as JSON in a text (``mode="text"``) or binary message.

        Raises:
            ValueError: If ``mode`` is neither ``"text"`` nor ``"binary"``.
        """
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            self.send_text(text)
        elif mode == "binary":
            self.send_bytes(text.encode())
        else:
            raise ValueError(f"mode must be 'text' or 'binary', not {mode!r}")

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close from the client: the app receives ``websocket.disconnect`` (idempotent)."""
        if self._client_closed:
            return
        self._client_closed = True
        self._loop_thread.call_soon(
            self._to_app.put_nowait,
            {"type": "websocket.disconnect", "code": code, "reason": reason or ""},
        )

    def receive(self, timeout: float | None = None) -> Message:
        """Return the app's next raw message (``websocket.send`` or ``.close``).

        After the close, every call returns that ``websocket.close`` message.

        Args:
            timeout: Seconds to wait; defaults to the session's ``timeout``.

        Raises:
            TimeoutError: If the app sends nothing in time.
            Exception: The app's own exception, if it raised one.
        """
        if self._close_message is not None:
            return self._close_message
        item = self._next(timeout)
        if isinstance(item, _AppFinished):
            self._finished = item
            self._raise_app_error(item)
            code = 1011 if item.error is not None else 1000
            self._close_message = {"type": "websocket.close", "code": code, "reason": ""}
            return self._close_message
        if item["type"] == "websocket.close":
            self._close_message = item
        return item

    def _receive_data(self) -> Message:
        message = self.receive()
        if message["type"] == "websocket.close":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        if message["type"] != "websocket.send":
            raise RuntimeError(f"unexpected message from the app: {message['type']!r}")
        return message

    def receive_text(self) -> str:
        """Return the next text message.

        Raises:
            WebSocketDisconnect: If the app closed, with its code and reason.
            TypeError: If the message is binary.
            TimeoutError: If the app sends nothing within ``timeout``.
        """
        text = self._receive_data().get("text")
        if text is None:
            raise TypeError("expected a text message, got a binary one")
        return str(text)

    def receive_bytes(self) -> bytes:
        """Return the next binary message.

        Raises:
            WebSocketDisconnect: If the app closed, with its code and reason.
            TypeError: If the message is text.
            TimeoutError: If the app sends nothing within ``timeout``.
        """
        data = self._receive_data().get("bytes")
        if data is None:
            raise TypeError("expected a binary message, got a text one")
        return bytes(data)

    def receive_json(self, mode: str = "text") -> Any:
        """Return the next text (or, with ``mode="binary"``, binary) message as JSON.

        Raises:
            WebSocketDisconnect: If the app closed, with its code and reason.
            TypeError: If the message is not of the kind ``mode`` names.
            ValueError: On malformed JSON, or a ``mode`` other than
                ``"text"`` and ``"binary"``.
        """
        if mode not in ("text", "binary"):
            raise ValueError(f"mode must be 'text' or 'binary', not {mode!r}")
        if mode == "text":
            return json.loads(self.receive_text())
        return json.loads(self.receive_bytes())


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# NOTE: a hidden form field named like a CSRF token (csrf_token, csrfmiddlewaretoken),
# either attribute order, or a <meta name="csrf-token" content="..."> tag.
_TOKEN_PATTERNS = (
    re.compile(rb'name="(?:[\w-]*csrf[\w-]*)"\s+value="([^"]+)"', re.I),
    re.compile(rb'value="([^"]+)"\s+name="(?:[\w-]*csrf[\w-]*)"', re.I),
    re.compile(rb'<meta\s+name="csrf-token"\s+content="([^"]+)"', re.I),
)
_TOKEN_HEADERS = (b"x-csrftoken", b"x-csrf-token")


class CSRFTokenFiller:
    """Send the CSRF token of the last page, as a browser submitting its form would.

    Used by the test clients with ``enforce_csrf_checks=True`` and
    ``fill_csrf_token=True``: each HTML response's token (from a form's
    hidden field or a ``csrf-token`` meta tag) is kept, and requests with
    an unsafe method that carry no token header get it in ``X-CSRF-Token``
    (a header the csrf battery always reads).
    """

    __slots__ = ("token",)

    def __init__(self) -> None:
        self.token: str | None = None

    def before(self, request: httpx.Request) -> None:
        """Add the kept token to ``request`` when it is unsafe and has none."""
        if self.token is None or request.method in _SAFE_METHODS:
            return
        names = {name.lower() for name, _ in request.headers.raw}
        if not names.intersection(_TOKEN_HEADERS):
            request.headers["X-CSRF-Token"] = self.token

    def after(self, response: httpx.Response) -> None:
        """Keep the token of ``response`` if it is an HTML page carrying one."""
        if "html" not in response.headers.get("content-type", ""):
            return
        body = response.content
        for pattern in _TOKEN_PATTERNS:
            found = pattern.search(body)
            if found is not None:
                self.token = found.group(1).decode("latin-1")
                return
