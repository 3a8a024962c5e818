"""Drive wrk against a running server and read its report.

wrk runs pinned to its own core (``taskset -c 1``), one thread, with TFB's
request headers; plaintext is pipelined 16 deep through a Lua script, as TFB
does (``toolset/wrk/pipeline.lua``). The text report (``--latency``) is parsed
for requests/s, the p99 latency, and every kind of error wrk counts.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "PIPELINE_DEPTH",
    "PIPELINE_LUA",
    "WrkError",
    "WrkResult",
    "parse_wrk_output",
    "pipeline_script",
    "run_wrk",
    "wrk_command",
]

PIPELINE_DEPTH = 16

# TFB's pipeline script: every wrk "request" is PIPELINE_DEPTH requests in one write.
PIPELINE_LUA = """\
init = function(args)
  local r = {}
  local depth = tonumber(args[1]) or 1
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end
"""

# TFB's Accept headers per test type (toolset/benchmark/test_types).
_ACCEPT = {
    "plaintext": "text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,"
    "application/xml;q=0.8,*/*;q=0.7",
    "fortunes": "application/xhtml+xml,application/xml,text/html;q=0.9,text/plain;q=0.8,*/*;q=0.7",
}
_ACCEPT_JSON = (
    "application/json,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7"
)

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_SIZE = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


class WrkError(RuntimeError):
    """wrk did not run, or its report could not be read."""


@dataclass
class WrkResult:
    """The numbers of one wrk run."""

    requests_per_s: float
    p99_ms: float | None
    requests: int
    seconds: float
    bytes_read: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    non_2xx: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)  # "50%" -> ms

    @property
    def errors(self) -> int:
        """Return the count of failed requests (socket errors and non-2xx/3xx)."""
        return sum(self.socket_errors.values()) + self.non_2xx


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise WrkError(f"cannot read the duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def _size(text: str) -> int:
    match = re.fullmatch(r"([\d.]+)([KMGT]?B)?", text.strip())
    if not match:
        raise WrkError(f"cannot read the size {text!r}")
    return int(float(match.group(1)) * _SIZE[match.group(2) or ""])


def parse_wrk_output(text: str) -> WrkResult:
    """Read wrk 4's text report (run with ``--latency``).

    Returns:
        A :class:`WrkResult`; ``p99_ms`` is ``None`` when the report has no
        latency distribution (wrk run without ``--latency``, or pipelined,
        where wrk prints zeros).

    Raises:
        WrkError: the report lacks the requests/s or the request count line.
    """
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ([\d.]+\w+), ([\d.]+\w*) read", text, re.MULTILINE)
    if not rps or not total:
        raise WrkError("not a wrk report:\n" + text[-2000:])
    latency = {
        match.group(1) + "%": _ms(match.group(2))
        for match in re.finditer(r"^\s+(\d+)%\s+([\d.]+\w+)\s*$", text, re.MULTILINE)
    }
    socket_errors: dict[str, int] = {}
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if errors:
        for name, value in zip(
            ("connect", "read", "write", "timeout"), errors.groups(), strict=True
        ):
            socket_errors[name] = int(value)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    p99 = latency.get("99%")
    if not p99:
        # NOTE: under pipelining (a Lua request() returning a batch) wrk's
        # histogram is broken and prints 0.00us: never a real measurement.
        p99 = None
    return WrkResult(
        requests_per_s=float(rps.group(1)),
        p99_ms=p99,
        requests=int(total.group(1)),
        seconds=_ms(total.group(2)) / 1000.0,
        bytes_read=_size(total.group(3)),
        socket_errors=socket_errors,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        latency_ms=latency,
    )


def wrk_command(
    url: str,
    test: str,
    *,
    duration: int,
    connections: int,
    script: Path | None = None,
    cpu: str | None = "1",
    timeout_s: int = 8,
) -> list[str]:
    """Build the wrk command line for ``test`` (``script``: the pipeline file).

    Returns:
        The argv, starting with ``taskset -c <cpu>`` unless ``cpu`` is None.
    """
    accept = _ACCEPT.get(test, _ACCEPT_JSON)
    argv = [] if cpu is None else ["taskset", "-c", cpu]
    argv += [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        f"--timeout={timeout_s}s",
        "--latency",
        "-H",
        "Host: 127.0.0.1",
        "-H",
        f"Accept: {accept}",
        "-H",
        "Connection: keep-alive",
    ]
    if test == "plaintext" and script is not None:
        argv += ["-s", str(script), url, "--", str(PIPELINE_DEPTH)]
    else:
        argv.append(url)
    return argv


def pipeline_script(directory: Path) -> Path:
    """Write :data:`PIPELINE_LUA` into ``directory``; returns its path."""
    path = directory / "pipeline.lua"
    path.write_text(PIPELINE_LUA)
    return path


def run_wrk(
    url: str,
    test: str,
    *,
    duration: int,
    connections: int,
    cpu: str | None = "1",
) -> WrkResult:
    """Run wrk once against ``url`` and return its parsed report.

    Raises:
        WrkError: wrk failed, hung, or printed no report.
    """
    with tempfile.TemporaryDirectory(prefix="tfb-wrk-") as tmp:
        script = pipeline_script(Path(tmp)) if test == "plaintext" else None
        argv = wrk_command(
            url, test, duration=duration, connections=connections, script=script, cpu=cpu
        )
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=duration + 60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as ex:
            raise WrkError(f"{' '.join(argv)}: {ex!r}") from ex
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip()[-500:]}")
    result = parse_wrk_output(done.stdout)
    if script is not None:
        # NOTE: wrk times a pipelined batch, not a request, and its percentiles
        # under pipelining are garbage (0.00us beyond the median): none is kept.
        result.p99_ms = None
    return result
