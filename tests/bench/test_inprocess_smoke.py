"""Smoke tests of the in-process benchmark harness, ``bench/inprocess.py``.

The harness runs for real with a tiny request count: every framework that is
installed must answer every case correctly (and refuse the typed case's bad
requests with a 4xx) and be timed. Peers (Starlette, FastAPI, Litestar,
BlackSheep, Falcon) are benchmark dependencies only, so their rows are
skipped when they are not installed on a newcomer's machine and fail in
CI's benchmark step, which runs these tests in ``bench/.venv``. The
harness's gate, which refuses to time an app that answers wrongly or does
not validate, is attacked with broken apps. ``bench/importtime.py`` runs once, on oakling and Flask.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.bench.conftest import load_script
from tests.conftest import skip_or_fail

BENCH = Path(__file__).resolve().parents[2] / "bench" / "inprocess.py"
IMPORTTIME = BENCH.with_name("importtime.py")
FRAMEWORKS = [
    "raw",
    "oakling",
    "starlette",
    "fastapi",
    "litestar",
    "blacksheep",
    "falcon",
    "flask",
]
PEERS = set(FRAMEWORKS) - {"raw", "oakling"}
CASES = {"plaintext", "json", "path-param", "typed", "deps", "response-model", "cached-hit"}
# NOTE: cases only some frameworks answer (a peer needs an extension for it:
# slowapi, fastapi-limiter, Flask-Limiter).
OPTIONAL_CASES = {
    "ratelimited": {"raw", "oakling", "starlette", "fastapi", "flask"},
    "i18n": {"oakling"},
}
#: The rate-limit extension each peer's ``ratelimited`` row needs.
LIMITERS = {
    "starlette": ["slowapi"],
    "fastapi": ["slowapi", "fastapi_limiter"],
    "flask": ["flask_limiter"],
}


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    return load_script(BENCH, "oakling_bench_inprocess")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--requests",
            "20",
            "--repeat",
            "1",
            "--warmup",
            "2",
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


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_installed_framework_passes_its_check_and_is_timed(
    report: dict[str, Any], framework: str
) -> None:
    if framework in PEERS and importlib.util.find_spec(framework) is None:
        assert framework in report["skipped"]
        skip_or_fail(f"{framework} is not installed (pip install -r bench/requirements.txt)")
    rows = [row for row in report["results"] if row["framework"] == framework]
    idiomatic = {row["case"] for row in rows if not row["variant"]}
    assert set(report["cases"]) == CASES | set(OPTIONAL_CASES)
    missing = {case for case, peers in report["not_applicable"].items() if framework in peers}
    required = CASES - missing
    expected = required | {case for case, who in OPTIONAL_CASES.items() if framework in who}
    if framework in ("raw", "oakling"):
        assert idiomatic == expected
    else:
        assert required <= idiomatic <= expected
    # NOTE: a case raw does not answer (i18n) has no ratio to raw.
    raw_cases = {row["case"] for row in report["results"] if row["framework"] == "raw"}
    for row in rows:
        assert row["ok"], row
        assert row["error"] is None
        assert len(row["runs_us"]) == 1
        assert 0 < row["best_us"] <= row["median_us"]
        if row["case"] in raw_cases:
            assert row["ratio_to_raw"] > 0
        else:
            assert row["ratio_to_raw"] is None
        assert row["ratio_to_oakling"] > 0


def test_report_ratios_are_relative_to_raw_and_oakling(report: dict[str, Any]) -> None:
    for row in report["results"]:
        if row["framework"] == "raw":
            assert row["ratio_to_raw"] == 1.0
        if row["framework"] == "oakling" and not row["variant"]:
            assert row["ratio_to_oakling"] == 1.0
    assert report["requests"] == 20
    assert report["repeat"] == 1


def test_table_output_names_every_case() -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--requests", "50", "--repeat", "1", "--warmup", "0"]
        + ["--frameworks", "raw,oakling", "--cases", "plaintext,json", "--loop", "asyncio"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "loop asyncio" in completed.stdout
    lines = completed.stdout.splitlines()
    for case in ("plaintext", "json"):
        assert any(line.startswith(case) and " oakling " in line for line in lines)
    assert not any(line.startswith("path-param") for line in lines)


def test_unknown_framework_is_a_usage_error() -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--frameworks", "nosuch"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "unknown framework 'nosuch'" in completed.stderr


# -- the correctness gate, attacked -------------------------------------------------

Message = dict[str, Any]


def _app(
    status: int = 200,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"Hello, World!",
) -> Callable[..., Any]:
    raw_headers = (
        [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13")]
        if headers is None
        else headers
    )

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _lazy_after_first_call() -> Callable[..., Any]:
    """Answer correctly once, then skip the body: less work than the others."""
    good = _app()
    calls = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal calls
        if scope["type"] == "http":
            calls += 1
            if calls > 1:
                await send({"type": "http.response.start", "status": 200, "headers": []})
                return
        await good(scope, receive, send)

    return app


def _broken_factory() -> Callable[..., Any]:
    raise RuntimeError("cannot build")


BROKEN: dict[str, tuple[Callable[[], Callable[..., Any]], str]] = {
    "wrong body": (lambda: _app(body=b"Hello, World?"), "body"),
    "server error": (lambda: _app(status=500), "status 500"),
    "wrong content type": (
        lambda: _app(headers=[(b"content-type", b"text/html"), (b"content-length", b"13")]),
        "content-type",
    ),
    "no content type": (lambda: _app(headers=[(b"content-length", b"13")]), "content-type"),
    "wrong content length": (
        lambda: _app(headers=[(b"content-type", b"text/plain"), (b"content-length", b"99")]),
        "content-length",
    ),
    "does less work when timed": (_lazy_after_first_call, "messages"),
    "fails to build": (_broken_factory, "could not start"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_wrong_answer_is_reported_and_never_timed(harness: ModuleType, name: str) -> None:
    factory, complaint = BROKEN[name]
    good = harness.Bench("raw", "plaintext", lambda: _app())
    broken = harness.Bench("raw", "plaintext", factory, variant=name)
    result = harness.run(
        frameworks=["raw"], requests=20, repeat=2, warmup=0, loop="asyncio", benches=[good, broken]
    )
    by_label = {item.bench.label: item for item in result.results}
    assert by_label["raw"].error is None
    assert len(by_label["raw"].runs_us) == 2
    failed = by_label[f"raw [{name}]"]
    assert failed.error is not None and complaint in failed.error
    assert failed.runs_us == []
    assert result.failed == [failed]
    assert "FAILED" in result.to_text()
    assert result.to_json()["results"][1]["ok"] is False


def _answers_typed_without_validating() -> Callable[..., Any]:
    """Answer the typed case's expected body to any request: no validation."""
    expected = b'{"id":42,"q":"red","name":"Widget","total":25.0,"tag_count":2}'
    return _app(
        headers=[(b"content-type", b"application/json")],
        body=expected,
    )


def _validates_all_but_tags() -> Callable[..., Any]:
    """Refuse bad requests except a non-string tag: shallow validation."""
    good = _answers_typed_without_validating()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            body = (await receive())["body"]
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            query = scope["query_string"]
            if (
                not isinstance(data, dict)
                or not isinstance(data.get("price"), int | float)
                or "name" not in data
                or b"limit=10" not in query
                or b"q=" not in query
            ):
                await send({"type": "http.response.start", "status": 422, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
        await good(scope, receive, send)

    return app


@pytest.mark.parametrize(
    ("factory", "complaint"),
    [
        (_answers_typed_without_validating, "price not a number: status 200"),
        (_validates_all_but_tags, "a tag not a string: status 200"),
    ],
)
def test_an_app_that_does_not_validate_is_never_timed(
    harness: ModuleType, factory: Callable[[], Callable[..., Any]], complaint: str
) -> None:
    harness.available_frameworks(["raw"])  # loads the raw apps
    (validating,) = [
        item for item in harness.BENCHES if item.framework == "raw" and item.case == "typed"
    ]
    lax = harness.Bench("raw", "typed", factory, variant="lax")
    result = harness.run(
        frameworks=["raw"],
        cases=["typed"],
        requests=5,
        repeat=1,
        warmup=0,
        loop="asyncio",
        benches=[validating, lax],
    )
    by_label = {item.bench.label: item for item in result.results}
    assert by_label["raw"].error is None, by_label["raw"].error
    assert by_label["raw [lax]"].error is not None
    assert complaint in by_label["raw [lax]"].error
    assert by_label["raw [lax]"].runs_us == []


def test_importtime_reports_oakling_and_flask() -> None:
    completed = subprocess.run(
        [sys.executable, str(IMPORTTIME), "--runs", "1", "--frameworks", "oakling,flask"]
        + ["--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    rows = {row["framework"]: row for row in data["results"]}
    if "flask" in data["skipped"]:
        assert set(rows) == {"oakling"}
        skip_or_fail("flask is not installed (pip install -r bench/requirements.txt)")
    assert rows["flask"]["importtime_ratio_to_flask"] == 1.0
    oakling = rows["oakling"]
    assert oakling["error"] is None
    assert oakling["importtime_median_us"] > 0
    assert oakling["modules"] > 10
    assert len(oakling["wall_us"]) == 1


def test_json_bodies_are_compared_as_values(harness: ModuleType) -> None:
    case = harness.CASES["json"]
    spaced = b'{"message": "Hello, World!"}'
    answer = harness.Answer(
        200, [(b"content-type", b"application/json")], spaced, messages=2, receives=0
    )
    harness.check(answer, case)
    wrong = harness.Answer(
        200, [(b"content-type", b"application/json")], b'{"message":"Hello"}', 2, 0
    )
    with pytest.raises(harness.BenchError, match="body"):
        harness.check(wrong, case)


@pytest.mark.parametrize("framework", sorted(LIMITERS))
def test_each_rate_limit_extension_is_timed_beside_oakling(
    report: dict[str, Any], framework: str
) -> None:
    missing = [name for name in LIMITERS[framework] if importlib.util.find_spec(name) is None]
    if importlib.util.find_spec(framework) is None or missing:
        skip_or_fail(
            f"{framework} or {missing} not installed (pip install -r bench/requirements.txt)"
        )
    rows = [
        row
        for row in report["results"]
        if row["framework"] == framework and row["case"] == "ratelimited"
    ]
    # one row per extension (fastapi: slowapi, and fastapi-limiter as a variant), all checked
    assert len(rows) == len(LIMITERS[framework]), rows
    assert all(row["ok"] and row["ratio_to_oakling"] > 0 for row in rows), rows
