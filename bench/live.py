"""Shared pieces of the live-server scripts ``soak.py``, ``overload.py`` and ``faults.py``.

They run the Tasks demo (``examples/tasks``) as an operator would: uvicorn
with 2 worker processes, on a fresh PostgreSQL database made for the run and
dropped after it, sessions and throttles on Redis. Here: making and dropping
that database, starting and stopping the server (and finding its worker
processes, for their RSS), a virtual user that signs up and drives the
demo's pages with ``httpx``, the recorder of statuses and latencies, and the
check of acknowledged writes against the database itself (read with
``psycopg``, not through the app).

Everything is configured by explicit ``OAKLING_*`` variables, so the scripts
do not depend on the demo's defaults (which session backend, whether startup
migrations take a lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

__all__ = [
    "DEFAULT_POSTGRES",
    "DEFAULT_REDIS",
    "ROOT",
    "DemoServer",
    "Expected",
    "Recorder",
    "User",
    "WriteLog",
    "check_writes",
    "create_database",
    "drop_database",
    "percentile",
    "print_table",
    "rss_mb",
    "wait_port",
]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES = os.environ.get(
    "OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
DEFAULT_REDIS = os.environ.get("OAKLING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "soak-Pa55word-" + "x" * 8  # NOTE: passes the auth battery's validators
CSRF_FIELD = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
NEW_TOKEN = re.compile(r'<code id="new-token">([^<]+)</code>')


# -- the database -------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _libpq(url: str) -> str:
    # NOTE: psycopg takes libpq URLs: no "+driver" in the scheme.
    scheme, _, rest = url.partition("://")
    return "postgresql://" + rest if scheme.startswith("postgres") else url


def create_database(base_url: str, prefix: str) -> str:
    """Create a fresh, empty PostgreSQL database and return its URL.

    Args:
        base_url: A URL of an existing database on the server (connected to
            issue ``CREATE DATABASE``); the new one is on the same server.
        prefix: The new database's name starts with it (``<prefix>_<hex>``).

    Raises:
        psycopg.OperationalError: When the server is unreachable.
    """
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(base_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _with_database(base_url, name)


def drop_database(url: str) -> None:
    """Drop the database ``url`` names (``WITH (FORCE)``: its sessions are ended)."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    admin = _with_database(url, "postgres")
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the server -------------------------------------------------------------------------


def wait_port(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    """Return whether ``host:port`` accepted a TCP connection within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
            return True
        time.sleep(0.05)
    return False


def rss_mb(pid: int) -> float | None:
    """Return the resident set size of process ``pid`` in MiB, or None when it is gone."""
    import psutil

    try:
        return float(psutil.Process(pid).memory_info().rss) / (1024 * 1024)
    except psutil.Error:
        return None


class DemoServer:
    """The Tasks demo under ``uvicorn --workers N``, in a subprocess of its own.

    Args:
        port: The port to serve on (127.0.0.1).
        env: ``OAKLING_*`` settings for the app (added to this environment).
        workers: uvicorn worker processes.
        log: Where the server's stdout and stderr go.
        extra_args: More uvicorn options (``--limit-concurrency 100``, ...).
    """

    def __init__(
        self,
        port: int,
        env: dict[str, str],
        workers: int = 2,
        log: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = port
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.workers = workers
        self.log = log or Path(f"/tmp/oakling-bench-demo-{port}.log")
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"

    def migrate(self) -> None:
        """Bring the database to the latest revision from one process (a release step).

        Raises:
            subprocess.CalledProcessError: When the migration fails.
        """
        code = (
            "from examples.tasks.app import migrate_database, demo_settings\n"
            "from oakling.db import Database\n"
            "migrate_database(Database(demo_settings().get('DATABASE_URL')))\n"
        )
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=self.env, check=True, capture_output=True
        )

    def start(self, timeout: float = 60.0) -> None:
        """Start uvicorn and wait until every worker answers ``GET /auth/login``.

        Raises:
            RuntimeError: When the server exits or does not answer in time
                (the message ends with the tail of its log).
        """
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "examples.tasks.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--no-access-log",
            *self.extra_args,
        ]
        handle = self.log.open("wb")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT
        )
        handle.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the demo exited with {self.process.returncode}:\n{self.tail()}"
                )
            if len(self.worker_pids()) >= self.workers and self._startups_done():
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(self.url + "/auth/login", timeout=2).status_code == 200:
                        return
            time.sleep(0.2)
        raise RuntimeError(f"the demo did not come up in {timeout} s:\n{self.tail()}")

    def _startups_done(self) -> bool:
        return self.log_text().count("Application startup complete") >= self.workers

    def worker_pids(self) -> list[int]:
        """Return the PIDs of uvicorn's worker processes (children of the master), sorted."""
        import psutil

        if self.process is None:
            return []
        try:
            children = psutil.Process(self.process.pid).children()
        except psutil.Error:
            return []
        pids = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                # NOTE: multiprocessing may also start its resource tracker.
                if "resource_tracker" not in " ".join(child.cmdline()):
                    pids.append(child.pid)
        return sorted(pids)

    def rss(self) -> dict[int, float | None]:
        """Return each worker's RSS in MiB, by PID."""
        return {pid: rss_mb(pid) for pid in self.worker_pids()}

    def log_text(self) -> str:
        """Return the server's log so far."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 30) -> str:
        """Return the last ``lines`` lines of the server's log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` s); return its exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def demo_env(
    database_url: str, redis_url: str, secret: str | None = None, **more: str
) -> dict[str, str]:
    """Return the demo's settings for a run: explicit, independent of its defaults.

    Sessions and the auth throttles on Redis; throttles and the API's rate
    limit high enough that the load's own sign-ups (all from 127.0.0.1) and
    requests are never refused.
    """
    env = {
        "OAKLING_SECRET_KEY": secret or secrets.token_urlsafe(40),
        "OAKLING_DATABASE_URL": database_url,
        "OAKLING_SESSION_BACKEND": "redis",
        "OAKLING_REDIS_URL": redis_url,
        "OAKLING_SESSION_REDIS_URL": redis_url,
        "OAKLING_RATELIMIT_STORAGE_URL": redis_url,
        "OAKLING_SIGNUP_THROTTLE_IP": "1000000/hour",
        "OAKLING_LOGIN_THROTTLE_IP": "1000000/hour",
        # NOTE: the load is one token per user; the API's own limit
        # (API_RATE_LIMIT, 600/minute) would turn overload into 429s.
        "OAKLING_API_RATE_LIMIT": "1000000000/minute",
        "OAKLING_ALLOWED_HOSTS": '["127.0.0.1", "localhost"]',
        "OAKLING_EMAIL_BACKEND": "console",
    }
    env.update(more)
    return env


# -- recording --------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the ``q`` quantile (0..1) of ``values`` (nearest rank), or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))
    return ordered[index]


@dataclass
class Recorder:
    """Statuses, errors and latencies of every request made, by kind.

    An error is an answer other than the one expected for the request's kind,
    or no answer (a transport error, named by its exception class).
    """

    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    samples: list[tuple[float, str, str]] = field(default_factory=list)
    keep_samples: bool = False
    started: float = field(default_factory=time.monotonic)

    def add(self, kind: str, outcome: str, seconds: float, ok: bool) -> None:
        """Record one request of ``kind`` whose outcome (a status, or an exception name)."""
        self.statuses[outcome] += 1
        self.latencies.setdefault(kind, []).append(seconds)
        if not ok:
            self.errors[f"{kind} {outcome}"] += 1
        if self.keep_samples:
            self.samples.append((time.monotonic(), kind, outcome))

    @property
    def requests(self) -> int:
        """The number of requests made."""
        return sum(self.statuses.values())

    def summary(self) -> dict[str, Any]:
        """Return the counts and latency percentiles (ms) as JSON-ready data."""
        every = [value for values in self.latencies.values() for value in values]
        by_kind = {
            kind: {
                "requests": len(values),
                "p50_ms": _ms(percentile(values, 0.5)),
                "p99_ms": _ms(percentile(values, 0.99)),
            }
            for kind, values in sorted(self.latencies.items())
        }
        return {
            "requests": self.requests,
            "statuses": dict(sorted(self.statuses.items())),
            "errors": sum(self.errors.values()),
            "errors_by_kind": dict(sorted(self.errors.items())),
            "p50_ms": _ms(percentile(every, 0.5)),
            "p99_ms": _ms(percentile(every, 0.99)),
            "by_kind": by_kind,
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


@dataclass
class Expected:
    """What the database must hold for one user's acknowledged writes.

    ``present`` maps each acknowledged title to its expected ``completed``
    flag (None when a toggle's outcome is unknown: no answer was received);
    ``deleted`` holds titles whose deletion was acknowledged.
    """

    present: dict[str, bool | None] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)


@dataclass
class WriteLog:
    """Every user's acknowledged writes, checked against the database at the end."""

    users: list[Expected] = field(default_factory=list)

    def new(self) -> Expected:
        """Return a fresh record for one more user."""
        expected = Expected()
        self.users.append(expected)
        return expected

    def counts(self) -> tuple[int, int, int]:
        """Return (acknowledged creates still expected, toggled states known, deletes)."""
        present = sum(len(user.present) for user in self.users)
        known = sum(1 for u in self.users for value in u.present.values() if value is not None)
        deleted = sum(len(user.deleted) for user in self.users)
        return present, known, deleted


def check_writes(database_url: str, log: WriteLog) -> dict[str, int]:
    """Compare acknowledged writes with the rows of ``tasks_task``, read directly.

    Returns:
        ``acknowledged_creates``; ``missing`` (acknowledged, not deleted,
        absent); ``wrong_completed`` (present, but not in the state the last
        acknowledged toggle left); ``deleted_but_present``.
    """
    import psycopg

    expected: dict[str, bool | None] = {}
    deleted: set[str] = set()
    for user in log.users:
        expected.update(user.present)
        deleted |= user.deleted
    with psycopg.connect(_libpq(database_url)) as conn:
        rows = conn.execute(
            "SELECT title, completed FROM tasks_task WHERE title = ANY(%s)",
            (list(expected) + list(deleted),),
        ).fetchall()
    stored = {title: completed for title, completed in rows}
    missing = sum(1 for title in expected if title not in stored)
    wrong = sum(
        1
        for title, completed in expected.items()
        if completed is not None and title in stored and stored[title] != completed
    )
    return {
        "acknowledged_creates": len(expected) + len(deleted),
        "missing": missing,
        "wrong_completed": wrong,
        "deleted_but_present": sum(1 for title in deleted if title in stored),
    }


# -- a virtual user ------------------------------------------------------------------


class User:
    """One person using the demo in a browser-like ``httpx.AsyncClient`` (own cookies).

    Args:
        client: The user's client (base URL set, redirects not followed).
        recorder: Where each request is recorded.
        expected: Where the user's acknowledged writes are recorded.
        name: The user's username.
    """

    def __init__(
        self, client: httpx.AsyncClient, recorder: Recorder, expected: Expected, name: str
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.expected = expected
        self.name = name
        self.csrf = ""
        self.ids: dict[int, str] = {}  # task id -> title, of the tasks the user saw
        self.serial = 0

    async def request(
        self, kind: str, method: str, url: str, ok: Sequence[int], **kwargs: Any
    ) -> httpx.Response | None:
        """Send one request, record it, and return the response (None when none came)."""
        started = time.monotonic()
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as ex:
            self.recorder.add(kind, type(ex).__name__, time.monotonic() - started, False)
            return None
        elapsed = time.monotonic() - started
        good = response.status_code in ok
        if good and response.status_code == 303 and kind not in ("signup", "login", "logout"):
            # NOTE: a form post answered by a redirect to the login page lost its session.
            good = "/auth/login" not in response.headers.get("location", "")
        outcome = str(response.status_code)
        if response.status_code == 303 and not good:
            outcome = "303-to-login"
        elif response.status_code == 503 and "retry-after" not in response.headers:
            outcome = "503-without-Retry-After"
        self.recorder.add(kind, outcome, elapsed, good)
        return response

    def _take_csrf(self, response: httpx.Response | None) -> None:
        if response is not None:
            match = CSRF_FIELD.search(response.text)
            if match:
                self.csrf = match.group(1)

    async def signup(self) -> bool:
        """Sign up (and so log in); return whether the account was made."""
        self._take_csrf(await self.request("signup-form", "GET", "/auth/signup", (200,)))
        data = {
            "csrf_token": self.csrf,
            "username": self.name,
            "email": f"{self.name}@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        }
        response = await self.request("signup", "POST", "/auth/signup", (303,), data=data)
        return response is not None and response.status_code == 303

    async def login(self) -> bool:
        """Log in again (a new session: the login page, then the form's post)."""
        self._take_csrf(await self.request("login-form", "GET", "/auth/login", (200,)))
        data = {"csrf_token": self.csrf, "username": self.name, "password": PASSWORD}
        response = await self.request("login", "POST", "/auth/login", (303,), data=data)
        return response is not None and response.status_code == 303

    async def index(self) -> None:
        """``GET /``: the list page (also refreshes the form's CSRF token)."""
        self._take_csrf(await self.request("page /", "GET", "/", (200,)))

    async def list_api(self) -> None:
        """``GET /api/tasks`` with the session; remembers the user's task ids."""
        response = await self.request("api list", "GET", "/api/tasks", (200,))
        if response is not None and response.status_code == 200:
            with contextlib.suppress(ValueError):
                self.ids = {item["id"]: item["title"] for item in response.json()}

    async def create(self) -> str | None:
        """``POST /tasks``: add a task; return its title when acknowledged (303 to /)."""
        self.serial += 1
        title = f"{self.name}-{self.serial}-{secrets.token_hex(3)}"
        data = {"csrf_token": self.csrf, "title": title}
        response = await self.request("create", "POST", "/tasks", (303,), data=data)
        if response is not None and response.status_code == 303:
            if "/auth/login" not in response.headers.get("location", ""):
                self.expected.present[title] = False
                return title
        return None

    async def toggle(self) -> None:
        """``POST /tasks/{id}/toggle`` on one of the user's tasks, when it has one."""
        known = [(i, t) for i, t in self.ids.items() if t in self.expected.present]
        if not known:
            return
        task_id, title = random.choice(known)
        data = {"csrf_token": self.csrf}
        response = await self.request(
            "toggle", "POST", f"/tasks/{task_id}/toggle", (303,), data=data
        )
        state = self.expected.present[title]
        if response is None or response.status_code >= 500 or response.status_code == 503:
            # NOTE: no answer, or a refusal that may come after the commit: unknown.
            self.expected.present[title] = None
        elif response.status_code == 303 and "/auth/login" not in response.headers.get(
            "location", ""
        ):
            self.expected.present[title] = None if state is None else not state

    async def delete_oldest(self, keep: int) -> None:
        """Delete the user's oldest tasks beyond ``keep`` (so pages stay the same size)."""
        known = sorted(i for i, t in self.ids.items() if t in self.expected.present)
        for task_id in known[: max(0, len(known) - keep)]:
            title = self.ids.pop(task_id)
            data = {"csrf_token": self.csrf}
            response = await self.request(
                "delete", "POST", f"/tasks/{task_id}/delete", (303,), data=data
            )
            if response is not None and response.status_code == 303:
                if "/auth/login" not in response.headers.get("location", ""):
                    del self.expected.present[title]
                    self.expected.deleted.add(title)

    async def static(self) -> None:
        """``GET /static/app.css``: a page asset."""
        await self.request("static", "GET", "/static/app.css", (200,))

    async def make_token(self) -> str | None:
        """Make an API token on the list page (201); return it, or None."""
        await self.index()
        data = {"csrf_token": self.csrf, "name": "bench"}
        response = await self.request("token", "POST", "/tokens", (201,), data=data)
        if response is None:
            return None
        match = NEW_TOKEN.search(response.text)
        return match.group(1) if match else None


def client_for(base_url: str, connections: int = 4, timeout: float = 30.0) -> httpx.AsyncClient:
    """Return a browser-like client of the demo: own cookies, redirects not followed."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


# -- output ------------------------------------------------------------------------------


def print_table(title: str, rows: Sequence[tuple[str, object]]) -> None:
    """Print ``rows`` as a two-column table under ``title`` (to stderr: stdout is JSON)."""
    width = max((len(label) for label, _ in rows), default=0)
    print(f"\n{title}", file=sys.stderr)
    print("-" * len(title), file=sys.stderr)
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}", file=sys.stderr)


def emit(summary: dict[str, Any]) -> None:
    """Print the JSON summary on stdout."""
    print(json.dumps(summary, indent=2, sort_keys=False))


def mean(values: Sequence[float]) -> float | None:
    """Return the mean of ``values``, or None when empty."""
    return statistics.fmean(values) if values else None


@contextlib.contextmanager
def fresh_database(base_url: str, prefix: str, keep: bool = False) -> Iterator[str]:
    """Create a database for the run and drop it afterwards (unless ``keep``)."""
    url = create_database(base_url, prefix)
    try:
        yield url
    finally:
        if not keep:
            drop_database(url)


async def sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline``."""
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
