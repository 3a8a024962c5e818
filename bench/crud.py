"""The REST CRUD benchmark: a list of 50 rows and a create, under wrk.

Usage (from the repository root, in bench/.venv: ``pip install -e . -r
bench/requirements.txt``)::

    python bench/crud.py [--rounds 5] [--duration 5] [--warmup 2]
                         [--connections 64] [--apps oakling-async-uvicorn,...]
                         [--database-url postgresql://postgres@127.0.0.1/test]
                         [--json bench/results-crud.json]

Apps (``bench/crud_apps``), each one worker pinned to core 0, wrk pinned to
core 1, on the same PostgreSQL table:

- ``oakling-async-*`` / ``oakling-sync-*``: ``ModelRouter`` with an
  AsyncSession (asyncpg) / a Session (psycopg), on uvicorn and granian;
- ``fastapi-*``: FastAPI + SQLAlchemy async (asyncpg), on uvicorn and granian;
- ``drf-granian``: DRF's ``ModelViewSet`` on Django, granian WSGI.

Each round starts every app in turn (the order rotates from round to round),
checks its answers (the list has 50 items, the create answers 201 with the
row), loads ``GET /tasks`` and then ``POST /tasks`` for ``--duration``
seconds each after a ``--warmup`` run, and stops it. The table is made and
filled with 1,000 rows first; the creates add rows after them, which the
list (the first 50 by id) never reaches. Reported: the median over rounds
of requests/s and p99 latency, and each app's ratio to the fastest peer.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.tfb.load import parse_wrk_output  # noqa: E402
from bench.tfb.servers import AppInfo, server_command  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PORT_BASE = int(os.environ.get("CRUD_PORT_BASE", "16200"))
TABLE = "bench_crud_task"
SEED_ROWS = 1000
PAGE = 50
POST_BODY = '{"title":"Write the benchmark","completed":false}'


@dataclass(frozen=True)
class AppSpec:
    name: str
    module: str
    server: str
    kind: str = "asgi"
    env: tuple[tuple[str, str], ...] = ()
    peer: bool = False


APPS = (
    AppSpec("oakling-async-uvicorn", "oakling_router", "uvicorn", env=(("CRUD_SESSION", "async"),)),
    AppSpec("oakling-async-granian", "oakling_router", "granian", env=(("CRUD_SESSION", "async"),)),
    AppSpec("oakling-sync-uvicorn", "oakling_router", "uvicorn", env=(("CRUD_SESSION", "sync"),)),
    AppSpec("oakling-sync-granian", "oakling_router", "granian", env=(("CRUD_SESSION", "sync"),)),
    AppSpec("fastapi-uvicorn", "fastapi_sa", "uvicorn", peer=True),
    AppSpec("fastapi-granian", "fastapi_sa", "granian", peer=True),
    AppSpec("drf-granian", "drf", "granian", kind="wsgi", peer=True),
)


def prepare_table(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(
            f"CREATE TABLE {TABLE} (id serial PRIMARY KEY, title varchar(100) NOT NULL, "
            "completed boolean NOT NULL DEFAULT false)"
        )
        with conn.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {TABLE} (title, completed) VALUES (%s, %s)",
                [(f"Task number {index}", index % 3 == 0) for index in range(SEED_ROWS)],
            )


def drop_table(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def command(spec: AppSpec, port: int) -> list[str]:
    """The server command for ``spec``: bench/tfb's, on the ``bench.crud_apps`` modules."""
    info = AppInfo(spec.module, spec.kind, orm=True)
    return server_command(spec.server, info, port, package="bench.crud_apps")


class Running:
    def __init__(self, spec: AppSpec, port: int, url: str) -> None:
        env = dict(os.environ)
        env.update(spec.env)
        env["CRUD_DATABASE_URL"] = url
        env["PYTHONPATH"] = str(ROOT)
        self.log = tempfile.TemporaryFile(prefix="crud-server-")
        self.process = subprocess.Popen(
            command(spec, port),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{spec.name} exited: {self.tail()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{spec.name} did not open its port: {self.tail()}")

    def tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-1500:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.log.close()


def items_of(body: object) -> list[dict[str, object]]:
    if isinstance(body, list):
        return body
    assert isinstance(body, dict)
    return list(body.get("items") or body.get("results") or [])


def verify(base: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        listed = client.get("/tasks")
        if listed.status_code != 200:
            raise RuntimeError(f"GET /tasks: {listed.status_code} {listed.text[:300]}")
        rows = items_of(listed.json())
        if len(rows) != PAGE or set(rows[0]) != {"id", "title", "completed"}:
            raise RuntimeError(f"GET /tasks: {len(rows)} rows, first {rows[:1]}")
        if [row["id"] for row in rows] != list(range(1, PAGE + 1)):
            raise RuntimeError("GET /tasks: not the first 50 rows by id")
        created = client.post(
            "/tasks", content=POST_BODY, headers={"content-type": "application/json"}
        )
        if created.status_code != 201 or created.json().get("title") != "Write the benchmark":
            raise RuntimeError(f"POST /tasks: {created.status_code} {created.text[:300]}")
        # NOTE: not ``{"title": 5}``: DRF's CharField turns numbers into text.
        for bad_body in ('{"completed": false}', '{"title": "' + "x" * 101 + '"}'):
            bad = client.post(
                "/tasks", content=bad_body, headers={"content-type": "application/json"}
            )
            if not 400 <= bad.status_code < 500:
                raise RuntimeError(f"POST /tasks {bad_body[:30]}: {bad.status_code}")


def wrk(url: str, duration: int, connections: int, post: Path | None) -> dict[str, float | None]:
    argv = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s"]
    argv += ["--timeout=8s", "--latency", "-H", "Accept: application/json"]
    if post is not None:
        argv += ["-s", str(post)]
    argv.append(url)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=True)
    result = parse_wrk_output(done.stdout)
    return {
        "rps": result.requests_per_s,
        "p99_ms": result.p99_ms,
        "non_2xx": float(result.non_2xx),
        "errors": float(sum(result.socket_errors.values())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--apps", default=",".join(spec.name for spec in APPS))
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CRUD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    wanted = args.apps.split(",")
    specs = [spec for spec in APPS if spec.name in wanted]
    prepare_table(args.database_url)
    results: dict[str, dict[str, list[dict[str, float | None]]]] = {
        spec.name: {"list": [], "create": []} for spec in specs
    }
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="crud-wrk-") as tmp:
        post = Path(tmp) / "post.lua"
        post.write_text(
            'wrk.method = "POST"\n'
            f"wrk.body = '{POST_BODY}'\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        for round_index in range(args.rounds):
            shift = round_index % len(specs)
            for number, spec in enumerate(specs[shift:] + specs[:shift]):
                if spec.name in failures:
                    continue
                port = PORT_BASE + number
                try:
                    running = Running(spec, port, args.database_url)
                except RuntimeError as ex:
                    failures[spec.name] = str(ex)
                    continue
                try:
                    verify(running.base)
                    if args.warmup:
                        wrk(running.base + "/tasks", args.warmup, args.connections, None)
                    listed = wrk(running.base + "/tasks", args.duration, args.connections, None)
                    if args.warmup:
                        wrk(running.base + "/tasks", args.warmup, args.connections, post)
                    created = wrk(running.base + "/tasks", args.duration, args.connections, post)
                    results[spec.name]["list"].append(listed)
                    results[spec.name]["create"].append(created)
                    print(
                        f"round {round_index + 1} {spec.name:24} list {listed['rps']:8.0f}/s "
                        f"create {created['rps']:8.0f}/s",
                        file=sys.stderr,
                        flush=True,
                    )
                except (RuntimeError, subprocess.SubprocessError, httpx.HTTPError) as ex:
                    failures[spec.name] = f"{ex}\n{running.tail()}"
                finally:
                    running.stop()
    drop_table(args.database_url)
    summary: dict[str, dict[str, dict[str, float | None]]] = {}
    for name, tests in results.items():
        if name in failures or not tests["list"]:
            continue
        summary[name] = {}
        for test, runs in tests.items():
            p99s = [run["p99_ms"] for run in runs if run["p99_ms"] is not None]
            summary[name][test] = {
                "rps": statistics.median(float(run["rps"] or 0) for run in runs),
                "p99_ms": statistics.median(p99s) if p99s else None,
                "non_2xx": sum(float(run["non_2xx"] or 0) for run in runs),
                "errors": sum(float(run["errors"] or 0) for run in runs),
            }
    peers = [spec.name for spec in specs if spec.peer and spec.name in summary]
    lines = [
        f"REST CRUD, {args.rounds} interleaved rounds of {args.duration} s "
        f"(+{args.warmup} s warm-up), wrk -c{args.connections}, median of rounds",
        "",
        "| app | list 50 req/s | p99 ms | create req/s | p99 ms | list / best peer "
        "| create / best peer |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    best = {
        test: max((summary[name][test]["rps"] or 0.0 for name in peers), default=0.0)
        for test in ("list", "create")
    }
    for name, tests in summary.items():
        cells = [name]
        for test in ("list", "create"):
            cells += [f"{tests[test]['rps']:.0f}", f"{tests[test]['p99_ms'] or 0:.1f}"]
        for test in ("list", "create"):
            ratio = (tests[test]["rps"] or 0.0) / best[test] if best[test] else 0.0
            cells.append(f"{ratio:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
        bad = tests["list"]["non_2xx"] or tests["create"]["non_2xx"]
        if bad or tests["list"]["errors"] or tests["create"]["errors"]:
            lines.append(f"|   {name}: non-2xx or socket errors seen | | | | | | |")
    for name, why in failures.items():
        lines.append(f"\nFAILED {name}: {why[:800]}")
    print("\n".join(lines))
    if args.json is not None:
        args.json.write_text(
            json.dumps({"summary": summary, "runs": results, "failures": failures}, indent=1)
        )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
