"""Broadcast fan-out: one message a second to many SSE subscribers over 2 workers.

For each framework, two single-worker uvicorn processes (the 2 workers, so
the subscribers split evenly between them) serve ``GET /events`` on one
shared Redis; a separate client process (asyncio, uvloop) opens the SSE
connections, alternating between the two, then publishes ``rate`` messages a
second for ``seconds`` seconds through the framework's own channel layer.
Each message carries ``time.time()`` at publication; latency is the receipt
time minus that timestamp, for every subscriber and every message (the
publisher and the subscribers share one clock, in one process).

- oakling: ``oakling.channels`` on Redis (``bench/fanout_apps/oakling_app.py``);
- Django Channels 4 + channels-redis, its recommended ``RedisChannelLayer``
  (``bench/fanout_apps/django_app.py``), and its ``RedisPubSubChannelLayer``
  (``django-pubsub``).

Memory per subscriber is the growth of the two server processes' RSS from
idle (after a warm-up stream on each) to all subscribers connected, divided by
the number of subscribers. Servers are pinned to core 0, the client process to
core 1 (``taskset``), as docs/performance.md prescribes.

Run from ``bench/.venv`` (the peers live there)::

    bench/.venv/bin/python -m bench.fanout --subscribers 1000 --seconds 60
    bench/.venv/bin/python -m bench.fanout --subscribers 200 --seconds 10   # a quick look

Redis: ``--redis`` (default ``OAKLING_TEST_REDIS_URL``, else db 0 on
127.0.0.1:6379). Ports: ``--port`` and the next five.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("oakling", "django", "django-pubsub")
PREFIX = "fanout-bench:"
REQUEST = b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
TS = b'"ts":'


def percentile(values: list[float], q: float) -> float | None:
    """Return the ``q`` quantile (0..1) of ``values`` (nearest rank), or None."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def server_command(framework: str, port: int) -> list[str]:
    target = (
        "bench.fanout_apps.oakling_app:app"
        if framework == "oakling"
        else "bench.fanout_apps.django_app:application"
    )
    return [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--backlog",
        "4096",
    ]


def pinned(command: list[str], core: int, pin: bool) -> list[str]:
    if pin and shutil.which("taskset"):
        return ["taskset", "-c", str(core), *command]
    return command


def server_env(framework: str, redis_url: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    if framework == "oakling":
        env.update(
            OAKLING_CHANNELS_URL=redis_url,
            OAKLING_CHANNELS_PREFIX=PREFIX,
            OAKLING_SECRET_KEY="fanout-benchmark-not-secret-0123456789abcdef",
            OAKLING_ALLOWED_HOSTS='["127.0.0.1"]',
        )
    else:
        env.update(
            FANOUT_REDIS_URL=redis_url,
            FANOUT_DJANGO_LAYER="pubsub" if framework == "django-pubsub" else "core",
        )
    return env


def rss_bytes(pid: int) -> int:
    """Return the resident set size of ``pid`` in bytes (from /proc)."""
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time of ``pid`` so far, in seconds (from /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def warm_up(port: int) -> None:
    """Open one stream and read its first bytes (imports and first-use caches)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(REQUEST)
        data = b""
        while b"\n\n" not in data.partition(b"\r\n\r\n")[2]:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError(f"port {port} closed the warm-up stream: {data!r}")
            data += chunk
    time.sleep(0.3)


def run_framework(framework: str, args: argparse.Namespace, port: int) -> dict[str, Any]:
    """Run one framework's round; return its figures."""
    ports = [port, port + 1]
    servers = [
        subprocess.Popen(
            pinned(server_command(framework, p), 0, args.pin),
            cwd=ROOT,
            env=server_env(framework, args.redis),
        )
        for p in ports
    ]
    client: subprocess.Popen[str] | None = None
    try:
        for p in ports:
            wait_port(p)
            warm_up(p)
        idle = [rss_bytes(server.pid) for server in servers]
        command = [
            sys.executable,
            "-m",
            "bench.fanout",
            "--client",
            framework,
            "--ports",
            *map(str, ports),
            "--subscribers",
            str(args.subscribers),
            "--seconds",
            str(args.seconds),
            "--rate",
            str(args.rate),
            "--redis",
            args.redis,
        ]
        client = subprocess.Popen(
            pinned(command, 1, args.pin),
            cwd=ROOT,
            env=server_env(framework, args.redis),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdout is not None
        connected: list[int] = []
        peak = list(idle)
        for line in client.stdout:
            if line.startswith("CONNECTED"):
                connected = [rss_bytes(server.pid) for server in servers]
                peak = list(connected)
                cpu_before = sum(cpu_seconds(server.pid) for server in servers)
            elif line.startswith("RESULT "):
                result = json.loads(line[len("RESULT ") :])
                cpu_after = sum(cpu_seconds(server.pid) for server in servers)
                break
            elif connected:
                peak = [max(a, rss_bytes(s.pid)) for a, s in zip(peak, servers, strict=True)]
        else:
            raise RuntimeError(f"{framework}: the client ended without a result")
        client.wait(30)
        per_subscriber = (sum(connected) - sum(idle)) / max(1, args.subscribers)
        deliveries = max(1, result["delivered"])
        result.update(
            server_cpu_us_per_delivery=round((cpu_after - cpu_before) * 1e6 / deliveries, 1),
            framework=framework,
            rss_idle_mib=round(sum(idle) / 2**20, 1),
            rss_connected_mib=round(sum(connected) / 2**20, 1),
            rss_peak_mib=round(sum(peak) / 2**20, 1),
            kib_per_subscriber=round(per_subscriber / 1024, 1),
        )
        return result
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait()
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


# -- the client process ---------------------------------------------------------------


class Subscriber(asyncio.Protocol):
    """One SSE client: records ``now - ts`` for each event it reads.

    # PERF: a protocol (the loop calls ``data_received``), not a task per
    # connection reading a StreamReader: the client process must cost as
    # little as possible per event, since its delay counts in the latency.
    """

    def __init__(self, latencies: list[tuple[float, float]], opened: Any) -> None:
        self.latencies = latencies
        self.opened = opened
        self.buffer = b""
        self.head = True
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer + data
        if self.head:
            head, sep, rest = buffer.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = buffer
                return
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"stream refused: {head[:200]!r}")
            if b"\n\n" not in rest:
                self.buffer = buffer
                return
            self.head = False
            self.opened()
            buffer = rest
        # PERF: the timestamp is sliced out, not JSON-decoded.
        while True:
            start = buffer.find(TS)
            if start < 0:
                break
            end = buffer.find(b"}", start)
            if end < 0:
                break
            self.latencies.append((float(buffer[start + 5 : end]), now))
            buffer = buffer[end + 1 :]
        self.buffer = buffer[-64:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


async def make_publisher(framework: str, redis_url: str) -> Any:
    """Return ``async publish(message)`` through the framework's channel layer."""
    if framework == "oakling":
        from oakling.channels import ChannelLayer

        layer = ChannelLayer(redis_url, prefix=PREFIX)
        await layer.start()

        async def publish(message: dict[str, Any]) -> None:
            await layer.publish("fanout", message)

        publish.close = layer.close  # type: ignore[attr-defined]
        return publish
    from channels.layers import get_channel_layer

    import bench.fanout_apps.django_app  # noqa: F401  (configures Django)

    channel_layer = get_channel_layer()

    async def group_send(message: dict[str, Any]) -> None:
        await channel_layer.group_send("fanout", {"type": "feed.message", "message": message})

    async def close() -> None:
        with contextlib.suppress(Exception):
            await channel_layer.flush()

    group_send.close = close  # type: ignore[attr-defined]
    return group_send


async def client_main(args: argparse.Namespace) -> dict[str, Any]:
    receipts: list[tuple[float, float]] = []  # (ts in the message, receipt time)
    ready = asyncio.Event()
    counts = [0]

    def opened() -> None:
        counts[0] += 1
        if counts[0] == args.subscribers:
            ready.set()

    loop = asyncio.get_running_loop()
    clients: list[Subscriber] = []
    connect_started = time.monotonic()
    for number in range(args.subscribers):
        port = args.ports[number % len(args.ports)]
        _, protocol = await loop.create_connection(
            lambda: Subscriber(receipts, opened), "127.0.0.1", port
        )
        clients.append(protocol)
        if number % 50 == 49:
            await asyncio.sleep(0.05)  # NOTE: no SYN flood of the accept queue
    try:
        await asyncio.wait_for(ready.wait(), 120)
    except TimeoutError:
        raise RuntimeError(f"only {counts[0]} of {args.subscribers} subscribed") from None
    connect_seconds = time.monotonic() - connect_started
    print("CONNECTED", flush=True)
    await asyncio.sleep(1.0)
    publish = await make_publisher(args.client, args.redis)
    interval = 1.0 / args.rate
    messages = int(args.seconds * args.rate)
    started = time.monotonic()
    cpu_started = time.process_time()
    publish_times = []
    for seq in range(messages):
        await asyncio.sleep(max(0.0, started + seq * interval - time.monotonic()))
        before = time.perf_counter()
        # NOTE: "ts" last: the clients slice it out up to the closing brace.
        await publish({"seq": seq, "ts": time.time()})
        publish_times.append(time.perf_counter() - before)
        print("TICK", flush=True)
    deadline = time.monotonic() + 5
    expected = messages * args.subscribers
    while len(receipts) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    client_cpu = time.process_time() - cpu_started
    await publish.close()
    alive = sum(1 for client in clients if not client.lost.done())
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    await asyncio.gather(*(client.lost for client in clients))

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    latencies = [received - sent for sent, received in receipts]
    by_message: dict[float, list[float]] = {}
    for sent, received in receipts:
        by_message.setdefault(sent, []).append(received - sent)
    per_message = [
        [ms(min(values)), ms(percentile(values, 0.5)), ms(max(values)), len(values)]
        for _, values in sorted(by_message.items())
    ]
    message_p99s = sorted(percentile(values, 0.99) or 0.0 for values in by_message.values())

    return {
        "subscribers": args.subscribers,
        "messages": messages,
        "delivered": len(latencies),
        "expected": expected,
        "still_connected": alive,
        "connect_seconds": round(connect_seconds, 2),
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "max_ms": ms(max(latencies) if latencies else None),
        "publish_p50_ms": ms(percentile(publish_times, 0.5)),
        "median_message_p99_ms": ms(percentile(message_p99s, 0.5)),
        "client_cpu_us_per_delivery": round(client_cpu * 1e6 / max(1, len(receipts)), 1),
        "per_message_min_p50_max_count": per_message,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument(
        "--redis",
        default=os.environ.get("OAKLING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    parser.add_argument("--port", type=int, default=16520)
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--ports", type=int, nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        with contextlib.suppress(ImportError):
            import uvloop

            uvloop.install()
        result = asyncio.run(client_main(args))
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    results = []
    for offset, framework in enumerate(args.frameworks.split(",")):
        if framework not in FRAMEWORKS:
            parser.error(f"unknown framework {framework!r}; choose from {FRAMEWORKS}")
        result = run_framework(framework, args, args.port + 2 * offset)
        results.append(result)
        brief = {k: v for k, v in result.items() if k != "per_message_min_p50_max_count"}
        print(json.dumps(brief), flush=True)
    print()
    print(
        f"{args.subscribers} SSE subscribers over 2 workers, {args.rate:g} msg/s for "
        f"{args.seconds:g} s, Redis {args.redis}"
    )
    print(
        "| framework | p50 ms | p99 ms | max ms | delivered | KiB/subscriber "
        "| RSS idle -> connected MiB | server CPU µs/delivery |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['framework']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | "
            f"{r['delivered']}/{r['expected']} | {r['kib_per_subscriber']} | "
            f"{r['rss_idle_mib']} -> {r['rss_connected_mib']} | "
            f"{r['server_cpu_us_per_delivery']} |"
        )
    by_name = {r["framework"]: r for r in results}
    if "oakling" in by_name and "django" in by_name and by_name["django"]["p99_ms"]:
        ratio = by_name["oakling"]["p99_ms"] / by_name["django"]["p99_ms"]
        print(f"\np99 oakling / Django Channels (RedisChannelLayer): {ratio:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
