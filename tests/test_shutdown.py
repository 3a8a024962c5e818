"""SIGTERM with an open event stream: the server exits within the timeout."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

APP = """
import asyncio, os
from oakling import App
from oakling.responses import EventSourceResponse

app = App(secret_key="x" * 40)

@app.on_shutdown
def marker():
    open(os.environ["MARKER"], "w").write("done")

@app.get("/events")
async def events():
    async def forever():
        while True:
            yield "tick"
            await asyncio.sleep(0.2)
    return EventSourceResponse(forever())
"""


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("server did not start")


def test_sigterm_with_open_event_stream_exits_cleanly_under_uvicorn(tmp_path: Path) -> None:
    (tmp_path / "sseapp.py").write_text(textwrap.dedent(APP))
    marker = tmp_path / "marker"
    port = 8211
    env = {**os.environ, "MARKER": str(marker)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "sseapp:app",
            "--port",
            str(port),
            "--timeout-graceful-shutdown",
            "30",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port)
        client = socket.create_connection(("127.0.0.1", port))
        closer = client
        client.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while b"data: tick" not in head:
            head += client.recv(4096)
        server.send_signal(signal.SIGTERM)
        # Far under the 30 s graceful timeout: the stream ended at SIGTERM.
        # NOTE: uvicorn >= 0.29 re-raises the captured SIGTERM after its clean
        # shutdown, so "exited by SIGTERM" after the hooks ran is a clean exit.
        assert server.wait(timeout=5) in (0, -signal.SIGTERM)
        client.settimeout(2)
        rest = b""
        while chunk := client.recv(4096):
            rest += chunk
        assert rest.endswith(b"0\r\n\r\n") or rest == b""  # chunked body ended
        assert marker.read_text() == "done"
    finally:
        if "closer" in locals():
            closer.close()
        if server.poll() is None:
            server.kill()
