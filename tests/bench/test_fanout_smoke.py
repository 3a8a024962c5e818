"""Smoke test of the broadcast fan-out benchmark, ``bench/fanout.py``.

The whole harness runs for real with tiny counts (20 subscribers, 2 messages)
against the test Redis, for oakling and Django Channels: every message must
reach every subscriber, and the figures must be there. Redis being down skips
on a newcomer's machine and fails in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import redis_problem, skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("OAKLING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_fanout_delivers_every_message_to_every_subscriber(tmp_path: Path) -> None:
    problem = redis_problem(REDIS_URL)
    if problem:
        skip_or_fail(problem)
    out = tmp_path / "fanout.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.fanout",
            "--subscribers",
            "20",
            "--seconds",
            "2",
            "--frameworks",
            "oakling,django",
            "--redis",
            REDIS_URL,
            "--port",
            "16530",
            "--no-pin",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=180,
    )
    results = {entry["framework"]: entry for entry in json.loads(out.read_text())}
    assert set(results) == {"oakling", "django"}
    for entry in results.values():
        assert entry["delivered"] == entry["expected"] == 40
        assert entry["still_connected"] == 20
        assert 0 < entry["p50_ms"] <= entry["p99_ms"] <= entry["max_ms"]
        assert entry["rss_connected_mib"] > 0
        assert len(entry["per_message_min_p50_max_count"]) == 2
