"""The TFB runner: wrk report parsing, planning, rendering, and a real quick run.

The wrk reports below were captured from real wrk 4.1 runs on this machine
(a JSON run, a plaintext run pipelined 16 deep, a run answered 404, a run with
timeouts), so the parser is tested against what wrk really prints.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.run import Settings, build_parser, estimate_seconds, plan_runs
from bench.run import _settings as settings_from_args
from bench.tfb.load import WrkError, parse_wrk_output, wrk_command
from bench.tfb.report import Failure, Memory, Results, Run, render_markdown, render_png
from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
# A database of its own: a benchmark run may be using ``tfb`` meanwhile.
DSN = os.environ.get(
    "TFB_RUNNER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tfb_runner_test"
)

WRK_JSON = """\
Running 2s test @ http://127.0.0.1:18125/json
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    11.50ms   30.60ms 195.88ms   93.76%
    Req/Sec    17.40k    12.08k   50.93k    78.95%
  Latency Distribution
     50%    2.93ms
     75%    6.38ms
     90%   12.95ms
     99%  172.03ms
  33440 requests in 2.07s, 4.21MB read
Requests/sec:  16143.71
Transfer/sec:      2.03MB
"""

WRK_PIPELINED = """\
Running 2s test @ http://127.0.0.1:18125/plaintext
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    19.02ms   18.78ms  87.12ms    6.60%
    Req/Sec    19.07k     2.31k   22.86k    66.67%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  39871 requests in 2.09s, 5.02MB read
Requests/sec:  19057.06
Transfer/sec:      2.40MB
"""

WRK_NON_2XX = """\
Running 1s test @ http://127.0.0.1:18126/missing
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.51ms    2.69ms  15.18ms   85.24%
    Req/Sec     8.64k   678.63    10.30k    80.00%
  Latency Distribution
     50%    1.09ms
     75%    3.88ms
     90%    6.61ms
     99%   11.32ms
  8681 requests in 1.01s, 1.23MB read
  Non-2xx or 3xx responses: 8681
Requests/sec:   8608.18
Transfer/sec:      1.22MB
"""

WRK_TIMEOUTS = """\
Running 2s test @ http://127.0.0.1:18127/plaintext
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.47ms    2.28ms  11.82ms   88.22%
    Req/Sec     3.08k     3.05k    7.35k    75.00%
  Latency Distribution
     50%  563.00us
     75%    1.09ms
     90%    4.43ms
     99%   11.70ms
  1535 requests in 2.02s, 197.87KB read
  Socket errors: connect 0, read 0, write 0, timeout 16
Requests/sec:    761.58
Transfer/sec:     98.17KB
"""


# -- wrk reports ----------------------------------------------------------------------------


def test_parse_json_run() -> None:
    result = parse_wrk_output(WRK_JSON)
    assert result.requests_per_s == 16143.71
    assert result.p99_ms == 172.03
    assert result.latency_ms["50%"] == 2.93
    assert result.requests == 33440
    assert result.seconds == 2.07
    assert result.bytes_read == int(4.21 * 1024**2)
    assert result.errors == 0


def test_parse_pipelined_run_has_no_p99() -> None:
    # wrk prints 0.00us percentiles under pipelining: no latency, not zero latency.
    result = parse_wrk_output(WRK_PIPELINED)
    assert result.requests_per_s == 19057.06
    assert result.p99_ms is None
    assert result.requests == 39871


def test_parse_counts_non_2xx_as_errors() -> None:
    result = parse_wrk_output(WRK_NON_2XX)
    assert result.non_2xx == 8681
    assert result.errors == 8681
    assert result.p99_ms == 11.32


def test_parse_counts_socket_errors() -> None:
    result = parse_wrk_output(WRK_TIMEOUTS)
    assert result.socket_errors == {"connect": 0, "read": 0, "write": 0, "timeout": 16}
    assert result.errors == 16
    assert result.p99_ms == pytest.approx(11.7)
    assert parse_wrk_output(WRK_TIMEOUTS.replace("99%   11.70ms", "99%  563.00us")).p99_ms == (
        pytest.approx(0.563)
    )


def test_parse_refuses_what_is_not_a_report() -> None:
    with pytest.raises(WrkError):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused")


def test_wrk_command() -> None:
    argv = wrk_command(
        "http://h/plaintext", "plaintext", duration=6, connections=64, script=Path("p.lua")
    )
    assert argv[:3] == ["taskset", "-c", "1"]
    assert "-c64" in argv and "-d6s" in argv and "--latency" in argv and "-t1" in argv
    assert argv[-4:] == ["-s", "p.lua", "http://h/plaintext", "--", "16"][-4:]
    assert argv[argv.index("-s") + 1] == "p.lua"
    json_argv = wrk_command("http://h/json", "json", duration=1, connections=16, cpu=None)
    assert json_argv[0] == "wrk" and "-s" not in json_argv


# -- planning -------------------------------------------------------------------------------


def settings(*argv: str) -> Settings:
    return settings_from_args(build_parser().parse_args(list(argv)))


def test_full_run_estimate_is_under_40_minutes() -> None:
    # NOTE: the issue allows an hour; three interleaved rounds fit in about 30 minutes.
    full = settings()
    assert full.rounds == 3
    plan = plan_runs(full, budget=70)
    seconds = estimate_seconds(full, plan)
    assert seconds < 40 * 60, seconds
    # Every framework on both servers, except WSGI apps on uvicorn.
    servers = {server for server, _ in plan.groups}
    assert servers == {"uvicorn", "granian"}
    names = {(server, app.name) for server, apps in plan.groups for app in apps}
    for server, name in names:
        assert not (server == "uvicorn" and name in ("flask", "django"))


def test_groups_fit_the_connection_budget_and_interleave() -> None:
    full = settings("--servers", "granian", "--frameworks", "raw,oakling,starlette,fastapi")
    plan = plan_runs(full, budget=40)  # raw 8 + 16 + 16 fits, the fourth does not
    sizes = [[app.name for app in apps] for _, apps in plan.groups]
    assert sizes[0][0] == "raw"
    assert sum(len(group) for group in sizes) == len(
        [n for n in ("raw", "oakling", "starlette", "fastapi") if n not in plan.missing]
    )
    runs = plan.runs(full)
    # Within a group, a test is run on every framework before the next test.
    first = [run for run in runs if run[2] in sizes[0]]
    tests = [run[1] for run in first]
    assert tests == sorted(
        tests, key=["json", "plaintext", "db", "queries", "fortunes", "updates"].index
    )
    # Database tests have the raw-driver variant for raw and both for the others.
    assert ("granian", "db", "raw", "raw") in runs
    assert ("granian", "db", "raw", "orm") not in runs
    if "oakling" in sizes[0]:
        assert ("granian", "db", "oakling", "orm") in runs
        assert ("granian", "db", "oakling", "raw") in runs


def test_quick_times_only_raw_and_oakling_plaintext_and_json() -> None:
    quick = settings("--quick")
    assert quick.duration == 1 and quick.connections == 16
    assert quick.timed_frameworks == ["raw", "oakling"]
    assert quick.timed_tests == ["json", "plaintext"]
    assert quick.tests == ["json", "plaintext", "db", "queries", "fortunes", "updates"]
    assert quick.out.name == "results-quick.md"


# -- rendering ------------------------------------------------------------------------------


def sample_results() -> Results:
    def run(server: str, test: str, framework: str, variant: str, rps: float) -> Run:
        return Run(server, test, framework, variant, rps, 3.5, int(rps * 6))

    results = Results(meta={"title": "T", "command": "python bench/run.py", "machine": "M"})
    results.runs += [
        run("uvicorn", "json", "raw", "", 20000.0),
        run("uvicorn", "json", "oakling", "", 18000.0),
        run("uvicorn", "json", "starlette", "", 10000.0),
        run("uvicorn", "db", "raw", "raw", 8000.0),
        run("uvicorn", "db", "oakling", "orm", 4000.0),
        run("uvicorn", "db", "oakling", "raw", 7200.0),
        run("uvicorn", "db", "starlette", "orm", 2000.0),
    ]
    results.runs[2].errors = 5
    results.failures.append(
        Failure("uvicorn", "falcon", "fortunes", "orm", "/fortunes: rows are not sorted")
    )
    results.memory += [
        Memory("uvicorn", "raw", 40 * 2**20),
        Memory("uvicorn", "oakling", 64 * 2**20),
    ]
    results.not_applicable.append(("uvicorn", "flask"))
    return results


def test_render_markdown() -> None:
    text = render_markdown(sample_results())
    assert "## uvicorn" in text
    assert "| oakling | 18,000 | 3.5 | 0.90 | 1.00 | 0 |" in text
    assert "| starlette | 10,000 | 3.5 | 0.50 | 0.56 | 5 ! |" in text
    # Database rows: ORM and raw variants apart; x raw against raw ASGI + asyncpg,
    # x oakling against oakling's same variant.
    assert "| oakling (orm) | 4,000 | 3.5 | 0.50 | 1.00 | 0 |" in text
    assert "| oakling (raw) | 7,200 | 3.5 | 0.90 | 1.00 | 0 |" in text
    assert "| starlette (orm) | 2,000 | 3.5 | 0.25 | 0.50 | 0 |" in text
    assert "| falcon (orm) | FAILED |" in text
    assert "uvicorn fortunes falcon (orm): /fortunes: rows are not sorted" in text
    assert "| oakling | 64.0 |" in text
    assert "N/A on uvicorn" in text and "flask" in text
    # Rows sorted fastest first.
    assert text.index("| raw | 20,000") < text.index("| oakling | 18,000")


def test_results_round_trip_json() -> None:
    results = sample_results()
    again = Results.from_json(results.to_json())
    assert render_markdown(again) == render_markdown(results)


def test_render_png(tmp_path: Path) -> None:
    try:
        import matplotlib  # noqa: F401 - a benchmark dependency (bench/requirements.txt)
    except ImportError:
        skip_or_fail("matplotlib is not installed (pip install -r bench/requirements.txt)")
    path = tmp_path / "results.png"
    render_png(sample_results(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- a real quick run -----------------------------------------------------------------------


@pytest.mark.parametrize("server", ["uvicorn", "rsgi"])
def test_quick_run_end_to_end(tmp_path: Path, server: str) -> None:
    if shutil.which("wrk") is None:
        skip_or_fail("wrk is not installed")
    # The raw app opens its asyncpg pool at start-up: it needs the database.
    from bench.tfb.db import prepare_database

    try:
        asyncio.run(prepare_database(DSN))
    except Exception as ex:  # noqa: BLE001 - any driver error means "no database here"
        skip_or_fail(f"PostgreSQL for the TFB database is unreachable: {ex!r}")
    out = tmp_path / "quick.md"
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--no-setup",
            "--frameworks",
            "raw,oakling",
            "--servers",
            server,
            "--tests",
            "json,plaintext",
            "--out",
            str(out),
        ],
        env={**os.environ, "TFB_DATABASE_URL": DSN},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert elapsed < 60, elapsed
    text = out.read_text()
    for test in ("JSON serialization", "Plaintext (pipelined x16)"):
        assert f"### {test}" in text
    assert "| raw |" in text and "| oakling |" in text
    assert "FAILED" not in text
    assert f"[4/4] {server} plaintext oakling:" in done.stderr
    assert "req/s" in done.stderr and "ETA" in done.stderr


def test_rsgi_serves_only_the_apps_that_declare_an_entry_point() -> None:
    from bench.tfb.servers import app_info, server_command

    settings = settings_from_args(
        build_parser().parse_args(["--servers", "rsgi", "--frameworks", "raw,oakling,flask"])
    )
    plan = plan_runs(settings, None)
    assert [(server, [app.name for app in apps]) for server, apps in plan.groups] == [
        ("rsgi", ["raw", "oakling"])
    ]
    assert ("rsgi", "flask") in plan.not_applicable
    # The raw floor has its own RSGI callable; an oakling App is one itself.
    assert server_command("rsgi", app_info("raw"), 8000, cpu=None)[-3:] == [
        "--log-level",
        "warning",
        "bench.tfb.apps.raw:rsgi_app",
    ]
    command = server_command("rsgi", app_info("oakling"), 8000, cpu=None)
    assert command[command.index("--interface") + 1] == "rsgi"
    assert command[-1] == "bench.tfb.apps.oakling:app"
    # Not a default server: the published tables stay uvicorn and granian.
    assert settings_from_args(build_parser().parse_args([])).servers == ["uvicorn", "granian"]


# -- the database ---------------------------------------------------------------------------


def test_prepare_database_is_idempotent_and_repairs() -> None:
    from bench.tfb.db import FORTUNES, WORLD_ROWS, fetch_fortunes, fetch_worlds, prepare_database

    try:
        asyncio.run(prepare_database(DSN))
    except Exception as ex:  # noqa: BLE001 - any driver error means "no database here"
        skip_or_fail(f"PostgreSQL for the TFB database is unreachable: {ex!r}")
    worlds = fetch_worlds(DSN)
    assert sorted(worlds) == list(range(1, WORLD_ROWS + 1))
    assert all(1 <= number <= 10000 for number in worlds.values())
    assert sorted(fetch_fortunes(DSN)) == list(FORTUNES)
    # A correct table is left alone (its random numbers are not reset) ...
    asyncio.run(prepare_database(DSN))
    assert fetch_worlds(DSN) == worlds

    # ... a damaged one is refilled.
    async def damage() -> None:
        import asyncpg

        conn = await asyncpg.connect(DSN)
        try:
            await conn.execute("DELETE FROM world WHERE id > 9990")
            await conn.execute("UPDATE fortune SET message = 'x' WHERE id = 12")
        finally:
            await conn.close()

    asyncio.run(damage())
    asyncio.run(prepare_database(DSN))
    assert sorted(fetch_worlds(DSN)) == list(range(1, WORLD_ROWS + 1))
    assert sorted(fetch_fortunes(DSN)) == list(FORTUNES)


def test_rounds_collapse_to_the_median_and_keep_every_error() -> None:
    from bench.run import median_runs
    from bench.tfb.report import Run

    def run(rps: float, p99: float, errors: int = 0, framework: str = "oakling") -> Run:
        return Run("uvicorn", "json", framework, "", rps, p99, int(rps), errors)

    collapsed = median_runs(
        [run(100, 9.0), run(300, 1.0, errors=2), run(200, 5.0), run(50, 3.0, framework="raw")]
    )
    by_name = {item.framework: item for item in collapsed}
    assert (by_name["oakling"].requests_per_s, by_name["oakling"].p99_ms) == (200, 5.0)
    assert by_name["oakling"].errors == 2
    assert by_name["raw"].requests_per_s == 50
    assert settings("--quick").rounds == 1


def test_ratios_are_per_round_medians_with_their_range() -> None:
    """Round k of oakling is divided by round k of raw: drift that moves both cancels."""
    from bench.run import median_runs
    from bench.tfb.report import Results, Run, render_markdown, round_ratios

    def run(framework: str, rps: float) -> Run:
        return Run("uvicorn", "json", framework, "", rps, 1.0, int(rps))

    # The machine slowed down in round 2: both fell, the ratio barely moved.
    timed = [run("raw", 1000), run("oakling", 950), run("raw", 500), run("oakling", 480)]
    timed += [run("raw", 1000), run("oakling", 900)]
    collapsed = median_runs(timed)
    by_name = {item.framework: item for item in collapsed}
    assert by_name["oakling"].rounds == [950, 480, 900]
    assert round_ratios(by_name["oakling"], by_name["raw"]) == [0.9, 0.95, 0.96]
    table = render_markdown(Results(runs=collapsed))
    assert (
        "| oakling | 900 | 1.0 | 0.95 (0.90-0.96; CI 0.90-0.96) | "
        "1.00 (1.00-1.00; CI 1.00-1.00) | 0 |"
    ) in table
    # One round (or results written before rounds were kept): the plain ratio.
    single = render_markdown(Results(runs=[run("raw", 1000), run("oakling", 950)]))
    assert "| oakling | 950 | 1.0 | 0.95 | 1.00 | 0 |" in single


def test_bootstrap_ci_narrows_with_rounds_and_holds_the_median() -> None:
    from bench.tfb.report import bootstrap_ci

    nine = [0.90, 0.95, 0.96, 0.93, 0.94, 0.95, 0.97, 0.92, 0.95]
    low, high = bootstrap_ci(nine)
    assert min(nine) <= low <= 0.95 <= high <= max(nine)
    assert high - low < max(nine) - min(nine)  # narrower than the range
    assert bootstrap_ci(nine) == (low, high)  # seeded: a re-rendered report agrees
    assert bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)
    assert bootstrap_ci([0.7]) == (0.7, 0.7)
    with pytest.raises(ValueError):
        bootstrap_ci([])


def _rounds(framework: str, values: list[float], test: str = "db", variant: str = "orm") -> list:
    return [Run("uvicorn", test, framework, variant, rps, 1.0, int(rps)) for rps in values]


def test_unstable_ratios_names_the_noisy_ratio_only() -> None:
    from bench.run import unstable_ratios

    raw = _rounds("raw", [1000, 800, 1200, 1000, 900], variant="raw")
    steady = _rounds("oakling", [500, 400, 600, 500, 450])  # 0.5 every round
    noisy = _rounds("falcon", [300, 600, 240, 700, 300])
    assert unstable_ratios(raw + steady, "uvicorn", 0.05) == []
    found = unstable_ratios(raw + steady + noisy, "uvicorn", 0.05)
    assert len(found) == 1 and found[0].startswith("db falcon (orm) +-")
    assert unstable_ratios(raw + noisy, "granian", 0.05) == []  # another server
    # A single round cannot be judged; an app missing rounds is left out.
    assert unstable_ratios(raw[:1] + steady[:1], "uvicorn", 0.05) == ["db oakling (orm) (1 round)"]
    assert unstable_ratios(raw + steady[:3], "uvicorn", 0.05) == []


def test_repeat_until_stable_adds_rounds_until_stable_or_the_cap() -> None:
    from bench.run import _another_round

    chosen = settings("--rounds", "3", "--repeat-until-stable", "--max-rounds", "5")
    assert (chosen.until_stable, chosen.max_rounds, chosen.rounds) == (True, 5, 3)
    assert settings("--quick", "--repeat-until-stable").until_stable is False
    raw = _rounds("raw", [1000, 1000, 1000, 1000, 1000], variant="raw")
    noisy = Results(runs=raw[:3] + _rounds("oakling", [300, 600, 450]))
    assert [_another_round(chosen, "uvicorn", noisy, done) for done in range(3)] == [True] * 3
    assert _another_round(chosen, "uvicorn", noisy, 3) is True  # still too wide
    assert _another_round(chosen, "uvicorn", noisy, 5) is False  # the cap
    steady = Results(runs=raw[:3] + _rounds("oakling", [500, 500, 505]))
    assert _another_round(chosen, "uvicorn", steady, 3) is False
    plain = settings("--rounds", "3")
    assert _another_round(plain, "uvicorn", noisy, 3) is False
