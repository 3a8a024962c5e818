"""The throughput cost of bounding request heads, per server (wrk, interleaved).

Serves a plaintext and a JSON route (TFB rules: plaintext pipelined 16 deep)
with one worker pinned to core 0 and wrk on core 1, under:

- ``uvicorn-httptools``: uvicorn's default parser, no head limits;
- ``uvicorn-oakling``: ``--http oakling.server:HttpToolsProtocol`` (what
  ``oakling run`` uses: 64 KiB, 100 fields, 10 s);
- ``uvicorn-h11``: ``--http h11 --h11-max-incomplete-event-size 65536``;
- ``granian``: ``--interface asgi`` with its default limits.

Each round runs every server once (A/B interleaved, as the machine is
shared); the report gives the median requests/s over the rounds, and the
median CPU time the server process (and its workers) spent per request,
which other load on the machine disturbs far less than requests/s::

    .venv/bin/python -m bench.header_limits --rounds 5 --duration 5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

from bench.tfb.load import run_wrk

APP = """
from oakling import App
from oakling.responses import PlainTextResponse

app = App(secret_key="b" * 40)


@app.get("/plaintext")
def plaintext():
    return PlainTextResponse("Hello, World!")


@app.get("/json")
def json():
    return {"message": "Hello, World!"}
"""

BIN = Path(sys.executable).parent
SERVERS = {
    "uvicorn-httptools": [str(BIN / "uvicorn"), "hlapp:app", "--no-access-log"],
    "uvicorn-oakling": [
        str(BIN / "uvicorn"),
        "hlapp:app",
        "--no-access-log",
        "--http",
        "oakling.server:HttpToolsProtocol",
    ],
    "uvicorn-h11": [
        str(BIN / "uvicorn"),
        "hlapp:app",
        "--no-access-log",
        "--http",
        "h11",
        "--h11-max-incomplete-event-size",
        "65536",
    ],
    "granian": [str(BIN / "granian"), "--interface", "asgi", "--no-log", "hlapp:app"],
}


def _start(name: str, port: int, folder: Path) -> subprocess.Popen[bytes]:
    argv = ["taskset", "-c", "0", *SERVERS[name], "--port", str(port)]
    server = subprocess.Popen(
        argv, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"{name} did not start")


def _cpu_seconds(pid: int) -> float:
    """Return the user+system CPU seconds of ``pid`` and its live children."""
    process = psutil.Process(pid)
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = each.cpu_times()
            total += times.user + times.system
    return total


def main() -> None:
    """Run the rounds and print a Markdown table of median requests/s."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--port", type=int, default=18050)
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated")
    args = parser.parse_args()
    names = [name for name in args.servers.split(",") if name]
    results: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="oakling-hl-") as tmp:
        folder = Path(tmp)
        (folder / "hlapp.py").write_text(textwrap.dedent(APP))
        for number in range(args.rounds):
            for name in names:
                server = _start(name, args.port, folder)
                try:
                    for test in ("plaintext", "json"):
                        url = f"http://127.0.0.1:{args.port}/{test}"
                        run_wrk(url, test, duration=args.warmup, connections=args.connections)
                        cpu_before = _cpu_seconds(server.pid)
                        measured = run_wrk(
                            url, test, duration=args.duration, connections=args.connections
                        )
                        cpu_us = (_cpu_seconds(server.pid) - cpu_before) / measured.requests * 1e6
                        results.setdefault((name, test), []).append(measured.requests_per_s)
                        cpu.setdefault((name, test), []).append(cpu_us)
                        print(
                            f"round {number + 1} {name} {test}: "
                            f"{measured.requests_per_s:.0f} req/s, {cpu_us:.1f} us CPU/request"
                        )
                finally:
                    os.kill(server.pid, signal.SIGTERM)
                    server.wait(10)
    print(
        "\n| server | plaintext req/s | plaintext CPU us/req | json req/s | json CPU us/req |"
        "\n| --- | ---: | ---: | ---: | ---: |"
    )
    for name in names:
        cells = []
        for test in ("plaintext", "json"):
            cells.append(f"{statistics.median(results[(name, test)]):.0f}")
            cells.append(f"{statistics.median(cpu[(name, test)]):.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
