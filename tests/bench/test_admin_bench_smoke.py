"""Smoke test of the admin benchmark, ``bench/admin.py``, on a tiny table.

It runs the real script (both servers on uvicorn, Django's admin beside
oakling's) on 2,000 rows in a private PostgreSQL database, with 1 warm-up and
3 timed requests per page: every page must answer 200 with its expected row
on both apps (the script fails otherwise), and the report must hold every
page with times and query counts. PostgreSQL being down skips it on a
newcomer's machine and fails it in CI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

from tests.conftest import skip_or_fail

BENCH = Path(__file__).resolve().parents[2] / "bench" / "admin.py"
PG_URL = os.environ.get("OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROWS = 2000


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def bench_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    pytest.importorskip("django")
    url = make_url(PG_URL)
    name = f"{url.database or 'test'}_bench_admin_smoke"
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin.replace("+psycopg", ""), autocommit=True, connect_timeout=3):
            pass
    except Exception as ex:  # noqa: BLE001
        skip_or_fail(f"PostgreSQL at {url.render_as_string()} unreachable: {ex}")
    target = url.set(database=name).render_as_string(hide_password=False)
    try:
        yield target
    finally:
        with psycopg.connect(admin.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def report(bench_url: str) -> dict[str, Any]:
    ports = _free_ports(2)
    env = {
        **os.environ,
        "OAKLING_BENCH_ADMIN_URL": bench_url,
        "OAKLING_BENCH_ADMIN_ROWS": str(ROWS),
        "OAKLING_BENCH_ADMIN_PORTS": ",".join(str(port) for port in ports),
    }
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--requests", "3", "--warmup", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    data: dict[str, Any] = json.loads(completed.stdout)
    return data


def test_every_page_is_measured_on_both_apps(report: dict[str, Any]) -> None:
    assert list(report) == [
        "first page",
        "search (q=251)",
        "filter (done, owner 7)",
        "page 10",
        "page 10 by Next",
    ]
    for page, per_app in report.items():
        assert set(per_app) == {"oakling", "django"}, page
        for name, result in per_app.items():
            assert result["median_ms"] > 0 and result["p90_ms"] >= result["median_ms"], (page, name)
            assert result["queries"] and all(count >= 1 for count in result["queries"])


def test_oakling_query_counts(report: dict[str, Any]) -> None:
    # The signed-in user with its permissions (one query), the page's rows, one
    # bounded count (2,000 rows: under the threshold, so no estimate) and the
    # owner filter's choices; a page reached by Next reads its anchor row too.
    assert report["first page"]["oakling"]["queries"] == [4]
    assert report["page 10"]["oakling"]["queries"] == [4]
    assert report["page 10 by Next"]["oakling"]["queries"] == [5]
    # Django: the session, the user, the rows and two COUNT(*), every page.
    assert report["first page"]["django"]["queries"] == [5]
