"""Smoke runs of the live-server scripts: ``bench/soak.py``, ``overload.py``, ``faults.py``.

Each script runs for real, briefly (a 15 s soak, 5 s of 50 connections, 2 s
outages), against the demo under uvicorn with 2 workers on PostgreSQL and
Redis: the figures they report must hold. The soak: no error, no lost
acknowledged write, the same workers at the end. Overload: no 5xx but 503, no
worker crash, still serving after. Faults: no 500 while Redis is killed or
PostgreSQL cut, the probe succeeds again after each, no lost acknowledged
write. The checks themselves are attacked: the write check with rows that are
missing, in the wrong state or not deleted, the RSS reading with growth and
with transient spikes. The time targets (RSS over 10 minutes, recovery within 1 s) are the
full runs' to judge, not a smoke test's on a shared machine.

PostgreSQL (``OAKLING_TEST_POSTGRES_URL``), Redis (``OAKLING_TEST_REDIS_URL``)
and ``redis-server`` missing skip on a newcomer's machine and fail in CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.bench.conftest import load_script
from tests.conftest import skip_or_fail

BENCH = Path(__file__).resolve().parents[2] / "bench"
PG_URL = os.environ.get("OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OAKLING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module", autouse=True)
def services() -> None:
    for module in ("psutil", "psycopg", "redis", "uvicorn", "httpx"):
        if importlib.util.find_spec(module) is None:
            skip_or_fail(f"{module} is not installed (pip install -r bench/requirements.txt)")
    import psycopg
    import redis

    try:
        psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3).close()
    except psycopg.Error as ex:
        skip_or_fail(f"PostgreSQL at {PG_URL} unreachable: {ex}")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as ex:
        skip_or_fail(f"Redis at {REDIS_URL} unreachable: {ex}")


def run_script(name: str, *args: str, timeout: float = 120) -> dict[str, Any]:
    env = {**os.environ, "OAKLING_TEST_POSTGRES_URL": PG_URL, "OAKLING_TEST_REDIS_URL": REDIS_URL}
    completed = subprocess.run(
        [sys.executable, str(BENCH / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert completed.stdout.strip(), completed.stderr[-3000:]
    report: dict[str, Any] = json.loads(completed.stdout)
    report["_table"] = completed.stderr
    return report


def test_soak_no_errors_no_lost_writes() -> None:
    report = run_script(
        "soak.py", "--duration", "15", "--users", "4", "--sample", "3", "--port", "18150"
    )
    assert report["requests"] > 100, report["_table"]
    assert report["errors"] == 0, report["errors_by_kind"]
    assert set(report["statuses"]) == {"200", "303"}, report["statuses"]
    assert report["writes"]["acknowledged_creates"] > 0
    assert report["writes"]["missing"] == 0, report["writes"]
    assert report["writes"]["wrong_completed"] == 0, report["writes"]
    assert report["writes"]["deleted_but_present"] == 0, report["writes"]
    assert report["targets"]["workers_unchanged"], report["worker_pids"]
    assert len(report["worker_pids"]["before"]) == 2
    assert report["rss_samples"] and all(len(s["rss_mb"]) == 2 for s in report["rss_samples"])


def test_overload_no_500_no_crash() -> None:
    report = run_script(
        "overload.py",
        "--duration",
        "5",
        "--connections",
        "50",
        "--settle",
        "2",
        "--port",
        "18152",
    )
    assert report["load"]["requests"] > 0, report["_table"]
    assert report["non_503_5xx"] == {}, report["_table"]
    assert report["targets"]["no_worker_crash"], report["worker_pids"]
    assert report["targets"]["serves_after"], report["after_load_statuses"]
    assert report["load"]["statuses"].get("200", 0) > 0, report["load"]


def test_faults_no_500_no_lost_writes() -> None:
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed (the faults start a private one)")
    report = run_script(
        "faults.py",
        "--outage",
        "2",
        "--before",
        "2",
        "--after",
        "3",
        "--users",
        "2",
        "--port",
        "18154",
        "--proxy-port",
        "18155",
        "--redis-port",
        "6395",
    )
    for name in ("redis", "postgres"):
        fault = report["faults"][name]
        assert fault["probes"] > 10, report["_table"]
        assert fault["http_500s"] == 0, (name, fault)
        assert fault["recovery_s"] is not None, (name, fault)
    assert report["writes"]["acknowledged_creates"] > 0
    assert report["writes"]["missing"] == 0, report["writes"]
    assert report["writes"]["wrong_completed"] == 0, report["writes"]
    assert report["targets"]["no_worker_crash"], report["worker_pids"]


@pytest.fixture(scope="module")
def soak() -> ModuleType:
    return load_script(BENCH / "soak.py", "oakling_bench_soak")


def test_write_check_finds_lost_wrong_and_undeleted_rows(soak: ModuleType) -> None:
    live = sys.modules["live"]
    import psycopg

    url = live.create_database(PG_URL, PG_URL.rsplit("/", 1)[-1] + "_check")
    try:
        with psycopg.connect(live._libpq(url)) as conn:
            conn.execute("CREATE TABLE tasks_task (id serial, title text, completed boolean)")
            conn.execute(
                "INSERT INTO tasks_task (title, completed) VALUES "
                "('kept', false), ('toggled', true), ('wrong', false), ('undeleted', false)"
            )
        log = live.WriteLog()
        user = log.new()
        user.present.update({"kept": False, "toggled": True, "wrong": True, "unknown": None})
        user.present["lost"] = False
        user.deleted |= {"undeleted", "gone"}
        checked = live.check_writes(url, log)
    finally:
        live.drop_database(url)
    assert checked == {
        "acknowledged_creates": 7,
        "missing": 2,  # "lost", and "unknown" (its state is unknown, its row is not)
        "wrong_completed": 1,
        "deleted_but_present": 1,
    }


def test_rss_growth_ignores_spikes_not_growth(soak: ModuleType) -> None:
    steady = [
        {"t": t, "rss_mb": {"1": 100.0 + (64.0 if t % 30 == 0 else 0)}} for t in range(0, 101)
    ]
    growth = soak.rss_growth(steady, 100)["1"]
    assert growth["growth_pct"] == 0 and growth["max_last_half_mb"] == 164.0
    rising = [{"t": t, "rss_mb": {"1": 100.0 + t / 5}} for t in range(0, 101)]
    assert soak.rss_growth(rising, 100)["1"]["growth_pct"] > 5
