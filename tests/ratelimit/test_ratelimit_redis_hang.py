"""Fault tests: limits on a Redis that hangs (accepts, never answers) or answers late.

A :class:`~tests.redis_faults.HangingProxy` on a private port stands in front
of the shared Redis. Without a circuit breaker every limited request paid the
socket timeout (1 s, twice with redis-py's retry) while Redis hung; now the
first pays it, the others get the fail-open (served) or fail-closed (503)
answer at once, one request per interval probes Redis, and counting resumes
within 1 s of Redis answering.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oakling import App
from oakling.ratelimit import Limiter, RateLimitStorage, StorageUnavailable, ratelimit
from oakling.ratelimit.headers import policy_name
from oakling.testing import TestClient
from tests.conftest import redis_problem, skip_or_fail
from tests.redis_faults import HangingProxy, StoppedRedis, private_port

JSON = {"Accept": "application/json"}
# NOTE: well above what a request takes on a loaded machine, so a wait is a timeout.
TIMEOUT = 0.4
REDIS_URL = os.environ.get("OAKLING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def proxy() -> Iterator[HangingProxy]:
    problem = redis_problem(REDIS_URL)
    if problem:
        skip_or_fail(problem)
    running = HangingProxy(REDIS_URL, private_port(20))
    running.start()
    yield running
    running.stop()


def _app(url: str, **options: object) -> App:
    scope = f"hang{time.monotonic_ns()}"
    limiter = Limiter(
        storage_uri=url,
        storage_options={"socket_timeout": TIMEOUT},
        **options,  # type: ignore[arg-type]
    )
    app = App(debug=True, plugins=[limiter])

    @app.get("/open")
    @ratelimit("3/minute", scope=f"{scope}-open")
    def open_route() -> str:
        return "open"

    @app.get("/closed")
    @ratelimit("3/minute", scope=f"{scope}-closed", fail_open=False)
    def closed_route() -> str:
        return "closed"

    return app


def _timed(client: TestClient, path: str) -> tuple[int, float]:
    started = time.monotonic()
    status = client.get(path, headers=JSON).status_code
    return status, time.monotonic() - started


@pytest.mark.parametrize("fault", ["blackhole", "slow"])
def test_a_hung_redis_does_not_hang_limited_requests(
    proxy: HangingProxy, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(_app(proxy.url), raise_server_exceptions=False) as client:
        assert client.get("/open").status_code == 200
        assert client.get("/closed").status_code == 200
        if fault == "blackhole":
            proxy.hang()
        else:
            proxy.slow(TIMEOUT * 5)
        with caplog.at_level(logging.INFO, logger="oakling.outage"):
            started = time.monotonic()
            opened = [_timed(client, "/open") for _ in range(25)]
            closed = [_timed(client, "/closed") for _ in range(25)]
            took = time.monotonic() - started
        assert {status for status, _ in opened} == {200}  # general limits fail open
        assert {status for status, _ in closed} == {503}  # this one fails closed
        durations = [seconds for _, seconds in opened + closed]
        assert max(durations) < TIMEOUT * 1.9, max(durations)  # one timeout, never two
        waited = [seconds for seconds in durations if seconds >= TIMEOUT * 0.9]
        assert len(waited) <= 2 + took / 0.5, (len(waited), took)
        warnings = [
            r for r in caplog.records if r.levelno == logging.WARNING and r.name == "oakling.outage"
        ]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert all(r.exc_info is None for r in caplog.records)

        proxy.heal()
        healed = time.monotonic()
        statuses = []
        while time.monotonic() - healed < 1.0 and statuses[-1:] != [429]:
            statuses.append(client.get("/closed").status_code)
            time.sleep(0.02)
    # the window counts again: served until the limit (1 before + 2), then 429
    assert statuses[-1] == 429, statuses
    assert statuses.count(200) == 2, statuses


def test_concurrent_checks_after_the_interval_send_one_probe(proxy: HangingProxy) -> None:
    from limits import parse

    storage = RateLimitStorage(proxy.url, socket_timeout=TIMEOUT)
    item = parse("5/minute")
    scope = f"herd{time.monotonic_ns()}"

    async def timed_hit() -> float:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            await storage.call("moving-window", "hit", item, "oakling-rl", scope, "ip")
        return time.monotonic() - started

    async def scenario() -> list[float]:
        assert await storage.call("moving-window", "hit", item, "oakling-rl", scope, "ip")
        proxy.hang()
        await timed_hit()
        await asyncio.sleep(0.6)
        durations = await asyncio.gather(*(timed_hit() for _ in range(50)))
        await storage.close()
        return list(durations)

    try:
        durations = asyncio.run(scenario())
    finally:
        proxy.heal()
    waited = [value for value in durations if value >= TIMEOUT * 0.9]
    assert len(waited) == 1, sorted(durations)


def test_in_memory_fallback_keeps_counting_while_redis_hangs(proxy: HangingProxy) -> None:
    with TestClient(_app(proxy.url, in_memory_fallback=True)) as client:
        assert client.get("/closed").status_code == 200
        proxy.hang()
        during = [client.get("/closed", headers=JSON) for _ in range(4)]
        proxy.heal()
        time.sleep(0.6)  # past the retry interval: Redis's own counters rule again
        after = [client.get("/closed").status_code for _ in range(3)]
    # counted in this process while Redis hung: the limit still holds, no 503
    assert [answer.status_code for answer in during] == [200, 200, 200, 429]
    limited = during[3]
    assert limited.headers["retry-after"]
    assert limited.headers["ratelimit-policy"].startswith(f'"{policy_name_of("3/minute")}"')
    # Redis held 1 hit from before the outage: 2 more fit
    assert after == [200, 200, 429]


def policy_name_of(text: str) -> str:
    from limits import parse

    return policy_name(parse(text))


def test_login_throttle_on_a_hung_redis_answers_503_at_once(
    proxy: HangingProxy, tmp_path: Path
) -> None:
    from oakling.auth import Auth
    from oakling.config import Settings
    from oakling.db import Database
    from oakling.sessions import Sessions

    app = App(
        settings=Settings(SECRET_KEY="k" * 50),
        plugins=[
            Database(f"sqlite:///{tmp_path / 'auth.db'}"),
            Sessions(),
            Limiter(storage_uri=proxy.url, storage_options={"socket_timeout": TIMEOUT}),
            Auth(),
        ],
    )
    form = {"username": "ann", "password": "wrong"}
    with TestClient(app, raise_server_exceptions=False) as client:
        app.extensions["db"].create_all()
        assert client.post("/auth/login", data=form).status_code < 500
        proxy.hang()
        answers, durations = [], []
        for _ in range(10):
            started = time.monotonic()
            answers.append(client.post("/auth/login", data=form, headers=JSON))
            durations.append(time.monotonic() - started)
    # fail closed: an outage never lifts the password-guessing cap; and at once
    assert {answer.status_code for answer in answers} == {503}
    assert all(answer.headers["retry-after"] for answer in answers)
    assert max(durations) < TIMEOUT * 1.9, durations
    assert len([value for value in durations if value >= TIMEOUT * 0.9]) <= 2, durations


def test_a_frozen_redis_server_recovers_within_a_second_of_sigcont() -> None:
    server = StoppedRedis(private_port(21))
    server.start()
    try:
        with TestClient(_app(server.url), raise_server_exceptions=False) as client:
            assert client.get("/closed").status_code == 200
            server.freeze()
            started = time.monotonic()
            during = [client.get("/closed", headers=JSON).status_code for _ in range(10)]
            took = time.monotonic() - started  # without the breaker: 10 timeouts
            thawed = server.thaw()
            statuses = []
            while time.monotonic() - thawed < 1.0 and statuses[-1:] != [429]:
                statuses.append(client.get("/closed").status_code)
                time.sleep(0.02)
    finally:
        server.stop()
    assert set(during) == {503}
    assert took < TIMEOUT * 4, took
    assert statuses[-1] == 429, statuses  # counted again within 1 s


def test_unknown_storage_options_are_refused_at_startup() -> None:
    from oakling.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="storage_options"):
        App(plugins=[Limiter(storage_options={"socket_timeuot": 1})])


def test_storage_options_and_the_fallback_setting_reach_the_storage() -> None:
    from oakling.config import Settings

    app = App(
        settings=Settings(extra={"RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": "true"}),
        plugins=[Limiter(storage_options={"socket_timeout": 0.3, "retry_interval": 2.0})],
    )
    storage = app.extensions["ratelimit"].storage
    assert storage.socket_timeout == 0.3
    assert storage.breaker.interval == 2.0
    assert storage.in_memory_fallback is True


def test_in_memory_fallback_keeps_the_login_cap_while_redis_hangs(
    proxy: HangingProxy, tmp_path: Path
) -> None:
    from oakling.auth import Auth
    from oakling.config import Settings
    from oakling.db import Database
    from oakling.sessions import Sessions

    app = App(
        settings=Settings(SECRET_KEY="k" * 50),
        plugins=[
            Database(f"sqlite:///{tmp_path / 'auth.db'}"),
            Sessions(),
            Limiter(
                storage_uri=proxy.url,
                storage_options={"socket_timeout": TIMEOUT},
                in_memory_fallback=True,
            ),
            Auth(throttle_account="3 per 15 minutes"),
        ],
    )
    form = {"username": f"ann{time.monotonic_ns()}", "password": "wrong"}
    with TestClient(app, raise_server_exceptions=False) as client:
        app.extensions["db"].create_all()
        proxy.hang()
        statuses = [client.post("/auth/login", data=form).status_code for _ in range(4)]
        refused = client.post("/auth/login", data=form)
    # counted in this worker's memory: wrong passwords are answered (no 503), and
    # the cap still holds during the outage (per worker)
    assert statuses == [400, 400, 400, 429]
    assert refused.status_code == 429
    assert refused.headers["ratelimit-policy"] == '"login-account";q=3;w=900'
