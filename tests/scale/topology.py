"""The scaled Tasks demo, started for a test: two hosts, a Celery worker, HAProxy.

Each process is started by ``examples/tasks/deploy/scaled.sh``, the script the
docs tell people to use (docs/deployment.md, "Scaling out"), in a session of
its own (``start_new_session``), so that stopping a "host" stops its uvicorn
master and both workers, as losing the machine would, and the teardown can
end every process of the group even when a test failed half way.

The services are the real ones of the machine, each used so that runs never
see each other's data: a PostgreSQL database made for the run (dropped
afterwards), key prefixes of the run on the test Redis, and a Celery queue of
the run on the test RabbitMQ (deleted afterwards).
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests.conftest import amqp_problem, database_problem, redis_problem, skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "tasks" / "deploy" / "scaled.sh"

POSTGRES_URL = os.environ.get(
    "OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("OAKLING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("OAKLING_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
#: The private ports of the scale test: HAProxy, host A, host B, HAProxy's stats.
BASE_PORT = int(os.environ.get("OAKLING_TEST_SCALE_PORT", "7100"))
#: Failed logins per account the test's deployment lets through (LOGIN_THROTTLE_ACCOUNT).
LOGIN_LIMIT = 4


@dataclass
class Service:
    """One process group started by ``scaled.sh``, and its log."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the group, then SIGKILL what is left after ``timeout`` seconds."""
        self.signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        # NOTE: the whole group, also when the leader is gone: uvicorn's
        # workers outlive a master killed with SIGKILL.
        self.signal_group(signal.SIGKILL)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a zombie leader
            pass


@dataclass
class Topology:
    """The running deployment: where each part answers, and its processes."""

    balancer: str
    host_a: str
    host_b: str
    stats: str
    database_url: str
    env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)
    logs: Path = Path()
    ports: list[int] = field(default_factory=list)

    def balancer_command(self, command: str) -> str:
        """Send one command to HAProxy's admin socket; return its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(5)
            connection.connect(str(self.logs / "haproxy.sock"))
            connection.sendall(command.encode() + b"\n")
            answer = b""
            while chunk := connection.recv(4096):
                answer += chunk
        return answer.decode()

    def restart(self, name: str) -> None:
        """Start host ``name`` again (after it was stopped), as before, on its port."""
        old = self.services[name]
        old.stop()
        port = self.ports[1] if name == "host_a" else self.ports[2]
        self.services[name] = start(name, ["host", str(port)], self.env, self.logs, "ab")
        wait_for(self.services[name], healthy(self.host_a if name == "host_a" else self.host_b))

    def server_states(self) -> dict[str, str]:
        """Return HAProxy's view of the hosts: ``{"host_a": "UP", ...}``."""
        answer = httpx.get(self.stats + "/;csv", timeout=5)
        rows = csv.DictReader(io.StringIO(answer.text.lstrip("# ")))
        return {
            row["svname"]: row["status"]
            for row in rows
            if row["pxname"] == "tasks_hosts" and row["svname"].startswith("host_")
        }


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def run_database() -> Iterator[str]:
    """Make a PostgreSQL database for the run; yield its URL; drop it afterwards."""
    import psycopg

    problem = database_problem(POSTGRES_URL)
    if problem:
        skip_or_fail(problem)
    name = f"oakling_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_psycopg_url(POSTGRES_URL), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(POSTGRES_URL, name)
    finally:
        with psycopg.connect(_psycopg_url(POSTGRES_URL), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def run_queue(name: str) -> Iterator[None]:
    """Delete the run's Celery queue from the broker once the run is over."""
    try:
        yield
    finally:
        from kombu import Connection

        with Connection(AMQP_URL, connect_timeout=3) as connection:
            try:
                connection.default_channel.queue_delete(name)
            except Exception:  # noqa: BLE001 - never declared: nothing to delete
                pass


def shipped_env() -> dict[str, str]:
    """Return the variables of ``examples/tasks/deploy/scaled.env``, loaded as the docs say.

    ``set -a; . scaled.env`` in bash, so the values are what a shell makes of
    them (quotes removed), not what the file spells.
    """
    script = 'set -a; . "$1"; set +a; env -0'
    loaded = subprocess.run(
        ["bash", "-c", script, "bash", str(SCRIPT.parent / "scaled.env")],
        env={"PATH": os.environ.get("PATH", os.defpath)},
        capture_output=True,
        check=True,
    ).stdout.decode()
    variables = dict(item.split("=", 1) for item in loaded.split("\0") if "=" in item)
    return {name: value for name, value in variables.items() if name.startswith("OAKLING_")}


def scaled_env(database_url: str, run: str) -> dict[str, str]:
    """Return the environment of every process: scaled.env's variables, for this run."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OAKLING_") or key.startswith("OAKLING_TEST_")
    }
    prefix = f"oakling-scale:{run}:"
    # The shipped variables first (the docs' scaled.env), then this run's services.
    env.update(shipped_env())
    env.update(
        {
            "PYTHON": sys.executable,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "OAKLING_SECRET_KEY": secrets.token_urlsafe(50),
            "OAKLING_DATABASE_URL": database_url,
            "OAKLING_REDIS_URL": REDIS_URL,
            "OAKLING_CACHES": json.dumps(
                {
                    "default": {
                        "BACKEND": "redis",
                        "LOCATION": REDIS_URL,
                        "KEY_PREFIX": prefix + "cache",
                    }
                }
            ),
            "OAKLING_CHANNELS_URL": REDIS_URL,
            "OAKLING_CHANNELS_PREFIX": prefix + "channels:",
            "OAKLING_TASKS_BROKER_URL": AMQP_URL,
            "OAKLING_TASKS_RESULT_BACKEND": REDIS_URL,
            "OAKLING_TASKS_DEFAULT_QUEUE": f"oakling-scale-{run}",
            "OAKLING_LOGIN_THROTTLE_ACCOUNT": f"{LOGIN_LIMIT} per 15 minutes",
            # NOTE: every client of the test is 127.0.0.1: per-IP caps out of the way.
            "OAKLING_LOGIN_THROTTLE_IP": "10000 per hour",
            "OAKLING_SIGNUP_THROTTLE_IP": "10000 per hour",
            "OAKLING_API_RATE_LIMIT": "100000/minute",
            "OAKLING_EMAIL_BACKEND": "console",
        }
    )
    return env


def start(
    name: str, args: list[str], env: Mapping[str, str], logs: Path, mode: str = "wb"
) -> Service:
    """Start ``scaled.sh ARGS`` in a process group of its own, output to a log."""
    log = logs / f"{name}.log"
    with log.open(mode) as handle:
        process = subprocess.Popen(
            ["bash", str(SCRIPT), *args],
            cwd=ROOT,
            env=dict(env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Service(name, process, log)


def wait_for(service: Service, ready: Callable[[], bool], timeout: float = 60) -> None:
    """Wait until ``ready()`` is true; fail with the service's log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise AssertionError(f"{service.name} exited:\n{service.output()[-4000:]}")
        try:
            if ready():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{service.name} did not start:\n{service.output()[-4000:]}")


def healthy(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url + "/healthz", timeout=2).status_code == 200


def haproxy_binary() -> str | None:
    """Return HAProxy's path (Debian puts it in /usr/sbin), or None."""
    return shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin:" + os.defpath)


def requirements() -> None:
    """Skip (fail in CI) unless every service and tool of the topology is here."""
    if haproxy_binary() is None:
        skip_or_fail("HAProxy is not installed (apt-get install haproxy)")
    for problem in (redis_problem(REDIS_URL), amqp_problem(AMQP_URL)):
        if problem:
            skip_or_fail(problem)


@contextmanager
def scaled_demo(logs: Path) -> Iterator[Topology]:
    """Start the topology; yield it; stop every process and drop the run's data."""
    requirements()
    run = uuid.uuid4().hex[:10]
    ports = [BASE_PORT + offset for offset in range(4)]
    with ExitStack() as stack:
        database_url = stack.enter_context(run_database())
        env = scaled_env(database_url, run)
        stack.enter_context(run_queue(env["OAKLING_TASKS_DEFAULT_QUEUE"]))
        topology = Topology(
            balancer=f"http://127.0.0.1:{ports[0]}",
            host_a=f"http://127.0.0.1:{ports[1]}",
            host_b=f"http://127.0.0.1:{ports[2]}",
            stats=f"http://127.0.0.1:{ports[3]}",
            database_url=database_url,
            env=env,
            logs=logs,
            ports=ports,
        )

        def stop_all() -> None:
            for service in reversed(list(topology.services.values())):
                service.stop()

        stack.callback(stop_all)
        haproxy = haproxy_binary() or "haproxy"
        balancer_env = {
            **env,
            "HAPROXY": haproxy,
            "TASKS_LB_BIND": f"127.0.0.1:{ports[0]}",
            "TASKS_HOST_A": f"127.0.0.1:{ports[1]}",
            "TASKS_HOST_B": f"127.0.0.1:{ports[2]}",
            "TASKS_LB_STATS": f"127.0.0.1:{ports[3]}",
            "TASKS_LB_SOCKET": str(logs / "haproxy.sock"),
        }
        # NOTE: host A first: its workers migrate the new database (under the
        # migration lock); B's then find nothing left to do.
        services = topology.services
        services["host_a"] = start("host_a", ["host", str(ports[1])], env, logs)
        wait_for(services["host_a"], healthy(topology.host_a))
        services["host_b"] = start("host_b", ["host", str(ports[2])], env, logs)
        services["worker"] = start("worker", ["worker", "-c", "1"], env, logs)
        services["balancer"] = start("balancer", ["balancer"], balancer_env, logs)
        wait_for(services["host_b"], healthy(topology.host_b))
        wait_for(services["worker"], lambda: " ready." in services["worker"].output(), 90)
        wait_for(
            services["balancer"],
            lambda: set(topology.server_states().values()) == {"UP"},
        )
        yield topology
