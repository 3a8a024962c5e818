"""Shared fixtures: sync/async handler parametrisation and service gating."""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import shutil
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# In CI (CI=true, or OAKLING_REQUIRE_SERVICES=1) a test that would skip because
# a service or tool is missing fails instead: CI must run every check.
REQUIRE_SERVICES = (
    os.environ.get("OAKLING_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"
)


def skip_or_fail(reason: str) -> None:
    """Skip on a newcomer's machine; fail in CI, where everything must run."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)


@functools.cache
def database_problem(url: str) -> str | None:
    """Return why the PostgreSQL or MariaDB at ``url`` cannot be used, or None."""
    from sqlalchemy import create_engine, text

    engine = create_engine(
        url.replace("postgresql://", "postgresql+psycopg://").replace(
            "mysql://", "mysql+pymysql://"
        ),
        connect_args={"connect_timeout": 3},
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as ex:  # noqa: BLE001
        return f"{url} unreachable: {ex}"
    finally:
        engine.dispose()
    return None


@functools.cache
def redis_problem(url: str) -> str | None:
    """Return why the Redis at ``url`` cannot be used, or None."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as ex:  # noqa: BLE001
        return f"Redis at {url} unreachable: {ex}"
    finally:
        client.close()
    return None


@functools.cache
def amqp_problem(url: str) -> str | None:
    """Return why the AMQP broker (RabbitMQ) at ``url`` cannot be used, or None."""
    from kombu import Connection

    connection = Connection(url, connect_timeout=3)
    try:
        connection.ensure_connection(max_retries=1)
    except Exception as ex:  # noqa: BLE001
        return f"AMQP broker at {url} unreachable: {ex}"
    finally:
        connection.release()
    return None


@pytest.fixture(autouse=True)
def _fresh_outage_log() -> Iterator[None]:
    """Each test starts with no outage on record (the log is process-wide)."""
    from oakling.outages import outages

    outages.reset()
    yield
    outages.reset()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sync", "async"])
def as_handler(
    request: pytest.FixtureRequest,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return a decorator giving the handler as written (sync) or as ``async def``.

    The same test body then runs through both paths: sync handlers in the
    thread pool, async ones on the loop.
    """

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        if request.param == "sync":
            return func

        async def async_version(*args: Any, **kwargs: Any) -> Any:
            result = func(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        functools.update_wrapper(async_version, func)
        return async_version

    wrap.kind = request.param  # type: ignore[attr-defined]
    return wrap


EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"

Loader = Callable[[str], types.ModuleType]


@pytest.fixture
def load_example(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loader]:
    """Import ``docs/examples/<name>.py`` afresh, as module ``<name>``.

    Modules loaded are removed from ``sys.modules`` after the test.
    """
    monkeypatch.syspath_prepend(str(EXAMPLES))  # for examples importing each other
    loaded: list[str] = []

    def load(name: str) -> types.ModuleType:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # NOTE: registered so msgspec, dataclasses and pydantic resolve annotations.
        sys.modules[name] = module
        loaded.append(name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in loaded:
        sys.modules.pop(name, None)


# NOTE: the ``browser`` fixture (headless Chromium), for every test module.
from tests.browser_support import browser  # noqa: E402, F401


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
