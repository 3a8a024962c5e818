"""Request-head limits for uvicorn's httptools parser, and a gunicorn worker.

uvicorn's default HTTP/1.1 parser (httptools) bounds neither the size of a
request's head (request line and header fields) nor the time a client takes
to send it: 100 headers of 1 MB each are buffered whole, and a half-sent
request holds its connection forever. The app cannot help, since it only
sees a request once the parser has buffered all of its headers. The bound
has to come from the server, so :class:`HttpToolsProtocol` is uvicorn's own
httptools protocol with three limits added, used by ``oakling run`` and
``oakling demo``:

- ``OAKLING_MAX_HEADER_BYTES`` (default 65536): bytes of a request head;
  beyond it the answer is 431 (RFC 6585 section 5) and the connection closes.
  Checked per read, so at most one socket read (256 KiB) past the limit is
  ever held;
- ``OAKLING_MAX_HEADERS`` (default 100, hyper's and granian's limit): header
  fields in one request; beyond it, 431;
- ``OAKLING_HEADER_TIMEOUT`` (default 10 seconds): time from the connection
  (or the first byte of a keep-alive request) to the end of the head; past
  it, 408 (RFC 9110 section 15.5.9) when part of a request came, else the
  connection just closes.

The values are read from the environment once per process, so they reach
uvicorn's and gunicorn's worker processes. With uvicorn directly::

    uvicorn --http oakling.server:HttpToolsProtocol myproject.app:app

and with gunicorn, :class:`UvicornWorker` (the ``uvicorn-worker`` package's
worker with this protocol, and uvicorn's graceful timeout set from
gunicorn's ``--graceful-timeout``)::

    gunicorn -k oakling.server.UvicornWorker myproject.app:app

The same bounds elsewhere: Node.js ``maxHeaderSize`` (16 KiB) and
``headersTimeout`` (60 s); nginx ``large_client_header_buffers`` (4 x 8 KiB)
and ``client_header_timeout`` (60 s); hyper, under granian, 100 fields.

NOTE: this subclasses uvicorn's ``httptools_impl`` module, which is not a
public API; ``tests/test_shutdown.py`` runs the limits against the installed
uvicorn, so an upgrade that breaks them fails there.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _UvicornHttpTools

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_BYTES",
    "HttpToolsProtocol",
    "HeadLimits",
    "head_limits",
]

DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_HEADERS = 100
DEFAULT_HEADER_TIMEOUT = 10.0


class HeadLimits:
    """The request-head limits of one process (read from the environment).

    Attributes:
        max_bytes: Bytes of request line plus header fields.
        max_count: Header fields per request.
        timeout: Seconds to receive a whole request head.
    """

    __slots__ = ("max_bytes", "max_count", "timeout")

    def __init__(self, max_bytes: int, max_count: int, timeout: float) -> None:
        self.max_bytes = max_bytes
        self.max_count = max_count
        self.timeout = timeout


_limits: HeadLimits | None = None


def head_limits(*, reload: bool = False) -> HeadLimits:
    """Return this process's limits, read once from the environment.

    The variables are ``OAKLING_MAX_HEADER_BYTES``, ``OAKLING_MAX_HEADERS``
    and ``OAKLING_HEADER_TIMEOUT`` (seconds); ``reload`` reads them again.

    Raises:
        ValueError: If a variable is not a positive number.
    """
    global _limits
    if _limits is None or reload:
        limits = HeadLimits(
            int(os.environ.get("OAKLING_MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES)),
            int(os.environ.get("OAKLING_MAX_HEADERS", DEFAULT_MAX_HEADERS)),
            float(os.environ.get("OAKLING_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT)),
        )
        if limits.max_bytes <= 0 or limits.max_count <= 0 or limits.timeout <= 0:
            raise ValueError("OAKLING_MAX_HEADER_BYTES/_MAX_HEADERS/_HEADER_TIMEOUT must be > 0")
        _limits = limits
    return _limits


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing an oversized head."""


class HttpToolsProtocol(_UvicornHttpTools):
    """uvicorn's httptools protocol with a bounded request head (size, count, time)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = head_limits()
        self._max_head_bytes = limits.max_bytes
        self._max_header_count = limits.max_count
        self._head_timeout = limits.timeout
        self._in_head = True
        self._head_bytes = 0
        self._head_started = 0.0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the connection; the client has the head timeout to send a request."""
        super().connection_made(transport)
        # SECURITY: a connection that never sends a byte is closed too.
        # PERF: one timer per connection, re-armed when it fires, instead of
        # one per request: a request only stores when its head began.
        self._head_started = self.loop.time()
        self._head_timer = self.loop.call_later(self._head_timeout, self._check_head)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and its head timer."""
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, refusing a head past the size limit."""
        if self._in_head:
            if not self._head_bytes:
                self._head_started = self.loop.time()
            self._head_bytes += len(data)
        # NOTE: _HeadTooLarge from on_headers_complete reaches uvicorn as a
        # parser error, answered by send_400_response below.
        super().data_received(data)
        if self._in_head and self._head_bytes > self._max_head_bytes:
            # SECURITY: the parser holds what it was fed; stop before the next read.
            self._refuse(431, "Request Header Fields Too Large")

    def send_400_response(self, msg: str) -> None:
        """Answer a parse error: 431 when it was the header count, else uvicorn's 400."""
        if self.headers is not None and len(self.headers) > self._max_header_count:
            self._refuse(431, "Request Header Fields Too Large")
            return
        super().send_400_response(msg)

    def on_headers_complete(self) -> None:
        """End the head, refusing one with too many fields, then run the request.

        Raises:
            _HeadTooLarge: Past ``OAKLING_MAX_HEADERS`` fields (the parser
                reports it as an error, answered with 431).
        """
        self._in_head = False
        self._head_bytes = 0
        if len(self.headers) > self._max_header_count:
            raise _HeadTooLarge
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """End the request; the next bytes on the connection are a new head."""
        self._in_head = True
        super().on_message_complete()

    def _check_head(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        delay = self._head_timeout
        # NOTE: a head counts once a byte of it came, or from the connection
        # when no request came yet; idle keep-alive is uvicorn's own timeout.
        if self._in_head and (self._head_bytes or self.cycle is None):
            remaining = self._head_started + self._head_timeout - self.loop.time()
            running = self.cycle is not None and not self.cycle.response_complete
            if remaining <= 0 and not running:
                if self._head_bytes:
                    self._refuse(408, "Request Timeout")
                else:
                    # NOTE: nothing of a request came (an idle or preconnected
                    # socket): close without an answer, as nginx does.
                    self.transport.close()
                return
            # NOTE: bytes pipelined behind a running response (a stream) wait for it.
            delay = self._head_timeout if running else max(remaining, 0.05)
        self._head_timer = self.loop.call_later(delay, self._check_head)

    def _refuse(self, status: int, reason: str) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self.transport.is_closing():
            return
        body = reason.encode("ascii")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, body, len(body), body)
        )
        self.transport.close()


try:
    # NOTE: uvicorn-worker ships no type information.
    from uvicorn_worker import UvicornWorker as _UvicornWorker  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - gunicorn support is optional
    pass
else:

    class UvicornWorker(_UvicornWorker):  # type: ignore[misc]
        """gunicorn worker: uvicorn with :class:`HttpToolsProtocol` and a graceful timeout.

        ``uvicorn-worker`` leaves uvicorn's ``timeout_graceful_shutdown``
        unset, so one slow response waits for gunicorn's SIGKILL after
        ``--graceful-timeout`` and the shutdown hooks never run. This worker
        gives uvicorn gunicorn's ``--graceful-timeout`` minus one second.
        """

        CONFIG_KWARGS: dict[str, Any] = {  # noqa: RUF012 - uvicorn-worker's own API
            "loop": "auto",
            "http": "oakling.server:HttpToolsProtocol",
        }

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.config.timeout_graceful_shutdown = max(self.cfg.graceful_timeout - 1, 1)

    __all__ += ["UvicornWorker"]
