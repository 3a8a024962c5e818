"""A Redis that hangs: a TCP proxy that stops answering, and a redis-server to SIGSTOP.

Fault tests of the cache and the rate limiter put :class:`HangingProxy` in
front of the shared Redis and switch it between three modes:

- ``"forward"``: a plain TCP forwarder;
- ``"blackhole"``: connections are accepted and what clients send is read
  and dropped; nothing is ever answered (a Redis hung in a long script, a
  network partition that drops packets, a SIGSTOPped server);
- ``"slow"``: every command is forwarded ``delay`` seconds late.

:class:`StoppedRedis` runs a private ``redis-server`` that a test freezes
with SIGSTOP and thaws with SIGCONT (it answers the queued commands then).
Both listen on ports of this suite's private range (``OAKLING_TEST_PRIVATE_PORTS``,
``7400-7499`` by default), never on the shared Redis's own port, which no
test stops.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from typing import Literal
from urllib.parse import urlsplit

from tests.conftest import PrivateRedis
from tests.db.db_support import TcpProxy

__all__ = ["HangingProxy", "StoppedRedis", "private_port"]

Mode = Literal["forward", "blackhole", "slow"]


def private_port(offset: int) -> int:
    """Return port ``offset`` of the private range (``OAKLING_TEST_PRIVATE_PORTS``)."""
    first, _, last = os.environ.get("OAKLING_TEST_PRIVATE_PORTS", "7400-7499").partition("-")
    port = int(first) + offset
    if port > int(last or first):
        raise ValueError(f"port offset {offset} is outside the private range")
    return port


class HangingProxy(TcpProxy):
    """A TCP proxy to a Redis URL that a test switches to hang (see the module doc).

    Args:
        target_url: The Redis to forward to (``redis://host:port/db``).
        port: The port to listen on (127.0.0.1).
    """

    def __init__(self, target_url: str, port: int) -> None:
        parts = urlsplit(target_url)
        super().__init__((parts.hostname or "127.0.0.1", parts.port or 6379), port)
        db = parts.path or "/0"
        self.url = f"redis://127.0.0.1:{port}{db}"
        self.mode: Mode = "forward"
        self.delay = 0.0

    def hang(self) -> None:
        """Accept and read, never answer, on old and new connections alike."""
        self.mode = "blackhole"

    def slow(self, delay: float) -> None:
        """Forward every command ``delay`` seconds late."""
        self.delay = delay
        self.mode = "slow"

    def heal(self) -> None:
        """Forward again (connections that lost a command stay out of step: clients drop them)."""
        self.mode = "forward"

    def _serve(self, client: socket.socket, upstream: socket.socket) -> None:
        threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while chunk := client.recv(65536):
                if self.mode == "blackhole":
                    continue  # NOTE: read and dropped: the command is never answered
                if self.mode == "slow":
                    time.sleep(self.delay)
                upstream.sendall(chunk)
        except OSError:
            pass
        finally:
            _shut(client, upstream)


def _shut(*sockets: socket.socket) -> None:
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class StoppedRedis(PrivateRedis):
    """A private ``redis-server`` a test freezes (SIGSTOP) and thaws (SIGCONT)."""

    def freeze(self) -> None:
        """Stop the process: connections are accepted by the kernel, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> float:
        """Let the process run again; return the monotonic time it was resumed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        return time.monotonic()

    def stop(self) -> None:
        """Thaw (a stopped process ignores SIGKILL's cleanup until resumed) and kill."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
        super().stop()
