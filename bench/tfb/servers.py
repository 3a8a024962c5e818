"""Start, watch and stop one benchmark app under uvicorn or granian.

Each app is ``bench/tfb/apps/<name>.py``, imported as ``bench.tfb.apps.<name>``
from the repository root (not with ``--app-dir bench/tfb/apps``: a module named
``flask.py`` or ``django.py`` on ``sys.path`` would shadow the framework itself).
The server runs in its own process group, pinned to one core with ``taskset``,
one worker, no access log.
"""

from __future__ import annotations

import ast
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = [
    "ALL_SERVERS",
    "APPS_DIR",
    "FRAMEWORKS",
    "ROOT",
    "SERVERS",
    "AppInfo",
    "Server",
    "ServerError",
    "app_info",
    "free_port",
    "server_command",
]

ROOT = Path(__file__).resolve().parents[2]
APPS_DIR = ROOT / "bench" / "tfb" / "apps"
FRAMEWORKS: tuple[str, ...] = (
    "raw",
    "oakling",
    "starlette",
    "fastapi",
    "litestar",
    "blacksheep",
    "falcon",
    "flask",
    "django",
)
SERVERS: tuple[str, ...] = ("uvicorn", "granian")
# NOTE: granian's native interface, for the apps that declare ``RSGI`` (the
# attribute to serve); asked for by name (--servers rsgi), not by default.
ALL_SERVERS: tuple[str, ...] = (*SERVERS, "rsgi")


class ServerError(RuntimeError):
    """The server did not start, or died."""


@dataclass(frozen=True)
class AppInfo:
    """What the runner needs to know of an app module, read without importing it."""

    name: str
    kind: str  # "asgi" or "wsgi"
    orm: bool
    exists: bool = True
    rsgi: str | None = None  # the module attribute served on RSGI, if any


def app_info(name: str, apps_dir: Path = APPS_DIR) -> AppInfo:
    """Read ``KIND``, ``ORM`` and ``RSGI`` from ``<apps_dir>/<name>.py`` by parsing it.

    The module is not imported: that would import every framework into the
    runner. A missing file gives ``exists=False``.
    """
    path = apps_dir / f"{name}.py"
    if not path.is_file():
        return AppInfo(name, "asgi", True, exists=False)
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant):
                values[target.id] = node.value.value
    kind = str(values.get("KIND", "asgi"))
    rsgi = values.get("RSGI")
    return AppInfo(
        name, kind, bool(values.get("ORM", True)), rsgi=None if rsgi is None else str(rsgi)
    )


def free_port() -> int:
    """Return a TCP port that was free a moment ago (bound to port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(
    server: str,
    app: AppInfo,
    port: int,
    python: str = sys.executable,
    cpu: str | None = "0",
    package: str = "bench.tfb.apps",
) -> list[str]:
    """Build the command line serving ``app`` on ``server`` at ``port``.

    ``package`` holds the app modules (bench/crud.py serves ``bench.crud_apps``).

    Raises:
        ValueError: a WSGI app on uvicorn (uvicorn serves ASGI only), an app
            with no ``RSGI`` attribute on rsgi, or an unknown server.
    """
    target = f"{package}.{app.name}:app"
    prefix = [] if cpu is None else ["taskset", "-c", cpu]
    if server == "uvicorn":
        if app.kind != "asgi":
            raise ValueError(f"{app.name} is a {app.kind} app: uvicorn serves ASGI only")
        return [
            *prefix,
            python,
            "-m",
            "uvicorn",
            target,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    if server in ("granian", "rsgi"):
        interface = app.kind
        if server == "rsgi":
            if app.rsgi is None:
                raise ValueError(f"{app.name} declares no RSGI entry point")
            interface, target = "rsgi", f"{package}.{app.name}:{app.rsgi}"
        return [
            *prefix,
            python,
            "-m",
            "granian",
            "--interface",
            interface,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-ws",
            "--log-level",
            "warning",
            target,
        ]
    raise ValueError(f"unknown server {server!r}")


@dataclass
class Server:
    """One running server process (and its children), in its own group."""

    server: str
    app: AppInfo
    dsn: str
    python: str = sys.executable
    cpu: str | None = "0"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """Return ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process; see :meth:`wait_ready` to wait for its port."""
        self.port = free_port()
        argv = server_command(self.server, self.app, self.port, self.python, self.cpu)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
        env["TFB_DATABASE_URL"] = self.dsn
        env["PYTHONUNBUFFERED"] = "1"
        self._log = tempfile.TemporaryFile(prefix="tfb-server-")
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stopped with its workers
        )

    def log_tail(self, chars: int = 1500) -> str:
        """Return the end of the server's output (for failure reports)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-chars:].strip()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the port accepts connections.

        Raises:
            ServerError: the process exited, or the port stayed closed for
                ``timeout`` seconds; the message ends with the server's output.
        """
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"exited with status {self.process.returncode}: {self.log_tail()}"
                )
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise ServerError(f"port {self.port} not open after {timeout:.0f} s: {self.log_tail()}")

    def alive(self) -> bool:
        """Return whether the server process is still running."""
        return self.process is not None and self.process.poll() is None

    def rss_bytes(self) -> int:
        """Return the resident memory of the process and all its children.

        Returns 0 when psutil (a benchmark requirement) is not installed.
        """
        try:
            import psutil  # type: ignore[import-untyped]  # NOTE: no stubs installed
        except ImportError:
            return 0

        assert self.process is not None
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        """Return the CPU time (user + system) used so far by the process tree.

        Returns 0.0 when psutil (a benchmark requirement) is not installed.
        """
        try:
            import psutil
        except ImportError:
            return 0.0

        assert self.process is not None
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: SIGINT to its group, then SIGKILL after ``timeout``."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        # Reap stragglers of the group (a granian worker whose parent is gone).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None
