"""Helpers of the rate-limit tests: a private redis-server, a settable client address."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from typing import Any

from tests.conftest import skip_or_fail


class PrivateRedis:
    """``redis-server`` on ``port``, without persistence, that a test kills and restarts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start the server; return the monotonic time it accepted a connection."""
        if shutil.which("redis-server") is None:
            skip_or_fail("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return time.monotonic()
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Kill the server (an outage, not a clean shutdown)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def peer_from_header(app: Any) -> Any:
    """Serve ``app`` with the client address taken from an ``X-Peer`` header.

    Stands in for what the server (or its proxy-headers option) decided the
    client address is; memory counters belong to one event loop, so the
    addresses an attack compares must share one TestClient.
    """

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-peer":
                    scope = {**scope, "client": (value.decode(), 4000)}
        await app(scope, receive, send)

    return asgi
