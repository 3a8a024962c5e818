"""A PostgreSQL wire-protocol recorder: what a client sends, message by message.

A TCP proxy in front of PostgreSQL that parses the frontend side of the
protocol (PostgreSQL docs, "Frontend/Backend Protocol", message formats) and
records each message's type and, for simple queries (``Q``) and parses
(``P``), its SQL. So a test or a benchmark can tell how many round trips a
request cost and which of them were ``BEGIN`` and ``COMMIT``: asyncpg and
psycopg send those as simple queries, and every extended-protocol statement
ends with a ``Sync`` (``S``).

The proxy refuses SSL and GSS encryption (it answers ``N``), so the clients,
which prefer but do not require encryption by default, talk in the clear::

    with WireLog(("127.0.0.1", 5432)) as wire:
        url = f"postgresql://postgres@127.0.0.1:{wire.port}/test"
        ...
        wire.clear()
        ...  # one request
        print(wire.round_trips(), wire.queries())
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass
from types import TracebackType

__all__ = ["Message", "WireLog"]

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104
_CANCEL_REQUEST = 80877102


@dataclass(frozen=True)
class Message:
    """One frontend message: its type byte (``"Q"``, ``"P"``, ``"S"``...) and SQL."""

    kind: str
    sql: str | None = None


class WireLog:
    """Forward 127.0.0.1:``port`` to ``target``, recording the client's messages.

    Args:
        target: ``(host, port)`` of the PostgreSQL server.
        port: The port to listen on; 0 picks a free one (see :attr:`port`).

    Raises:
        OSError: When ``port`` cannot be bound.
    """

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self._listener = socket.socket()
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(("127.0.0.1", port))
            self._listener.listen(64)
        except OSError:
            self._listener.close()
            raise
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self._sockets: list[socket.socket] = []
        self._closed = False

    def __enter__(self) -> WireLog:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening and cut every forwarded connection."""
        self._closed = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    # -- reading the record ------------------------------------------------------

    def clear(self) -> None:
        """Forget what was recorded so far."""
        with self._lock:
            self._messages.clear()

    def messages(self) -> list[Message]:
        """Return the recorded messages, oldest first."""
        with self._lock:
            return list(self._messages)

    def queries(self) -> list[str]:
        """Return the SQL of the recorded simple queries (``BEGIN``, ``COMMIT``...)."""
        return [msg.sql or "" for msg in self.messages() if msg.kind == "Q"]

    def round_trips(self) -> int:
        """Return how many times the client waited for the server.

        Each simple query and each ``Sync`` ends a batch the server answers
        before the client goes on.
        """
        return sum(1 for msg in self.messages() if msg.kind in ("Q", "S"))

    def transaction_commands(self) -> list[str]:
        """Return the simple queries that begin or end a transaction, upper-cased."""
        words = ("BEGIN", "START", "COMMIT", "ROLLBACK", "END")
        found = []
        for sql in self.queries():
            text = sql.strip().rstrip(";").upper()
            if text.startswith(words):
                found.append(text)
        return found

    # -- forwarding ----------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._client_side, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _record(self, kind: str, body: bytes) -> None:
        sql = None
        if kind == "Q":
            sql = body.split(b"\0", 1)[0].decode("utf-8", "replace")
        elif kind == "P":
            parts = body.split(b"\0", 2)
            sql = parts[1].decode("utf-8", "replace") if len(parts) > 1 else ""
        with self._lock:
            self._messages.append(Message(kind, sql))

    def _client_side(self, client: socket.socket, upstream: socket.socket) -> None:
        buffer = b""
        started = False
        try:
            while True:
                chunk = client.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                while True:
                    if not started:
                        if len(buffer) < 8:
                            break
                        length, code = struct.unpack("!ii", buffer[:8])
                        if len(buffer) < length:
                            break
                        message, buffer = buffer[:length], buffer[length:]
                        if code in (_SSL_REQUEST, _GSS_REQUEST):
                            client.sendall(b"N")  # NOTE: no encryption: readable traffic
                            continue
                        upstream.sendall(message)
                        started = code != _CANCEL_REQUEST
                        continue
                    if len(buffer) < 5:
                        break
                    kind = chr(buffer[0])
                    (length,) = struct.unpack("!i", buffer[1:5])
                    if len(buffer) < 1 + length:
                        break
                    message, buffer = buffer[: 1 + length], buffer[1 + length :]
                    self._record(kind, message[5:])
                    upstream.sendall(message)
        except OSError:
            pass
        finally:
            _shut(client, upstream)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            _shut(source, sink)


def _shut(*sockets: socket.socket) -> None:
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
