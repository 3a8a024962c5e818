"""Faults: Redis killed, then PostgreSQL cut, under load, with a probe every 100 ms.

It starts the Tasks demo (uvicorn, 2 workers) on a fresh PostgreSQL database
made for the run and dropped after it, with sessions and auth throttles on a
PRIVATE ``redis-server`` it starts on ``--redis-port`` (6394; append-only file
fsynced on every write, in a temporary folder, so the sessions survive the
kill as they would on a production Redis), and with the database reached
through a small asyncio TCP proxy on ``--proxy-port`` in front of
``127.0.0.1:5432``. The shared services are never stopped.

Background users drive the demo as in ``soak.py`` while a probe, logged in,
sends ``POST /tasks`` (a page that needs the session and writes) every
``--probe-every`` seconds, each probe on its own without waiting for the
last one. Then, one after the other:

- ``redis``: the private Redis is killed (SIGKILL) for ``--outage`` seconds
  and restarted on the same port;
- ``postgres``: the proxy closes every open connection and stops listening
  for ``--outage`` seconds (connections are refused), then listens again.

Per fault it reports the statuses of the probe and of the load during the
fault, 500s (target 0: a 503 with Retry-After is the right answer; one without
it is counted apart, as ``503-without-Retry-After``), the time
from the service accepting connections again to the first successful probe
answer (target < 1 s), and the server's log lines meanwhile. At the end
acknowledged writes (probe and load) are checked in the database directly
(target 0 lost). The exit code is 1 when a target is missed.

    python bench/faults.py --outage 10

The JSON summary goes to stdout, the table to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from live import (  # noqa: E402 - the sibling helpers, found through HERE
    DEFAULT_POSTGRES,
    DemoServer,
    Recorder,
    User,
    WriteLog,
    check_writes,
    client_for,
    demo_env,
    emit,
    fresh_database,
    print_table,
    wait_port,
)

RECOVERY_TARGET = 1.0  # seconds from the service's return to the first success


# -- the private services ------------------------------------------------------------


class PrivateRedis:
    """A ``redis-server`` of this run's own on ``port``, killed and restarted at will.

    Args:
        port: Its port (127.0.0.1), which no other user's server may hold.
        folder: Where its append-only file lives.
    """

    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start it; return ``time.monotonic()`` when it first accepted a connection.

        Raises:
            RuntimeError: When it does not accept connections within 10 s.
        """
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.folder),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--protected-mode",
            "no",
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not wait_port(self.port, 10):
            raise RuntimeError(f"redis-server on port {self.port} did not start")
        return time.monotonic()

    def kill(self) -> None:
        """Kill it (SIGKILL: no goodbye to its clients) and wait for it to be gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Stop it for good."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class TcpProxy:
    """A TCP proxy on ``127.0.0.1:port`` to ``target``, in a thread with its own loop.

    :meth:`cut` closes every proxied connection and stops listening (new
    connections are refused); :meth:`restore` listens again.
    """

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port = port
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.transports: set[asyncio.WriteTransport] = set()
        self.connections = 0

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.transports |= {writer.transport, up_writer.transport}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.transports -= {writer.transport, up_writer.transport}

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for transport in list(self.transports):
            transport.abort()
        self.transports.clear()

    def _call(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def start(self) -> None:
        """Start the thread and listen."""
        self.thread.start()
        self._call(self._listen())

    def cut(self) -> None:
        """Close every connection and stop listening."""
        self._call(self._cut())

    def restore(self) -> float:
        """Listen again; return ``time.monotonic()`` once it accepts connections."""
        self._call(self._listen())
        return time.monotonic()

    def stop(self) -> None:
        """Cut, and end the thread."""
        with contextlib.suppress(Exception):
            self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# -- the probe --------------------------------------------------------------------------


@dataclass
class Probe:
    """One probe request: when it was sent and answered, and how."""

    sent: float
    done: float
    outcome: str  # a status ("303" is success: the task was stored), or an exception name
    ok: bool


@dataclass
class ProbeLog:
    """Every probe sent, for the fault windows to be read from."""

    probes: list[Probe] = field(default_factory=list)


async def probe_loop(
    user: User, every: float, stop: asyncio.Event, log: ProbeLog, timeout: float
) -> None:
    """Send ``POST /tasks`` every ``every`` s (each on its own task) until ``stop``."""
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        title = f"{user.name}-probe-{secrets.token_hex(4)}"
        sent = time.monotonic()
        try:
            response = await user.client.post(
                "/tasks", data={"csrf_token": user.csrf, "title": title}, timeout=timeout
            )
        except httpx.HTTPError as ex:
            log.probes.append(Probe(sent, time.monotonic(), type(ex).__name__, False))
            return
        location = response.headers.get("location", "")
        ok = response.status_code == 303 and "/auth/login" not in location
        outcome = str(response.status_code)
        if response.status_code == 303 and not ok:
            outcome = "303-to-login"
        elif response.status_code == 503 and "retry-after" not in response.headers:
            outcome = "503-without-Retry-After"
        if ok:
            user.expected.present[title] = False
        log.probes.append(Probe(sent, time.monotonic(), outcome, ok))

    next_at = time.monotonic()
    while not stop.is_set():
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
        next_at += every
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))
    if pending:
        await asyncio.wait(pending)


async def load_loop(user: User, stop: asyncio.Event, think: float) -> None:
    """The soak's mixed load, for one background user, until ``stop``."""
    while not stop.is_set():
        await user.list_api()
        await user.index()
        await user.create()
        await user.toggle()
        await user.static()
        if len(user.ids) > 30:
            await user.delete_oldest(30)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), think)


# -- one run ---------------------------------------------------------------------------------


@dataclass
class Fault:
    """What one fault did: its times (monotonic) and what was seen meanwhile."""

    name: str
    down: float = 0.0
    up: float = 0.0
    log_start: int = 0
    log_end: int = 0


def window_report(
    fault: Fault, probes: ProbeLog, recorder: Recorder, log_text: str, after: float
) -> dict[str, Any]:
    """Summarise one fault: statuses in its window, recovery time, the log meanwhile."""
    end = fault.up + after
    during = [p for p in probes.probes if fault.down <= p.done <= end]
    probe_statuses = Counter(p.outcome for p in during)
    load_statuses = Counter(o for t, _, o in recorder.samples if fault.down <= t <= end)
    first_ok = min((p.done for p in probes.probes if p.ok and p.done >= fault.up), default=None)
    first_ok_sent = min(
        (p.done for p in probes.probes if p.ok and p.sent >= fault.up), default=None
    )
    failed_after = [
        p.outcome for p in probes.probes if not p.ok and fault.up + RECOVERY_TARGET <= p.sent <= end
    ]

    def count_500s(counter: Counter[str]) -> int:
        return sum(
            n for s, n in counter.items() if s.isdigit() and s.startswith("5") and s != "503"
        )

    lines = log_text[fault.log_start : fault.log_end].splitlines()
    distinct: list[str] = []
    for line in lines:
        short = re.sub(r"\d+", "N", line)[:160]
        if short not in distinct and not line.startswith(" "):
            distinct.append(short)
    return {
        "outage_s": round(fault.up - fault.down, 2),
        "probes": len(during),
        "probe_statuses": dict(sorted(probe_statuses.items())),
        "load_statuses": dict(sorted(load_statuses.items())),
        "http_500s": count_500s(probe_statuses) + count_500s(load_statuses),
        "recovery_s": None if first_ok is None else round(first_ok - fault.up, 3),
        "recovery_sent_after_return_s": None
        if first_ok_sent is None
        else round(first_ok_sent - fault.up, 3),
        "probe_failures_1s_after_return": len(failed_after),
        "probe_failures_after_return_outcomes": dict(Counter(failed_after)),
        "log_lines": len(lines),
        "log_tracebacks": sum(1 for line in lines if line.startswith("Traceback")),
        "log_distinct": distinct[:12],
    }


async def drive(
    server: DemoServer,
    redis: PrivateRedis,
    proxy: TcpProxy,
    args: argparse.Namespace,
    recorder: Recorder,
    writes: WriteLog,
    probes: ProbeLog,
) -> list[Fault]:
    """Sign users up, run load and probe, and inflict each fault in turn."""
    run = os.urandom(3).hex()
    clients = [client_for(server.url, 2, args.timeout) for _ in range(args.users + 1)]
    users = [User(c, recorder, writes.new(), f"fault{run}u{i}") for i, c in enumerate(clients)]
    faults: list[Fault] = []
    try:
        for user in users:
            if not await user.signup():
                raise RuntimeError(f"sign-up failed: {recorder.summary()}")
            await user.index()
        recorder.keep_samples = True
        stop = asyncio.Event()
        prober, *loaders = users
        tasks = [asyncio.create_task(load_loop(u, stop, args.think)) for u in loaders]
        tasks.append(
            asyncio.create_task(probe_loop(prober, args.probe_every, stop, probes, args.timeout))
        )
        loop = asyncio.get_running_loop()
        await asyncio.sleep(args.before)
        for name in args.fault:
            fault = Fault(name, log_start=len(server.log_text()))
            fault.down = time.monotonic()
            if name == "redis":
                await loop.run_in_executor(None, redis.kill)
                await asyncio.sleep(args.outage)
                fault.up = await loop.run_in_executor(None, redis.start)
            else:
                await loop.run_in_executor(None, proxy.cut)
                await asyncio.sleep(args.outage)
                fault.up = await loop.run_in_executor(None, proxy.restore)
            await asyncio.sleep(args.after)
            fault.log_end = len(server.log_text())
            faults.append(fault)
        stop.set()
        await asyncio.gather(*tasks)
        return faults
    finally:
        for client in clients:
            await client.aclose()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--outage", type=float, default=10.0, help="seconds each fault lasts (10)")
    parser.add_argument(
        "--fault",
        action="append",
        choices=("redis", "postgres"),
        help="a fault to inflict, in order (repeatable; default: redis, then postgres)",
    )
    parser.add_argument("--before", type=float, default=5.0, help="s of load before (5)")
    parser.add_argument("--after", type=float, default=5.0, help="s after each fault (5)")
    parser.add_argument("--users", type=int, default=4, help="background users (4)")
    parser.add_argument("--think", type=float, default=0.1, help="pause between rounds, s (0.1)")
    parser.add_argument("--probe-every", type=float, default=0.1, help="probe period, s (0.1)")
    parser.add_argument("--timeout", type=float, default=10.0, help="client timeout, s (10)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (2)")
    parser.add_argument("--port", type=int, default=18121, help="the demo's port (18121)")
    parser.add_argument("--proxy-port", type=int, default=18122, help="PostgreSQL proxy (18122)")
    parser.add_argument("--redis-port", type=int, default=6394, help="private Redis port (6394)")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL URL (a server)")
    parser.add_argument("--log", type=Path, default=None, help="the server's log file")
    args = parser.parse_args(argv)
    args.fault = args.fault or ["redis", "postgres"]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("redis-server") is None:
        print("faults.py needs redis-server on PATH", file=sys.stderr)
        return 2
    if wait_port(args.redis_port, 0.2):
        print(f"port {args.redis_port} is taken: pick another --redis-port", file=sys.stderr)
        return 2
    recorder = Recorder()
    writes = WriteLog()
    probes = ProbeLog()
    prefix = (args.postgres.rsplit("/", 1)[-1] or "oakling") + "_faults"
    pg = urlsplit(args.postgres)
    with (
        tempfile.TemporaryDirectory(prefix="oakling-faults-") as folder,
        fresh_database(args.postgres, prefix) as database_url,
    ):
        redis = PrivateRedis(args.redis_port, Path(folder))
        proxy = TcpProxy(args.proxy_port, (pg.hostname or "127.0.0.1", pg.port or 5432))
        # NOTE: the app reaches the database through the proxy; the checks go direct.
        parts = urlsplit(database_url)
        netloc = parts.netloc.rpartition("@")[0] + "@" if "@" in parts.netloc else ""
        proxied = urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{args.proxy_port}"))
        redis_url = f"redis://127.0.0.1:{args.redis_port}/0"
        server = DemoServer(args.port, demo_env(proxied, redis_url), args.workers, args.log)
        try:
            redis.start()
            proxy.start()
            server.migrate()
            server.start()
            pids_before = server.worker_pids()
            faults = asyncio.run(drive(server, redis, proxy, args, recorder, writes, probes))
            pids_after = server.worker_pids()
            text = server.log_text()
        finally:
            exit_code = server.stop()
            proxy.stop()
            redis.stop()
        checked = check_writes(database_url, writes)
    reports = {f.name: window_report(f, probes, recorder, text, args.after) for f in faults}
    lost = checked["missing"] + checked["wrong_completed"] + checked["deleted_but_present"]
    targets: dict[str, bool] = {}
    for name, report in reports.items():
        targets[f"{name}_no_500"] = report["http_500s"] == 0
        targets[f"{name}_503s_have_retry_after"] = not any(
            "without" in status for status in (*report["probe_statuses"], *report["load_statuses"])
        )
        targets[f"{name}_recovery_under_1s"] = (
            report["recovery_s"] is not None and report["recovery_s"] < RECOVERY_TARGET
        )
    targets["zero_lost_writes"] = lost == 0
    targets["no_worker_crash"] = pids_before == pids_after
    stats = recorder.summary()
    all_probes = Counter(p.outcome for p in probes.probes)
    summary = {
        "script": "faults",
        "outage_s": args.outage,
        "workers": args.workers,
        "background_users": args.users,
        "probe_every_s": args.probe_every,
        "faults": reports,
        "probes": dict(sorted(all_probes.items())),
        "load": {k: stats[k] for k in ("requests", "statuses", "p50_ms", "p99_ms")},
        "writes": checked,
        "worker_pids": {"before": pids_before, "after": pids_after},
        "server_exit_code": exit_code,
        "server_log_tracebacks": text.count("Traceback"),
        "targets": targets,
        "passed": all(targets.values()),
    }
    emit(summary)
    rows: list[tuple[str, object]] = []
    for name, r in reports.items():
        rows += [
            (f"{name}: outage", f"{r['outage_s']} s"),
            (f"{name}: probe statuses", r["probe_statuses"]),
            (f"{name}: load statuses", r["load_statuses"]),
            (f"{name}: 500s", r["http_500s"]),
            (f"{name}: first success after return", f"{r['recovery_s']} s"),
            (f"{name}: probe failures >1 s after return", r["probe_failures_1s_after_return"]),
            (f"{name}: log lines / tracebacks", f"{r['log_lines']} / {r['log_tracebacks']}"),
        ]
    rows += [
        ("acknowledged creates", checked["acknowledged_creates"]),
        (
            "missing / wrong state / undeleted",
            f"{checked['missing']} / {checked['wrong_completed']} / "
            f"{checked['deleted_but_present']}",
        ),
        ("worker PIDs before / after", f"{pids_before} / {pids_after}"),
    ]
    rows.extend((f"target {name}", "ok" if ok else "MISSED") for name, ok in targets.items())
    print_table("faults: Redis killed, PostgreSQL cut, under load", rows)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
