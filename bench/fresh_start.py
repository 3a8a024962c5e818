"""Start the demo with N workers on a fresh database, T times: do all workers come up?

Each try creates an empty database (PostgreSQL or MariaDB: ``<db>_fresh_<hex>``
on the server of ``--url``, dropped afterwards; SQLite: a new file), starts
``uvicorn --factory examples.tasks.app:create_app --workers N`` on it, so N
processes migrate it at startup together, and waits for the server: it
counts the workers that logged "Application startup complete" and those that
failed startup, and checks that ``GET /auth/login`` answers 200.

Usage::

    python bench/fresh_start.py [--url postgresql://postgres@127.0.0.1/test]
                                [--workers 4] [--tries 10] [--source DIR]

``--source`` serves another checkout (see ``bench/sqlite_writers.py``).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sync_url(url: str) -> sa.URL:
    parsed = sa.make_url(url)
    driver = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
    return parsed.set(drivername=driver.get(parsed.drivername, parsed.drivername))


def one_try(url: str, workers: int, source: Path, timeout: float = 60.0) -> tuple[int, int, bool]:
    """Serve the demo on ``url``; return (workers started, workers failed, answered 200)."""
    port = _free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    env["OAKLING_DATABASE_URL"] = url
    env["OAKLING_SECRET_KEY"] = "bench-fresh-start-" + "k" * 40
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "examples.tasks.app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, cwd=source, env=env, stdout=log, stderr=log)
        answered = False
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and server.poll() is None:
                log.seek(0)
                text = log.read().decode(errors="replace")
                started = text.count("Application startup complete")
                failed = text.count("Application startup failed")
                if started + failed >= workers:
                    break
                time.sleep(0.2)
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/auth/login").status_code == 200
            except httpx.TransportError:
                answered = False
        finally:
            server.terminate()
            server.wait(timeout=30)
        log.seek(0)
        text = log.read().decode(errors="replace")
    return (
        text.count("Application startup complete"),
        text.count("Application startup failed"),
        answered,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--source", type=Path, default=ROOT)
    args = parser.parse_args()
    source = args.source.resolve()
    base = _sync_url(args.url)
    all_up = 0
    with tempfile.TemporaryDirectory(prefix="fresh-start-") as folder:
        for attempt in range(args.tries):
            if base.get_backend_name() == "sqlite":
                url = f"sqlite:///{Path(folder) / f'try{attempt}.db'}"
                admin = None
            else:
                name = f"{base.database}_fresh_{uuid.uuid4().hex[:8]}"
                admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
                with admin.connect() as connection:
                    connection.exec_driver_sql(f"CREATE DATABASE {name}")
                url = sa.make_url(args.url).set(database=name).render_as_string(False)
            try:
                started, failed, answered = one_try(url, args.workers, source)
            finally:
                if admin is not None:
                    force = " WITH (FORCE)" if admin.dialect.name == "postgresql" else ""
                    with admin.connect() as connection:
                        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
                    admin.dispose()
            ok = started == args.workers and failed == 0 and answered
            all_up += ok
            print(
                f"try {attempt}: {started}/{args.workers} workers up, {failed} failed, "
                f"GET {'200' if answered else 'failed'}"
            )
    print(f"all workers up in {all_up} of {args.tries} tries ({source})")


if __name__ == "__main__":
    main()
