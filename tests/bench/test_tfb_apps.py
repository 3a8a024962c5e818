"""The TFB apps: each imports without a database and passes the verifier in-process.

Every app in ``bench/tfb/apps`` is served in-process (ASGI apps through
``httpx.ASGITransport``, with their lifespan driven here; WSGI apps through
``httpx.WSGITransport``), every route is requested with every ``queries``
clamping case, and each answer goes through the runner's own verifier
(``bench.tfb.verify.verify_response``). On top of the verifier, the rows are
compared with the database: ``/db`` and ``/queries`` answer the stored values,
and ``/updates`` really writes its new numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.tfb.verify import CLAMP_CASES, path_for, verify_response
from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "raw",
    "oakling",
    "starlette",
    "fastapi",
    "litestar",
    "blacksheep",
    "falcon",
    "flask",
    "django",
)
ASGI_APPS = APPS[:-2]
WSGI_APPS = APPS[-2:]
# A database of its own: the runner (or a developer) may be updating ``tfb``
# while this runs, and the rows read back here must be the apps' writes alone.
DSN = os.environ.get(
    "TFB_APPS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tfb_apps_test"
)
# NOTE: Django's settings are process-wide and configured once; other tests
# (Django-made password hashes) configure them too, so the Django app is
# checked in a pytest subprocess of its own, which sets this variable.
DJANGO_ALONE = os.environ.get("TFB_DJANGO_SUBPROCESS") == "1"


def test_the_apps_are_every_framework_of_the_suite() -> None:
    from bench.tfb.servers import FRAMEWORKS, app_info

    found = {path.stem for path in (ROOT / "bench/tfb/apps").glob("*.py")} - {"__init__"}
    assert found == set(APPS) == set(FRAMEWORKS)
    # The runner reads KIND and ORM without importing: they must be plain constants.
    for name in APPS:
        info = app_info(name)
        assert (info.kind, info.orm) == ("wsgi" if name in WSGI_APPS else "asgi", name != "raw")


def test_every_app_imports_without_a_database() -> None:
    # A fresh interpreter, warnings as errors, and a DSN where nothing listens:
    # an app connecting at import fails here. Each module must also leave its
    # framework importable under its own name (bench.tfb.apps.fastapi must not
    # shadow fastapi).
    script = (
        "import importlib, sys\n"
        f"for name in {APPS!r}:\n"
        "    module = importlib.import_module('bench.tfb.apps.' + name)\n"
        "    assert callable(module.app), name\n"
        "    assert module.KIND in ('asgi', 'wsgi'), name\n"
        "    assert module.ORM is (name != 'raw'), name\n"
        "    if name != 'raw':\n"
        "        real = sys.modules[name]\n"
        "        assert 'tfb/apps' not in (real.__file__ or ''), (name, real.__file__)\n"
        "    print(name, module.KIND)\n"
    )
    env = {**os.environ, "TFB_DATABASE_URL": "postgresql://postgres@127.0.0.1:9/nowhere"}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    kinds = dict(line.split() for line in result.stdout.splitlines())
    assert kinds == {name: "asgi" if name in ASGI_APPS else "wsgi" for name in APPS}


# -- the database --------------------------------------------------------------


@pytest.fixture(scope="module")
def database() -> Iterator[Callable[[list[int]], dict[int, int]]]:
    """Make sure the test's TFB database is ready; yield a reader of world rows by id.

    The app modules are imported here, with ``TFB_DATABASE_URL`` pointing at
    that database (they read it at import).
    """
    try:
        import psycopg

        from bench.tfb.db import prepare_database

        asyncio.run(prepare_database(DSN))
        connection = psycopg.connect(DSN, autocommit=True, connect_timeout=5)
    except (ImportError, OSError) as ex:
        skip_or_fail(f"PostgreSQL for the TFB apps ({DSN}) is unavailable: {ex}")
        return
    except Exception as ex:  # asyncpg's and psycopg's errors share no base class
        if type(ex).__module__.startswith(("asyncpg", "psycopg")):
            skip_or_fail(f"PostgreSQL for the TFB apps ({DSN}) is unavailable: {ex}")
            return
        raise

    def read(ids: list[int]) -> dict[int, int]:
        rows = connection.execute(
            "SELECT id, randomnumber FROM world WHERE id = ANY(%s)", (ids,)
        ).fetchall()
        return dict(rows)

    with connection, pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFB_DATABASE_URL", DSN)
        for name in APPS:
            if name == "django" and not DJANGO_ALONE:
                continue
            module = importlib.import_module(f"bench.tfb.apps.{name}")
            assert module.DSN == DSN, f"{name} was imported earlier, with another database"
        yield read


def _requests(orm: bool) -> list[tuple[str, str, int | None]]:
    """Return ``(test, path, expected rows)`` for every route and clamping case."""
    wanted = [("json", "/json", None), ("plaintext", "/plaintext", None)]
    for variant in ("orm", "raw") if orm else ("raw",):
        wanted.append(("db", path_for("db", variant), None))
        wanted.append(("fortunes", path_for("fortunes", variant), None))
        for test in ("queries", "updates"):
            for raw_value, rows in CLAMP_CASES:
                wanted.append((test, path_for(test, variant, raw_value), rows))
    return wanted


def _check(
    test: str,
    path: str,
    rows: int | None,
    response: httpx.Response,
    read: Callable[[list[int]], dict[int, int]],
    before: dict[int, int],
) -> list[str]:
    problems = verify_response(
        test, response.status_code, response.headers, response.content, rows, server_headers=False
    )
    if problems or test not in ("db", "queries", "updates"):
        return [f"{path}: {problem}" for problem in problems]
    data = response.json()
    answered = {row["id"]: row["randomNumber"] for row in ([data] if test == "db" else data)}
    stored = read(list(answered))
    if stored != answered:
        return [f"{path}: answered {answered}, the database holds {stored}"]
    if test == "updates":
        unchanged = [key for key in answered if before[key] == answered[key]]
        before.update(answered)
        # A new random number equals the old one once in 10,000 rows.
        if len(unchanged) > max(1, len(answered) // 100):
            return [f"{path}: rows {unchanged} were not updated"]
    return []


def _run_checks(
    send: Callable[[str], httpx.Response],
    orm: bool,
    read: Callable[[list[int]], dict[int, int]],
) -> list[str]:
    problems: list[str] = []
    stored = read(list(range(1, 10001)))  # nobody else writes to this database
    for test, path, rows in _requests(orm):
        problems += _check(test, path, rows, send(path), read, stored)
    return problems


# -- ASGI: lifespan driven here, requests through httpx.ASGITransport -------------


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """Run the app's ASGI lifespan around the block (httpx's transport does not)."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    task = asyncio.create_task(app(scope, to_app.get, from_app.put))

    async def answer(message_type: str) -> None:
        await to_app.put({"type": message_type})
        getter = asyncio.ensure_future(from_app.get())
        done, _ = await asyncio.wait({getter, task}, timeout=30, return_when="FIRST_COMPLETED")
        if getter not in done:
            getter.cancel()
            error = task.exception() if task in done else None
            raise AssertionError(f"no answer to {message_type}: {error!r}")
        message = getter.result()
        assert message["type"] == f"{message_type}.complete", message

    await answer("lifespan.startup")
    try:
        yield
    finally:
        await answer("lifespan.shutdown")
        await asyncio.wait_for(task, 10)


@pytest.mark.anyio
@pytest.mark.parametrize("name", ASGI_APPS)
async def test_asgi_app_passes_the_verifier(
    name: str, database: Callable[[list[int]], dict[int, int]]
) -> None:
    module = importlib.import_module(f"bench.tfb.apps.{name}")
    transport = httpx.ASGITransport(app=module.app)
    problems: list[str] = []
    stored = database(list(range(1, 10001)))  # nobody else writes to this database
    async with (
        _lifespan(module.app),
        httpx.AsyncClient(transport=transport, base_url="http://tfb") as client,
    ):
        wanted = _requests(module.ORM)
        # PERF: the reads go out together (the app works while PostgreSQL
        # does); the updates one by one, so each is checked against the last.
        reads = [request for request in wanted if request[0] != "updates"]
        answers = await asyncio.gather(*(client.get(path) for _, path, _ in reads))
        for (test, path, rows), response in zip(reads, answers, strict=True):
            problems += _check(test, path, rows, response, database, stored)
        for test, path, rows in wanted:
            if test == "updates":
                response = await client.get(path)
                problems += _check(test, path, rows, response, database, stored)
    assert not problems, "\n".join(problems)


# -- WSGI: httpx.WSGITransport -------------------------------------------------------


@pytest.mark.parametrize("name", WSGI_APPS)
def test_wsgi_app_passes_the_verifier(
    name: str, database: Callable[[list[int]], dict[int, int]]
) -> None:
    if name == "django" and not DJANGO_ALONE:
        node = f"{Path(__file__).relative_to(ROOT)}::test_wsgi_app_passes_the_verifier[django]"
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "bench", node],
            cwd=ROOT,
            env={**os.environ, "TFB_DJANGO_SUBPROCESS": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        return
    module = importlib.import_module(f"bench.tfb.apps.{name}")
    try:
        with httpx.Client(
            transport=httpx.WSGITransport(app=module.app), base_url="http://tfb"
        ) as client:
            problems = _run_checks(client.get, module.ORM, database)
    finally:
        module.pool.close()
        if name == "django":
            from django.db import connections

            connections.close_all()
            connections["default"].close_pool()
        else:
            with module.app.app_context():
                module.db.engine.dispose()
    assert not problems, "\n".join(problems)
