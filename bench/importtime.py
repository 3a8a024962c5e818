"""Import time of oakling and its peers: ``-X importtime`` and whole-process wall time.

Two readings per framework, each in fresh interpreters (``sys.executable``,
with ``-S`` left off, as a user's ``python app.py`` starts):

- ``importtime``: ``python -X importtime -c "import X"``; the cumulative
  microseconds of the top-level lines of ``X`` (``X`` or ``X.sub``), as
  CPython reports them (the import of ``X`` and everything it imports that
  was not loaded yet). The median over the runs;
- ``wall``: ``python -c "import X"`` timed from the parent
  (``time.perf_counter_ns`` around the process), minus the same for
  ``python -c pass`` (the interpreter's own start-up): the best of the runs,
  since other processes only ever add time.

Usage::

    python bench/importtime.py [--runs N] [--frameworks oakling,flask,...] [--json]

``X`` is what a hello-world app of the framework imports: the package for
oakling, Flask, FastAPI, Litestar and BlackSheep (their API is there);
``starlette.applications, starlette.responses, starlette.routing`` for
Starlette and ``django.http, django.urls`` for Django, whose packages are
near empty; ``falcon.asgi`` for Falcon's ASGI app.

The target (issue 5): ``import oakling`` faster than ``import flask``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness import fmt, header_lines, round_or_none, run_info, versions_of  # noqa: E402 - sibling, through HERE

__all__ = ["FRAMEWORKS", "Measure", "Report", "main", "measure", "run"]

# framework -> (modules a hello-world app imports, distribution for the version)
FRAMEWORKS: dict[str, tuple[str, str]] = {
    "oakling": ("oakling", "oakling"),
    "flask": ("flask", "flask"),
    "django": ("django.http, django.urls", "django"),
    "starlette": ("starlette.applications, starlette.responses, starlette.routing", "starlette"),
    "fastapi": ("fastapi", "fastapi"),
    "litestar": ("litestar", "litestar"),
    "blacksheep": ("blacksheep", "blacksheep"),
    "falcon": ("falcon.asgi", "falcon"),
}

_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


@dataclass
class Measure:
    """The import time readings of one module, in microseconds."""

    name: str
    module: str
    importtime_us: list[int] = field(default_factory=list)
    wall_us: list[float] = field(default_factory=list)
    modules: int = 0
    error: str | None = None

    @property
    def importtime_median_us(self) -> float:
        """The median cumulative ``-X importtime`` of the module."""
        return statistics.median(self.importtime_us)

    @property
    def wall_best_us(self) -> float:
        """The fastest whole-process wall time, the bare interpreter's subtracted."""
        return min(self.wall_us)


def _root(modules: str) -> str:
    return modules.split(".", 1)[0].split(",", 1)[0].strip()


def _importtime(module: str) -> tuple[int, int]:
    """Return ``(cumulative us, modules imported)`` of ``import module`` from ``-X importtime``.

    ``module`` may name several, comma-separated, of one package.

    Raises:
        RuntimeError: When the import fails or its line is missing.
    """
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr.strip().splitlines()[-1])
    root = _root(module)
    cumulative = 0
    count = 0
    for line in completed.stderr.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        count += 1
        name = match.group(4)
        # NOTE: top-level lines have one space of indentation; a package's
        # submodules imported by its modules are nested inside them.
        if len(match.group(3)) <= 1 and (name == root or name.startswith(root + ".")):
            cumulative += int(match.group(2))
    if not cumulative:
        raise RuntimeError(f"no importtime line for {module}")
    return cumulative, count


def _wall_ns(code: str) -> int:
    """Return the wall nanoseconds of ``python -c code``, start to exit.

    Raises:
        RuntimeError: When the process fails.
    """
    start = time.perf_counter_ns()
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter_ns() - start
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr.strip().splitlines()[-1])
    return elapsed


def measure(names: Sequence[str], runs: int) -> tuple[list[Measure], list[float]]:
    """Measure each framework ``runs`` times, interleaved; return them and the baseline.

    Returns:
        ``(measures, baseline_us)``: the readings, and the wall microseconds
        of each ``python -c pass`` (one per run).
    """
    measures = [Measure(name, FRAMEWORKS[name][0]) for name in names]
    baseline: list[float] = []
    for _ in range(runs):
        # NOTE: interleaved, the bare interpreter each round, so that drift
        # on a shared machine hits every reading alike.
        base_ns = min(_wall_ns("pass") for _ in range(2))
        baseline.append(base_ns / 1000)
        for item in measures:
            if item.error is not None:
                continue
            try:
                cumulative, count = _importtime(item.module)
                wall = _wall_ns(f"import {item.module}")
            except RuntimeError as ex:
                item.error = str(ex)
                continue
            item.importtime_us.append(cumulative)
            item.modules = count
            item.wall_us.append((wall - base_ns) / 1000)
    return measures, baseline


@dataclass
class Report:
    """Import times of every framework measured, plus those skipped."""

    runs: int
    measures: list[Measure]
    baseline_us: list[float]
    skipped: dict[str, str]
    versions: dict[str, str]

    def _find(self, name: str) -> Measure | None:
        for item in self.measures:
            if item.name == name and item.error is None:
                return item
        return None

    def ratio(self, item: Measure, name: str, wall: bool) -> float | None:
        """Return ``item``'s reading over framework ``name``'s (``None`` if missing)."""
        base = self._find(name)
        if base is None or item.error is not None:
            return None
        if wall:
            return item.wall_best_us / base.wall_best_us
        return item.importtime_median_us / base.importtime_median_us

    @property
    def failed(self) -> list[Measure]:
        """Frameworks whose import failed."""
        return [item for item in self.measures if item.error is not None]

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (microseconds)."""
        rows: list[dict[str, Any]] = []
        for item in self.measures:
            row: dict[str, Any] = {"framework": item.name, "imports": item.module}
            row["error"] = item.error
            if item.error is None:
                row.update(
                    importtime_median_us=round(item.importtime_median_us),
                    importtime_us=item.importtime_us,
                    modules=item.modules,
                    wall_best_us=round(item.wall_best_us),
                    wall_us=[round(value) for value in item.wall_us],
                    importtime_ratio_to_flask=round_or_none(self.ratio(item, "flask", wall=False)),
                    wall_ratio_to_flask=round_or_none(self.ratio(item, "flask", wall=True)),
                )
            rows.append(row)
        return {
            "runs": self.runs,
            **run_info(self.versions),
            "baseline_wall_best_us": round(min(self.baseline_us)),
            "results": rows,
            "skipped": self.skipped,
        }

    def to_text(self) -> str:
        """Return the report as a table, fastest import first."""
        lines = header_lines(f"Import time, {self.runs} runs each", self.versions)
        lines += [
            f"bare interpreter (python -c pass): best {min(self.baseline_us) / 1000:.1f} ms",
            "",
            f"{'framework':<11} {'importtime ms':>14} {'x flask':>8} {'wall ms':>8} "
            f"{'x flask':>8} {'modules':>8}  import",
        ]
        timed = sorted(
            (item for item in self.measures if item.error is None),
            key=lambda item: item.importtime_median_us,
        )
        for item in timed:
            lines.append(
                f"{item.name:<11} {item.importtime_median_us / 1000:>14.1f} "
                f"{fmt(self.ratio(item, 'flask', wall=False)):>8} "
                f"{item.wall_best_us / 1000:>8.1f} "
                f"{fmt(self.ratio(item, 'flask', wall=True)):>8} {item.modules:>8}  {item.module}"
            )
        for item in self.failed:
            lines.append(f"{item.name:<11} FAILED: {item.error}")
        lines += [
            "",
            "importtime: median cumulative -X importtime of the top-level module; "
            "wall: best whole process minus the bare interpreter's; "
            "modules: lines of -X importtime (modules loaded, the interpreter's own included).",
        ]
        for name, reason in self.skipped.items():
            lines.append(f"skipped {name}: {reason}")
        return "\n".join(lines)


def run(frameworks: Sequence[str] | None = None, runs: int = 7) -> Report:
    """Measure the import time of ``frameworks`` (default: all); return the report.

    Raises:
        ValueError: For an unknown framework.
    """
    names = list(frameworks) if frameworks else list(FRAMEWORKS)
    for name in names:
        if name not in FRAMEWORKS:
            raise ValueError(f"unknown framework {name!r}; known: {', '.join(FRAMEWORKS)}")
    ready: list[str] = []
    skipped: dict[str, str] = {}
    for name in names:
        if importlib.util.find_spec(_root(FRAMEWORKS[name][0])) is None:
            skipped[name] = "not installed; pip install -r bench/requirements.txt"
        else:
            ready.append(name)
    measures, baseline = measure(ready, runs)
    versions = versions_of(FRAMEWORKS[name][1] for name in ready)
    return Report(runs, measures, baseline, skipped, versions)


def main(argv: Sequence[str] | None = None) -> int:
    """Run from the command line; exit status 1 if any import failed."""
    parser = argparse.ArgumentParser(description="Import time of oakling and its peers.")
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per reading")
    parser.add_argument("--frameworks", help=f"comma-separated subset of {','.join(FRAMEWORKS)}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        report = run(args.frameworks.split(",") if args.frameworks else None, args.runs)
    except ValueError as ex:
        parser.error(str(ex))
    print(json.dumps(report.to_json(), indent=2) if args.json else report.to_text())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
