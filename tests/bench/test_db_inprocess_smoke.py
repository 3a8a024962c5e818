"""Smoke tests of the oakling.db in-process benchmark, ``bench/db_inprocess.py``.

The harness runs for real with tiny counts, against SQLite in a temporary file
and against PostgreSQL (127.0.0.1:5432, database ``test``) when it is
reachable: every variant must pass its correctness check (each of 20 answers
is a row of the table, with its value) and be timed. PostgreSQL being down
skips its rows on a newcomer's machine and fails them in CI. The check itself
is attacked with wrong answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.bench.conftest import load_script
from tests.conftest import skip_or_fail

BENCH = Path(__file__).resolve().parents[2] / "bench" / "db_inprocess.py"
SYNC_ROLES = {"battery", "manual", "plain", "plain-tx"}


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    pytest.importorskip("sqlalchemy")
    return load_script(BENCH, "oakling_bench_db_inprocess")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    pytest.importorskip("sqlalchemy")
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--requests",
            "20",
            "--repeat",
            "2",
            "--warmup",
            "5",
            "--rows",
            "200",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    data: dict[str, Any] = json.loads(completed.stdout)
    return data


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_variant_passes_its_check_and_is_timed(report: dict[str, Any], backend: str) -> None:
    if backend in report["skipped"]:
        assert backend != "sqlite", report["skipped"]
        skip_or_fail(report["skipped"][backend])
    rows = [row for row in report["results"] if row["backend"] == backend]
    for kind in ("sync", "async"):
        roles = {row["role"] for row in rows if row["kind"] == kind}
        assert SYNC_ROLES <= roles, (kind, roles)
    if backend == "postgresql":
        assert any(row["role"] == "raw" for row in rows)
    for row in rows:
        assert row["ok"], row
        assert row["error"] is None
        assert len(row["runs_us"]) == 2 == len(row["cpu_us"])
        assert 0 < row["best_us"] <= row["median_us"]
    whats = {(entry["kind"], entry["what"]) for entry in report["overhead"]}
    for kind in ("sync", "async"):
        assert (kind, "battery - plain") in whats
        assert (kind, "injection (derived)") in whats


def test_the_table_is_dropped_after_the_run(report: dict[str, Any]) -> None:
    if "postgresql" in report["skipped"]:
        skip_or_fail(report["skipped"]["postgresql"])
    from sqlalchemy import create_engine, text

    from oakling.db import sync_url

    url = os.environ.get("OAKLING_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            names = connection.execute(
                text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'bench_world_%'")
            ).scalars()
            # NOTE: another run may be under way; ours must not be among them.
            left = set(names)
    finally:
        engine.dispose()
    assert report["table"].startswith("bench_world_")
    assert report["table"] not in left


def _answer(harness: ModuleType, body: bytes, **changes: Any) -> Any:
    fields: dict[str, Any] = {
        "status": 200,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "body": body,
        "messages": 2,
        "receives": 1,
    }
    fields.update(changes)
    return harness.Answer(**fields)


ROWS = {1: 10, 2: 20}


def test_check_accepts_a_row_of_the_table(harness: ModuleType) -> None:
    assert harness.check_row(_answer(harness, b'{"id":2,"randomNumber":20}'), ROWS) == 2


@pytest.mark.parametrize(
    ("body", "changes", "message"),
    [
        (b'{"id":2,"randomNumber":21}', {}, "the table has 20"),
        (b'{"id":3,"randomNumber":20}', {}, "not a row"),
        (b'{"id":"2","randomNumber":20}', {}, "not a row"),
        (b'{"id":2}', {}, "expected"),
        (b'{"id":2,"randomNumber":20,"x":1}', {}, "expected"),
        (b"[1,2]", {}, "expected"),
        (b"not json", {}, "not JSON"),
        (b'{"id":2,"randomNumber":20}', {"status": 500}, "status 500"),
        (
            b'{"id":2,"randomNumber":20}',
            {"headers": [(b"content-type", b"text/plain")]},
            "content-type",
        ),
        (
            b'{"id":2,"randomNumber":20}',
            {"headers": [(b"content-type", b"application/json"), (b"content-length", b"3")]},
            "content-length",
        ),
    ],
)
def test_check_refuses_a_wrong_answer(
    harness: ModuleType, body: bytes, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(harness.BenchError, match=message):
        harness.check_row(_answer(harness, body, **changes), ROWS)
