"""An SSE request driven by hand: the test clients buffer whole bodies."""

from __future__ import annotations

import asyncio
from typing import Any


class SSEStream:
    """``GET path`` on ``app`` as raw ASGI; events are parsed as they arrive.

    Args:
        app: The ASGI app (started by the test's client).
        path: The stream's path.
        headers: Extra request headers (``last-event-id``).
        blocked: When set, every ``send`` of the body waits for it: a client
            that stopped reading.
    """

    def __init__(
        self,
        app: Any,
        path: str,
        headers: dict[str, str] | None = None,
        blocked: asyncio.Event | None = None,
    ) -> None:
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()
        self.blocked = blocked
        raw = [(b"host", b"testserver"), (b"accept", b"text/event-stream")]
        raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": raw,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self._buffer = b""
        self.task = asyncio.ensure_future(app(scope, self.receive, self.send))

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if self.blocked is not None and message["type"] == "http.response.body":
            await self.blocked.wait()
        await self.sent.put(message)

    async def start(self) -> dict[str, Any]:
        """Return the ``http.response.start`` message."""
        message = await asyncio.wait_for(self.sent.get(), 5)
        assert message["type"] == "http.response.start"
        return message

    async def next_event(self, timeout: float = 5) -> dict[str, str]:
        """Return the next event's fields (``event``, ``id``, ``data``), skipping comments."""
        while True:
            if b"\n\n" in self._buffer:
                block, self._buffer = self._buffer.split(b"\n\n", 1)
                fields = {}
                for line in block.decode().split("\n"):
                    if line and not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        fields[name] = value
                if fields and set(fields) != {"retry"}:
                    return fields
                continue
            message = await asyncio.wait_for(self.sent.get(), timeout)
            if message.get("more_body") is False and not message.get("body"):
                raise EOFError("the stream ended")
            self._buffer += message.get("body", b"")

    async def close(self) -> None:
        self.gone.set()
        await asyncio.wait_for(self.task, 5)
