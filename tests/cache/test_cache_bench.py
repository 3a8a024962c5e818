"""bench/cache_redis.py runs, checks that its page is a real cache hit, and reports every row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cache_support import REDIS_URL, _redis_problem

from tests.conftest import skip_or_fail

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "cache_redis.py"


def test_cache_redis_bench_reports_each_case() -> None:
    problem = _redis_problem(REDIS_URL)
    if problem:
        skip_or_fail(problem)
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--requests", "20", "--repeat", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"OAKLING_BENCH_REDIS_URL": REDIS_URL, "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    cases = [row["case"] for row in report["results"]]
    assert cases == ["redis-py GET", "RedisCache.aget", "cache_page hit", "plaintext (no cache)"]
    assert all(row["median_us"] > 0 for row in report["results"])
