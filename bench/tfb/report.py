"""The results of a TFB run: JSON, a Markdown report and a bar chart.

``results.json`` keeps every number; ``results.md`` and ``results.png`` are
rendered from it (``python -m bench.tfb.report bench/results.json`` renders
them again).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Failure",
    "Memory",
    "Results",
    "RatioSummary",
    "Run",
    "bootstrap_ci",
    "label_for",
    "ratio_summary",
    "round_ratios",
    "render_markdown",
    "render_png",
    "write_all",
]

_TESTS = ("json", "plaintext", "db", "queries", "fortunes", "updates")
_DB_TESTS = frozenset({"db", "queries", "fortunes", "updates"})
_TEST_TITLES = {
    "json": "JSON serialization",
    "plaintext": "Plaintext (pipelined x16)",
    "db": "Single query",
    "queries": "Multiple queries (N=20)",
    "fortunes": "Fortunes",
    "updates": "Updates (N=20)",
}


def label_for(framework: str, test: str, variant: str) -> str:
    """Return the row label: ``oakling``, ``oakling (orm)``, ``oakling (raw)``, ``raw``."""
    if test not in _DB_TESTS or framework == "raw":
        return framework
    return f"{framework} ({variant})"


@dataclass
class Run:
    """One counted wrk run."""

    server: str
    test: str
    framework: str
    variant: str  # "orm" or "raw" for the database tests, "" otherwise
    requests_per_s: float
    p99_ms: float | None
    requests: int
    errors: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    non_2xx: int = 0
    group: int = 0  # servers started together share a group
    rounds: list[float] = field(default_factory=list)  # req/s of each round, in order

    @property
    def label(self) -> str:
        """Return the table label of this run."""
        return label_for(self.framework, self.test, self.variant)


@dataclass
class Failure:
    """A (server, framework, test, variant) not timed, and why."""

    server: str
    framework: str
    test: str
    variant: str
    reason: str

    @property
    def label(self) -> str:
        """Return the table label of the failed row."""
        return label_for(self.framework, self.test, self.variant)


@dataclass
class Memory:
    """Resident memory of one server (all its processes) after its load runs."""

    server: str
    framework: str
    rss_bytes: int


@dataclass
class Results:
    """Everything one invocation measured."""

    meta: dict[str, Any] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    memory: list[Memory] = field(default_factory=list)
    not_applicable: list[tuple[str, str]] = field(default_factory=list)  # (server, framework)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict of every number."""
        return {
            "meta": self.meta,
            "runs": [asdict(run) for run in self.runs],
            "failures": [asdict(failure) for failure in self.failures],
            "memory": [asdict(memory) for memory in self.memory],
            "not_applicable": [list(pair) for pair in self.not_applicable],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Results:
        """Rebuild results from :meth:`to_json` output."""
        return cls(
            meta=dict(data.get("meta", {})),
            runs=[Run(**run) for run in data.get("runs", [])],
            failures=[Failure(**failure) for failure in data.get("failures", [])],
            memory=[Memory(**memory) for memory in data.get("memory", [])],
            not_applicable=[(pair[0], pair[1]) for pair in data.get("not_applicable", [])],
        )

    def servers(self) -> list[str]:
        """Return the servers in the order they were run."""
        seen: list[str] = []
        servers = [item.server for item in self.runs]
        servers += [item.server for item in self.failures]
        servers += [item.server for item in self.memory]
        for server in servers:
            if server not in seen:
                seen.append(server)
        return seen

    def reference(self, server: str, test: str, framework: str, variant: str) -> Run | None:
        """Return the run that ratios on ``server``/``test`` divide by."""
        for run in self.runs:
            if (run.server, run.test, run.framework) == (server, test, framework):
                if framework == "raw" or test not in _DB_TESTS or run.variant == variant:
                    return run
        return None


def round_ratios(run: Run, reference: Run) -> list[float]:
    """Return ``run``'s req/s over ``reference``'s, round by round (sorted).

    Rounds are interleaved, so round *k* of both ran in the same window of
    the machine's load; their ratio cancels most of the drift that moves
    both. Empty unless both have the same number (two or more) of rounds.
    """
    if len(run.rounds) < 2 or len(run.rounds) != len(reference.rounds):
        return []
    pairs = zip(run.rounds, reference.rounds, strict=True)
    return sorted(mine / theirs for mine, theirs in pairs if theirs > 0)


BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


def bootstrap_ci(
    values: list[float],
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Return a percentile-bootstrap confidence interval of the median of ``values``.

    ``resamples`` times, draw ``len(values)`` values with replacement and take
    their median; the interval is the central ``confidence`` share of those
    medians (Efron's percentile bootstrap). Seeded, so a report rendered again
    from its JSON shows the same interval. With few values it can only be as
    wide as their spread: at 3 rounds it says little more than the range.

    Raises:
        ValueError: For no values.
    """
    if not values:
        raise ValueError("no values")
    if len(values) == 1:
        return values[0], values[0]
    rng = random.Random(seed)
    count = len(values)
    medians = sorted(statistics.median(rng.choices(values, k=count)) for _ in range(resamples))
    tail = (1 - confidence) / 2
    low = medians[int(tail * (resamples - 1))]
    high = medians[int(round((1 - tail) * (resamples - 1)))]
    return low, high


@dataclass(frozen=True)
class RatioSummary:
    """A ratio over interleaved rounds: median, range and bootstrap CI of the median."""

    median: float
    low: float
    high: float
    ci_low: float
    ci_high: float
    rounds: int

    @property
    def half_width(self) -> float:
        """Half the CI's width, relative to the median (0.05: +-5%)."""
        return (self.ci_high - self.ci_low) / 2 / self.median if self.median else float("inf")


def ratio_summary(run: Run, reference: Run) -> RatioSummary | None:
    """Summarise ``run``'s per-round ratios to ``reference`` (None with < 2 rounds)."""
    ratios = round_ratios(run, reference)
    if not ratios:
        return None
    ci_low, ci_high = bootstrap_ci(ratios)
    return RatioSummary(
        statistics.median(ratios), ratios[0], ratios[-1], ci_low, ci_high, len(ratios)
    )


def _ratio(run: Run, reference: Run | None) -> str:
    """Return the ratio cell: median per-round ratio, range, and 95% bootstrap CI."""
    if reference is None or reference.requests_per_s <= 0:
        return "-"
    summary = ratio_summary(run, reference)
    if summary is None:
        return f"{run.requests_per_s / reference.requests_per_s:.2f}"
    return (
        f"{summary.median:.2f} ({summary.low:.2f}-{summary.high:.2f}; "
        f"CI {summary.ci_low:.2f}-{summary.ci_high:.2f})"
    )


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split()).replace("|", "\\|")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def render_markdown(results: Results) -> str:
    """Render the report: settings, one table per server and test, memory, failures.

    Returns:
        The Markdown text of ``results.md``.
    """
    meta = results.meta
    lines = [f"# {meta.get('title', 'TFB benchmark results')}", ""]
    settings = [
        ("Date", meta.get("date")),
        ("Machine", meta.get("machine")),
        ("Python", meta.get("python")),
        ("Command", f"`{meta['command']}`" if meta.get("command") else None),
        ("Load", meta.get("load")),
        ("Wall time", meta.get("wall_time")),
    ]
    for name, value in settings:
        if value:
            lines.append(f"- {name}: {value}")
    versions = meta.get("versions") or {}
    if versions:
        listed = ", ".join(f"{name} {version}" for name, version in versions.items())
        lines.append(f"- Versions: {listed}")
    lines += [
        "",
        "req/s: requests per second of the counted run; p99: 99th percentile latency "
        "in ms (wrk; none under pipelining, where wrk records none); x raw: ratio to the raw app "
        "on the same server (for the database tests, to raw ASGI + asyncpg); "
        "x oakling: ratio to oakling (same variant); errors: socket errors plus "
        "non-2xx/3xx answers (a run with errors is flagged with !). With several rounds a "
        "ratio is the median of the per-round ratios (round k of an app over round k of the "
        "reference), followed in brackets by the range over the rounds and the 95% "
        "percentile-bootstrap confidence interval of that median (2,000 resamples, seeded). "
        "The range holds the true median ratio with a probability of 1 - 2^(1-n) for n rounds "
        "(75% at 3, 97% at 6, 99.6% at 9); the bootstrap CI is narrower once there are enough "
        "rounds (at 3 it says little more than the range). Two ratios whose CIs overlap are "
        "not told apart by this run.",
        "",
    ]
    failed = {(f.server, f.test, f.framework, f.variant): f.reason for f in results.failures}
    for server in results.servers():
        lines += [f"## {server}", ""]
        for test in _TESTS:
            runs = [run for run in results.runs if (run.server, run.test) == (server, test)]
            fails = [f for f in results.failures if (f.server, f.test) == (server, test)]
            if not runs and not fails:
                continue
            lines += [
                f"### {_TEST_TITLES[test]}",
                "",
                "| framework | req/s | p99 ms | x raw | x oakling | errors |",
                "| --- | ---: | ---: | ---: | ---: | ---: |",
            ]
            for run in sorted(runs, key=lambda run: -run.requests_per_s):
                raw = results.reference(server, test, "raw", "raw")
                oak = results.reference(server, test, "oakling", run.variant)
                p99 = "-" if run.p99_ms is None else f"{run.p99_ms:.1f}"
                flag = " !" if run.errors else ""
                lines.append(
                    f"| {run.label} | {run.requests_per_s:,.0f} | {p99} | "
                    f"{_ratio(run, raw)} | {_ratio(run, oak)} | "
                    f"{run.errors:,}{flag} |"
                )
            for fail in fails:
                lines.append(f"| {fail.label} | FAILED | - | - | - | - |")
            lines.append("")
        na = [framework for srv, framework in results.not_applicable if srv == server]
        if na:
            lines += [f"N/A on {server} (WSGI apps; uvicorn serves ASGI only): {', '.join(na)}", ""]
    if results.memory:
        lines += [
            "## Memory after load",
            "",
            "Resident set size of the server (all its processes) after its load runs.",
            "",
            "| framework | " + " | ".join(f"{server} MB" for server in results.servers()) + " |",
            "| --- |" + " ---: |" * len(results.servers()),
        ]
        frameworks: list[str] = []
        for memory in results.memory:
            if memory.framework not in frameworks:
                frameworks.append(memory.framework)
        by_key = {(m.server, m.framework): m.rss_bytes for m in results.memory}
        for framework in frameworks:
            cells = []
            for server in results.servers():
                rss = by_key.get((server, framework))
                cells.append("-" if rss is None else f"{rss / 2**20:.1f}")
            lines.append(f"| {framework} | " + " | ".join(cells) + " |")
        lines.append("")
    if failed:
        lines += [
            "## Failures",
            "",
            "Failed verification (and so not timed), or gave no result under load.",
            "",
        ]
        for fail in results.failures:
            where = f"{fail.server} {fail.test} {fail.label}"
            lines.append(f"- {where}: {_one_line(fail.reason)}")
        lines.append("")
    return "\n".join(lines)


def render_png(results: Results, path: Path) -> None:
    """Draw grouped bars of the ratio to raw, per test and framework, per server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = results.servers() or ["-"]
    frameworks: list[str] = []
    for run in results.runs:
        if run.framework not in frameworks:
            frameworks.append(run.framework)
    # One colour per framework (oakling red), the raw-driver variant hatched.
    palette = [  # matplotlib's tab10 without its red
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    ]
    colors = {}
    for index, framework in enumerate(f for f in frameworks if f != "oakling"):
        colors[framework] = palette[index % len(palette)]
    colors["oakling"] = "#d62728"
    figure, axes = plt.subplots(len(servers), 1, figsize=(14, 4.5 * len(servers)), squeeze=False)
    for row, server in enumerate(servers):
        axis = axes[row][0]
        tests = [t for t in _TESTS if any(r.server == server and r.test == t for r in results.runs)]
        seen: set[str] = set()
        for position, test in enumerate(tests):
            raw = results.reference(server, test, "raw", "raw")
            runs = [r for r in results.runs if (r.server, r.test) == (server, test)]
            runs.sort(key=lambda r: (frameworks.index(r.framework), r.variant))
            if raw is None or raw.requests_per_s <= 0 or not runs:
                continue
            width = 0.84 / len(runs)
            for index, run in enumerate(runs):
                x = position - 0.42 + width * (index + 0.5)
                axis.bar(
                    x,
                    run.requests_per_s / raw.requests_per_s,
                    width,
                    color=colors[run.framework],
                    hatch="//" if run.variant == "raw" and run.framework != "raw" else None,
                    edgecolor="white",
                    label=None if run.framework in seen else run.framework,
                )
                seen.add(run.framework)
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(tests)), [_TEST_TITLES[t] for t in tests])
        axis.set_ylabel("requests/s, ratio to raw")
        axis.set_title(
            f"{server}: throughput relative to the raw app (higher is better; "
            "database tests: plain = ORM, hatched = raw driver)"
        )
        axis.legend(ncol=9, fontsize=8, loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_all(results: Results, markdown: Path, png: Path | None, raw_json: Path | None) -> None:
    """Write the report, and the chart and the JSON when their paths are given."""
    markdown.write_text(render_markdown(results))
    if raw_json is not None:
        raw_json.write_text(json.dumps(results.to_json(), indent=2, ensure_ascii=False) + "\n")
    if png is not None:
        render_png(results, png)


def _main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.tfb.report bench/results.json", file=sys.stderr)
        return 2
    source = Path(argv[0])
    results = Results.from_json(json.loads(source.read_text()))
    write_all(results, source.with_suffix(".md"), source.with_suffix(".png"), None)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
