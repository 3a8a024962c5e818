"""oakling's admin against Django's on 1,000,000 rows in PostgreSQL, side by side.

::

    python bench/admin.py                      # load once, then 5 warm-up + 50 timed per page
    python bench/admin.py --requests 20 --json
    OAKLING_BENCH_ADMIN_URL=postgresql://postgres@127.0.0.1/mydb python bench/admin.py

``OAKLING_BENCH_ADMIN_ROWS`` makes a smaller table (the smoke test's; a
database loaded with another row count is reloaded) and
``OAKLING_BENCH_ADMIN_PORTS=7201,7202`` moves the two servers.

The database (default ``oakling_bench_admin``, created when missing) gets two
tables, loaded once with ``generate_series`` and kept between runs:
``bench_owner`` (100 owners) and ``bench_item`` (1,000,000 rows: id, title,
done, created, ``owner_id`` a foreign key, indexed). oakling's users live in
the ``public`` schema, Django's in a ``django`` schema (``migrate`` runs
there), so each signs in as its own superuser, on the same rows.

Both apps (bench/admin_apps/) use the same ``ModelAdmin`` options
(``list_display`` with the owner's name through the foreign key,
``search_fields``, ``list_filter`` on ``done`` and the owner, 100 rows per
page) and run as ASGI apps on uvicorn (httptools, uvloop), one worker,
pinned to core 0; this client runs on core 1. For each page, each app gets
``--warmup`` requests, then the ``--requests`` timed requests alternate
between the apps (so drift hits both alike). Times are the client's wall
time per request (milliseconds); the query count is what each app's ASGI
wrapper counted (``X-Bench-Queries``). Every answer must be a 200 holding
the expected row, or the run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.admin_apps import DATABASE_URL, PASSWORD, USERNAME  # noqa: E402

ROWS = int(os.environ.get("OAKLING_BENCH_ADMIN_ROWS", "1000000"))
OWNERS = 100
_PORTS = os.environ.get("OAKLING_BENCH_ADMIN_PORTS", "16601,16602").split(",")
PORTS = {"oakling": int(_PORTS[0]), "django": int(_PORTS[1])}
APPS = {
    "oakling": "bench.admin_apps.oakling_app:create_app",
    "django": "bench.admin_apps.django_site:create_app",
}
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet".split()


@dataclass
class Page:
    """One page measured on both apps: its paths and the text its answer must hold."""

    name: str
    paths: dict[str, str]
    expect: str


def pages(far: int = 5000) -> list[Page]:
    """Return the pages: first, a search, a filter, page 5,000 typed and reached by "Next".

    Args:
        far: The far page's number (5,000 on 1,000,000 rows; smaller for a
            smaller table).
    """
    oak = "/admin/bench/item"
    dj = "/admin/djangoapp/item/"
    # Page `far` of 100 rows, newest first: ids ROWS - (far - 1) * 100 downwards.
    far_top = ROWS - (far - 1) * 100
    far_label = f"page {far:,}"
    term = 123456 if ROWS >= 123456 else ROWS // 8 + 1  # one row of 1M, a few of a small table
    return [
        Page("first page", {"oakling": oak, "django": dj}, f"item {ROWS} "),
        Page(
            f"search (q={term})",
            {"oakling": f"{oak}?q={term}", "django": f"{dj}?q={term}"},
            f"item {term} ",
        ),
        Page(
            "filter (done, owner 7)",
            {
                "oakling": f"{oak}?done__exact=1&owner__exact=7",
                "django": f"{dj}?done__exact=1&owner__id__exact=7",
            },
            f"item {_newest_done_of_owner_7()} ",
        ),
        Page(
            far_label,
            {"oakling": f"{oak}?p={far}", "django": f"{dj}?p={far}"},
            f"item {far_top} ",
        ),
        # oakling's "Next" link from the page before carries the keyset position
        # k (its last row's id); Django has no such link: its page is ?p= again.
        Page(
            f"{far_label} by Next",
            {"oakling": f"{oak}?p={far}&k={far_top + 1}", "django": f"{dj}?p={far}"},
            f"item {far_top} ",
        ),
    ]


def _newest_done_of_owner_7() -> int:
    # owner_id = 1 + (i * 31) % 100 and done = (i % 3 = 0), as loaded below
    return max(
        i for i in range(max(1, ROWS - 3000), ROWS + 1) if (i * 31) % 100 == 6 and i % 3 == 0
    )


# -- data ------------------------------------------------------------------------------


def _admin_url(url: str) -> str:
    return re.sub(r"/[^/]*$", "/postgres", url)


def ensure_database(url: str) -> None:
    """Create the database when missing, and the 1,000,000 rows when not yet loaded."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url, autocommit=True) as conn:
        done = conn.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = 'bench_loaded'"
        ).fetchone()
        if done:
            loaded = conn.execute("SELECT max(id) FROM bench_item").fetchone()
            if loaded is not None and loaded[0] == ROWS:
                return
            conn.execute("DROP TABLE bench_loaded")  # NOTE: loaded with another row count
        started = time.perf_counter()
        print(f"loading {ROWS:,} rows into {name} (once) ...", file=sys.stderr)
        conn.execute("DROP TABLE IF EXISTS bench_item, bench_owner")
        conn.execute(
            "CREATE TABLE bench_owner (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
            " name varchar(100) NOT NULL UNIQUE)"
        )
        conn.execute(
            "CREATE TABLE bench_item (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
            " title varchar(100) NOT NULL, done boolean NOT NULL,"
            " created timestamptz NOT NULL,"
            " owner_id integer NOT NULL REFERENCES bench_owner (id))"
        )
        conn.execute(
            "INSERT INTO bench_owner (id, name) SELECT i, 'owner ' || lpad(i::text, 3, '0')"
            f" FROM generate_series(1, {OWNERS}) AS i"
        )
        words = "ARRAY[" + ", ".join(f"'{word}'" for word in WORDS) + "]"
        conn.execute(
            "INSERT INTO bench_item (id, title, done, created, owner_id)"
            f" SELECT i, 'item ' || i || ' ' || ({words})[1 + (i * 7) % 10], i % 3 = 0,"
            " timestamptz '2024-01-01 00:00+00' + i * interval '1 minute',"
            f" 1 + (i * 31) % {OWNERS} FROM generate_series(1, {ROWS}) AS i"
        )
        conn.execute("CREATE INDEX bench_item_owner_id ON bench_item (owner_id)")
        conn.execute(f"SELECT setval(pg_get_serial_sequence('bench_item', 'id'), {ROWS})")
        conn.execute(f"SELECT setval(pg_get_serial_sequence('bench_owner', 'id'), {OWNERS})")
        conn.execute("VACUUM ANALYZE bench_owner")
        conn.execute("VACUUM ANALYZE bench_item")
        conn.execute("CREATE TABLE bench_loaded (loaded_at timestamptz DEFAULT now())")
        conn.execute("INSERT INTO bench_loaded DEFAULT VALUES")
        print(f"loaded in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def search_index(url: str, wanted: bool) -> None:
    """Create (``wanted``) or drop the pg_trgm GIN index on ``bench_item.title``.

    Without it a ``LIKE '%...%'`` search reads the whole table, whoever runs
    it; with it, both apps' searches use it.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        if wanted:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            conn.execute(
                "CREATE INDEX IF NOT EXISTS bench_item_title_trgm ON bench_item"
                " USING gin (lower(title) gin_trgm_ops, upper(title) gin_trgm_ops)"
            )
            conn.execute("ANALYZE bench_item")
        else:
            conn.execute("DROP INDEX IF EXISTS bench_item_title_trgm")


def setup_oakling() -> None:
    """Create oakling's auth and admin_log tables (public schema) and its superuser."""
    from sqlalchemy import select

    from bench.admin_apps import oakling_app
    from oakling.auth import User
    from oakling.auth.services import create_user_sync
    from oakling.db import Database, Model

    database = Database(DATABASE_URL)
    engine = database.sync_engine()
    bench_tables = {"bench_owner", "bench_item"}
    tables = [table for name, table in Model.metadata.tables.items() if name not in bench_tables]
    Model.metadata.create_all(engine, tables=tables)
    with database.session() as session:
        if session.scalar(select(User).where(User.username == USERNAME)) is None:
            create_user_sync(
                session, USERNAME, PASSWORD, is_staff=True, is_superuser=True, validate=False
            )
            session.commit()
    engine.dispose()
    assert oakling_app.Item.__tablename__ == "bench_item"


def setup_django() -> None:
    """Run Django's migrations in the ``django`` schema and create its superuser."""
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS django")
    from bench.admin_apps import django_site

    django_site.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0, interactive=False)
    if not User.objects.filter(username=USERNAME).exists():
        User.objects.create_superuser(USERNAME, "", PASSWORD)
    connections.close_all()


# -- servers and clients ---------------------------------------------------------------


def start_server(name: str, core: str) -> subprocess.Popen[bytes]:
    """Start ``name``'s app on uvicorn, one worker, pinned to ``core``."""
    command = [
        "taskset",
        "-c",
        core,
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        APPS[name],
        "--port",
        str(PORTS[name]),
        "--host",
        "127.0.0.1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OAKLING_BENCH_ADMIN_URL": DATABASE_URL}
    return subprocess.Popen(command, cwd=ROOT, env=env)


def wait_ready(client: httpx.Client, process: subprocess.Popen[bytes]) -> None:
    """Wait until the server answers (at most 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            client.get("/admin/")
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the server did not start within 60 s")


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]+)"', page) or re.search(
        rf'value="([^"]+)"[^>]*name="{name}"', page
    )
    if not match:
        raise SystemExit(f"no {name} on the login page")
    return match.group(1)


def login(name: str, client: httpx.Client) -> None:
    """Sign in as the superuser through each framework's own login page."""
    if name == "oakling":
        page = client.get("/auth/login")
        data = {"username": USERNAME, "password": PASSWORD, "next": "/admin/"}
        data["csrf_token"] = _hidden(page.text, "csrf_token")
        response = client.post("/auth/login", data=data)
    else:
        page = client.get("/admin/login/")
        data = {"username": USERNAME, "password": PASSWORD, "next": "/admin/"}
        data["csrfmiddlewaretoken"] = _hidden(page.text, "csrfmiddlewaretoken")
        response = client.post("/admin/login/?next=/admin/", data=data)
    if response.status_code not in (302, 303):
        raise SystemExit(f"{name}: login failed with {response.status_code}")
    index = client.get("/admin/")
    if index.status_code != 200:
        raise SystemExit(f"{name}: /admin/ answered {index.status_code} after login")


@dataclass
class Result:
    """The timings (ms) and query counts of one page on one app."""

    times: list[float] = field(default_factory=list)
    queries: set[int] = field(default_factory=set)

    def median(self) -> float:
        return statistics.median(self.times)

    def p90(self) -> float:
        return statistics.quantiles(self.times, n=10, method="inclusive")[-1]


def fetch(client: httpx.Client, path: str, expect: str, name: str) -> tuple[float, int]:
    """GET ``path``; return (milliseconds, queries). The answer must hold ``expect``."""
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200 or expect not in response.text:
        raise SystemExit(
            f"{name} {path}: {response.status_code}, {expect!r} missing: {response.text[:300]}"
        )
    return elapsed, int(response.headers["x-bench-queries"])


def run(requests: int, warmup: int, chosen: list[Page]) -> dict[str, dict[str, Result]]:
    """Measure every page on both apps; return ``{page: {app: Result}}``."""
    processes = {name: start_server(name, "0") for name in APPS}
    clients = {
        name: httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
        for name, port in PORTS.items()
    }
    results: dict[str, dict[str, Result]] = {}
    try:
        for name in APPS:
            wait_ready(clients[name], processes[name])
            login(name, clients[name])
        for page in chosen:
            per_app = {name: Result() for name in APPS}
            for name in APPS:
                for _ in range(warmup):
                    fetch(clients[name], page.paths[name], page.expect, name)
            for index in range(requests):
                order = list(APPS) if index % 2 == 0 else list(reversed(APPS))
                for name in order:
                    elapsed, queries = fetch(clients[name], page.paths[name], page.expect, name)
                    per_app[name].times.append(elapsed)
                    per_app[name].queries.add(queries)
            results[page.name] = per_app
            print(
                f"{page.name}: "
                + ", ".join(f"{name} {per_app[name].median():.1f} ms" for name in APPS),
                file=sys.stderr,
            )
    finally:
        for client in clients.values():
            client.close()
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return results


def table(results: dict[str, dict[str, Result]], requests: int, warmup: int) -> str:
    """Return the results as a Markdown table."""
    lines = [
        f"{warmup} warm-up + {requests} timed requests per page and app, alternating; "
        "milliseconds (client wall time)",
        "",
        "| page | oakling median | oakling p90 | Django median | Django p90 "
        "| oakling / Django (median) | queries oakling / Django |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for page, per_app in results.items():
        oak, dj = per_app["oakling"], per_app["django"]
        queries = "/".join(
            ",".join(str(count) for count in sorted(result.queries)) for result in (oak, dj)
        )
        lines.append(
            f"| {page} | {oak.median():.1f} | {oak.p90():.1f} | {dj.median():.1f} "
            f"| {dj.p90():.1f} | {oak.median() / dj.median():.2f} | {queries} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a Markdown table (or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up requests per page")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--search-index",
        action="store_true",
        help="index bench_item.title with pg_trgm (GIN on lower() and upper(): oakling's"
        " and Django's case-insensitive LIKE); without it the index is dropped",
    )
    parser.add_argument(
        "--pages", default="", help="comma-separated page numbers to run (1-5), default all"
    )
    parser.add_argument(
        "--far-page",
        type=int,
        default=0,
        help="the far page's number (default 5,000, or the middle page of a smaller table)",
    )
    args = parser.parse_args(argv)
    ensure_database(DATABASE_URL)
    search_index(DATABASE_URL, args.search_index)
    setup_oakling()
    setup_django()
    os.sched_setaffinity(0, {1})
    far = args.far_page or min(5000, max(2, ROWS // 200))
    chosen = pages(far)
    if args.pages:
        chosen = [chosen[int(number) - 1] for number in args.pages.split(",")]
    results = run(args.requests, args.warmup, chosen)
    if args.json:
        print(
            json.dumps(
                {
                    page: {
                        name: {
                            "median_ms": round(result.median(), 2),
                            "p90_ms": round(result.p90(), 2),
                            "queries": sorted(result.queries),
                        }
                        for name, result in per_app.items()
                    }
                    for page, per_app in results.items()
                },
                indent=2,
            )
        )
    else:
        print(table(results, args.requests, args.warmup))
    return 0


if __name__ == "__main__":
    sys.exit(main())
