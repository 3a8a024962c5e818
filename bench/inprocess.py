"""In-process overhead: call each framework's ASGI app directly, many times.

No server and no network: each app gets a prepared HTTP scope (what uvicorn
builds for a wrk request), a ``receive`` that returns the request body and a
``send`` that counts messages. What is left is what the framework itself costs
per request: routing, request and response objects, validation, dependency
injection, serialisation.

Usage::

    python bench/inprocess.py [--requests N] [--repeat R] [--json]
                              [--frameworks raw,oakling,...] [--cases plaintext,...]
                              [--loop auto|asyncio|uvloop]

The cases are :data:`inprocess_apps.CASES`; the apps are in
``bench/inprocess_apps/<framework>.py``, one factory per (framework, case),
registered with ``@bench(...)`` and written in the framework's idiomatic
style. Before timing, each app answers the request once and the answer is
checked (status, body, content type, content length), and each of the
case's bad requests must get a 4xx; a framework that fails is reported and
not timed, so none is ever timed doing less work than the others. Peers that
are not installed are skipped (they are benchmark dependencies only: see
``bench/requirements.txt``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness import (  # noqa: E402 - the sibling helpers, found through HERE
    Answer,
    ASGIApp,
    BenchError,
    Case,
    Lifespan,
    Prepared,
    Reject,
    Timings,
    add_common_arguments,
    call_once,
    check,
    check_rejects,
    fmt,
    header_lines,
    loop_factory,
    prepare,
    request_scope,
    round_or_none,
    run_info,
    shutdown_all,
    time_interleaved,
    versions_of,
)
from inprocess_apps import (  # noqa: E402
    BENCHES,
    CASES,
    FRAMEWORKS,
    NOT_APPLICABLE,
    SECRET_KEY,
    Bench,
    bench,
    is_installed,
    load,
)

__all__ = [
    "BENCHES",
    "CASES",
    "FRAMEWORKS",
    "SECRET_KEY",
    "ASGIApp",
    "Answer",
    "Bench",
    "BenchError",
    "Case",
    "Lifespan",
    "Reject",
    "Report",
    "Result",
    "available_frameworks",
    "bench",
    "call_once",
    "check",
    "main",
    "request_scope",
    "run",
    "verify",
]


async def verify(app: ASGIApp, case: Case, state: dict[str, Any] | None = None) -> Answer:
    """Call ``app`` once with ``case`` and check the answer, then the rejects.

    Raises:
        BenchError: If the answer is wrong, or a bad request is not refused.
    """
    state = {} if state is None else state
    answer = await call_once(app, case, state)
    check(answer, case)
    await check_rejects(app, case, state)
    return answer


@dataclass(kw_only=True)
class Result(Timings):
    """Timings of one bench, in microseconds per request."""

    bench: Bench


@dataclass
class Report:
    """Everything one run measured, plus what it skipped and why."""

    requests: int
    repeat: int
    loop: str
    results: list[Result]
    skipped: dict[str, str]
    versions: dict[str, str]

    def baseline(self, case: str, framework: str) -> Result | None:
        """Return the idiomatic ``framework`` result for ``case`` if it was timed."""
        for result in self.results:
            bench_ = result.bench
            if (
                bench_.case == case
                and bench_.framework == framework
                and not bench_.variant
                and result.error is None
            ):
                return result
        return None

    def ratio(self, result: Result, framework: str, best: bool = False) -> float | None:
        """Return ``result``'s median over ``framework``'s median for the same case.

        With ``best``, the ratio of the fastest repeats instead (less exposed
        to other processes on a shared machine, which only ever add time).
        """
        base = self.baseline(result.bench.case, framework)
        if base is None or result.error is not None:
            return None
        if best:
            return result.best_us / base.best_us
        return result.median_us / base.median_us

    @property
    def failed(self) -> list[Result]:
        """Results whose app failed verification or timing."""
        return [result for result in self.results if result.error is not None]

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        rows = []
        for result in self.results:
            bench_ = result.bench
            row: dict[str, Any] = {
                "framework": bench_.framework,
                "variant": bench_.variant,
                "label": bench_.label,
                "case": bench_.case,
                "ok": result.error is None,
                "error": result.error,
            }
            if result.error is None:
                row.update(
                    median_us=round(result.median_us, 3),
                    best_us=round(result.best_us, 3),
                    runs_us=[round(value, 3) for value in result.runs_us],
                    ratio_to_raw=round_or_none(self.ratio(result, "raw")),
                    ratio_to_oakling=round_or_none(self.ratio(result, "oakling")),
                    ratio_to_raw_best=round_or_none(self.ratio(result, "raw", best=True)),
                    ratio_to_oakling_best=round_or_none(self.ratio(result, "oakling", best=True)),
                )
            rows.append(row)
        return {
            "requests": self.requests,
            "repeat": self.repeat,
            "loop": self.loop,
            **run_info(self.versions),
            "cases": {name: CASES[name].description for name in _cases_of(self.results)},
            "results": rows,
            "skipped": self.skipped,
            "not_applicable": {
                case: NOT_APPLICABLE[case]
                for case in _cases_of(self.results)
                if case in NOT_APPLICABLE
            },
        }

    def to_text(self) -> str:
        """Return the report as a table, one row per (case, framework)."""
        lines = header_lines(
            f"In-process ASGI overhead: {self.requests} requests x {self.repeat} repeats, "
            f"loop {self.loop}",
            self.versions,
        )
        lines += [
            "",
            f"{'case':<11} {'framework':<28} {'median us':>10} {'best us':>9} "
            f"{'x raw':>7} {'x oakling':>10} {'best x oak':>10}",
        ]
        for case in _cases_of(self.results):
            for result in self.results:
                bench_ = result.bench
                if bench_.case != case:
                    continue
                if result.error is not None:
                    lines.append(f"{case:<11} {bench_.label:<28} FAILED: {result.error}")
                    continue
                lines.append(
                    f"{case:<11} {bench_.label:<28} {result.median_us:>10.2f} "
                    f"{result.best_us:>9.2f} {fmt(self.ratio(result, 'raw')):>7} "
                    f"{fmt(self.ratio(result, 'oakling')):>10} "
                    f"{fmt(self.ratio(result, 'oakling', best=True)):>10}"
                )
            lines.append("")
        lines.append(
            "Ratios: median over the same case's raw ASGI / idiomatic oakling median; "
            "'best x oak': best run over oakling's best run."
        )
        for case in _cases_of(self.results):
            lines.append(f"  {case}: {CASES[case].description}")
        for name, reason in self.skipped.items():
            lines.append(f"skipped {name}: {reason}")
        for case in _cases_of(self.results):
            for name, reason in NOT_APPLICABLE.get(case, {}).items():
                lines.append(f"no {case} app for {name}: {reason}")
        return "\n".join(lines)


def _cases_of(results: Iterable[Result]) -> list[str]:
    seen = {result.bench.case for result in results}
    return [name for name in CASES if name in seen]


def available_frameworks(wanted: Iterable[str]) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Split ``wanted`` into installed frameworks (their apps loaded) and skipped ones.

    Returns:
        ``(frameworks, skipped, versions)``: names that import; ``{name:
        reason}`` for those that do not; ``{name: version}``.
    """
    ready: list[str] = []
    skipped: dict[str, str] = {}
    versions: dict[str, str] = {}
    for name in wanted:
        framework = FRAMEWORKS[name]
        if not is_installed(name):
            skipped[name] = (
                f"not installed ({framework.module}); pip install -r bench/requirements.txt"
            )
            continue
        load(name)
        if framework.dist is not None:
            versions.update({name: versions_of([framework.dist])[framework.dist]})
        ready.append(name)
    return ready, skipped, versions


async def _run_async(
    benches: Sequence[Bench], requests: int, repeat: int, warmup: int
) -> list[Result]:
    prepared: list[Prepared] = []
    results: list[Result] = []
    for bench_ in benches:
        result = Result(bench=bench_)
        results.append(result)
        case = CASES[bench_.case]

        async def verify_case(app: ASGIApp, state: dict[str, Any], case: Case = case) -> Answer:
            return await verify(app, case, state)

        item = await prepare(result, bench_.factory, case, verify_case, warmup)
        if item is not None:
            prepared.append(item)
    await time_interleaved(prepared, requests, repeat)
    await shutdown_all(prepared)
    return results


def run(
    frameworks: Sequence[str] | None = None,
    cases: Sequence[str] | None = None,
    requests: int = 50_000,
    repeat: int = 5,
    loop: str = "auto",
    warmup: int | None = None,
    benches: Sequence[Bench] | None = None,
) -> Report:
    """Verify and time the registered benches; return the report.

    Args:
        frameworks: Names to include (default: all in :data:`FRAMEWORKS`).
        cases: Case names to include (default: all in :data:`CASES`).
        requests: Requests per timed run.
        repeat: Timed runs per bench (interleaved across benches).
        loop: ``auto`` (uvloop when installed), ``uvloop`` or ``asyncio``.
        warmup: Untimed requests per bench before timing (default
            ``min(requests, 2000)``).
        benches: Time these instead of the registry (for tests).

    Raises:
        ValueError: For an unknown framework or case name.
    """
    names = list(frameworks) if frameworks else list(FRAMEWORKS)
    wanted_cases = list(cases) if cases else list(CASES)
    for name in names:
        if name not in FRAMEWORKS:
            raise ValueError(f"unknown framework {name!r}; known: {', '.join(FRAMEWORKS)}")
    for name in wanted_cases:
        if name not in CASES:
            raise ValueError(f"unknown case {name!r}; known: {', '.join(CASES)}")
    ready, skipped, versions = available_frameworks(names)
    pool = BENCHES if benches is None else benches
    order = {name: index for index, name in enumerate(FRAMEWORKS)}
    selected = sorted(
        (bench_ for bench_ in pool if bench_.framework in ready and bench_.case in wanted_cases),
        key=lambda item: (list(CASES).index(item.case), order[item.framework]),
    )
    factory, loop_name = loop_factory(loop)
    with asyncio.Runner(loop_factory=factory) as runner:
        results = runner.run(
            _run_async(
                selected, requests, repeat, min(requests, 2000) if warmup is None else warmup
            )
        )
    return Report(requests, repeat, loop_name, results, skipped, versions)


def main(argv: Sequence[str] | None = None) -> int:
    """Run from the command line; exit status 1 if any framework failed."""
    parser = argparse.ArgumentParser(
        description="Time each framework's ASGI app called in-process (no server).",
        epilog="cases: " + "; ".join(f"{case.name}: {case.description}" for case in CASES.values()),
    )
    add_common_arguments(parser, requests=50_000, repeat=5, warmup=2000)
    parser.add_argument("--frameworks", help=f"comma-separated subset of {','.join(FRAMEWORKS)}")
    parser.add_argument("--cases", help=f"comma-separated subset of {','.join(CASES)}")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.repeat < 1:
        parser.error("--requests and --repeat must be at least 1")
    try:
        report = run(
            frameworks=args.frameworks.split(",") if args.frameworks else None,
            cases=args.cases.split(",") if args.cases else None,
            requests=args.requests,
            repeat=args.repeat,
            loop=args.loop,
            warmup=args.warmup,
        )
    except ValueError as ex:
        parser.error(str(ex))
    print(json.dumps(report.to_json(), indent=2) if args.json else report.to_text())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
