"""Limits on Redis: shared counters, and a Redis outage that is never a 500.

Recovery is "within 1 s of Redis answering", not "the first request": after a
failure the storage's circuit breaker skips Redis for its retry interval.

The outage tests kill a private redis-server on port 6393; the shared Redis
(db 2 by default for this suite) holds the counters of the others.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ratelimit_support import PrivateRedis

from oakling import App
from oakling.ratelimit import Limiter, ratelimit
from oakling.testing import TestClient

JSON = {"Accept": "application/json"}


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    # NOTE: a port of its own per run (OAKLING_TEST_PRIVATE_REDIS_PORT), never 6379.
    server = PrivateRedis(int(os.environ.get("OAKLING_TEST_PRIVATE_REDIS_PORT", "6393")))
    server.start()
    yield server
    server.stop()


def _app(url: str, **options: object) -> App:
    app = App(debug=True, plugins=[Limiter(storage_uri=url, **options)])  # type: ignore[arg-type]

    @app.get("/open")
    @ratelimit("3/minute")
    def open_route() -> str:
        return "open"

    @app.get("/closed")
    @ratelimit("3/minute", fail_open=False)
    def closed_route() -> str:
        return "closed"

    @app.get("/free")
    def free() -> str:
        return "free"

    return app


def test_counters_on_redis_are_shared_by_two_apps(redis_url: str) -> None:
    """Two processes (here two apps and event loops) share one window on Redis."""
    with TestClient(_app(redis_url)) as one, TestClient(_app(redis_url)) as two:
        statuses = [one.get("/open").status_code, two.get("/open").status_code]
        statuses += [one.get("/open").status_code, two.get("/open").status_code]
    assert statuses == [200, 200, 200, 429]


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window", "sliding-window-counter"])
def test_every_strategy_works_on_redis(redis_url: str, strategy: str) -> None:
    with TestClient(_app(redis_url, strategy=strategy)) as client:
        statuses = [client.get("/open").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_redis_outage_general_limits_fail_open_and_recover_within_a_second(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(_app(private_redis.url), raise_server_exceptions=False) as client:
        assert [client.get("/open").status_code for _ in range(4)] == [200, 200, 200, 429]
        private_redis.stop()
        with caplog.at_level(logging.INFO, logger="oakling.outage"):
            during = []
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:  # a probe every 100 ms
                during.append(client.get("/open", headers=JSON).status_code)
                during.append(client.get("/free").status_code)
                time.sleep(0.1)
            # the outage is logged once, with no traceback
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1, [r.getMessage() for r in warnings]
            assert "Redis is unavailable" in warnings[0].getMessage()
            assert all(r.exc_info is None for r in caplog.records)
            accepting = private_redis.start()
            after = []
            # NOTE: the circuit breaker skips Redis for up to 0.5 s after its last
            # failure (those requests fail open, uncounted); then it counts again.
            while time.monotonic() - accepting < 1.5 and after[-1:] != [429]:
                after.append(client.get("/open").status_code)
                time.sleep(0.02)
            counted_again = time.monotonic() - accepting
    assert set(during) == {200}  # no 500, and no limit while Redis is away
    # counted again within 1 s of Redis coming back: 3 fit the new window, then 429
    assert after[-1] == 429, after
    assert counted_again < 1.0
    assert any("available again" in r.getMessage() for r in caplog.records)


def test_redis_outage_fail_closed_limits_answer_503_with_retry_after(
    private_redis: PrivateRedis,
) -> None:
    with TestClient(_app(private_redis.url), raise_server_exceptions=False) as client:
        assert client.get("/closed").status_code == 200
        private_redis.stop()
        answers = [client.get("/closed", headers=JSON) for _ in range(5)]
        assert client.get("/free").status_code == 200  # a route without limits is served
        accepting = private_redis.start()
        first = client.get("/closed")
        while first.status_code == 503 and time.monotonic() - accepting < 1.5:
            time.sleep(0.02)  # NOTE: the breaker's retry interval (0.5 s)
            first = client.get("/closed")
        took = time.monotonic() - accepting
    assert {answer.status_code for answer in answers} == {503}
    assert all(answer.headers["retry-after"] for answer in answers)
    assert "Redis" in answers[0].json()["detail"]
    assert first.status_code == 200
    assert took < 1.0


def test_fail_open_setting_off_makes_every_limit_fail_closed(private_redis: PrivateRedis) -> None:
    with TestClient(_app(private_redis.url, fail_open=False), raise_server_exceptions=False) as c:
        private_redis.stop()
        assert c.get("/open", headers=JSON).status_code == 503


def _auth_app(url: str, database: Path, **auth_options: object) -> App:
    from oakling.auth import Auth
    from oakling.config import Settings
    from oakling.db import Database
    from oakling.sessions import Sessions

    app = App(
        settings=Settings(SECRET_KEY="k" * 50),
        plugins=[
            Database(f"sqlite:///{database}"),
            Sessions(),
            Limiter(storage_uri=url),
            Auth(**auth_options),  # type: ignore[arg-type]
        ],
    )

    @app.get("/limited")
    @ratelimit("3/minute")
    def limited() -> str:
        return "limited"

    return app


def _create_tables(app: App) -> None:
    app.extensions["db"].create_all()


def test_one_outage_general_limits_open_login_throttle_closed(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    app = _auth_app(private_redis.url, tmp_path / "auth.db")
    # one mechanism, one store: the throttles count in the Limiter's storage
    assert app.extensions["auth"].throttle.storage is app.extensions["ratelimit"].storage
    form = {"username": "ann", "password": "wrong"}
    with TestClient(app, raise_server_exceptions=False) as client:
        _create_tables(app)
        assert client.post("/auth/login", data=form).status_code < 500
        private_redis.stop()
        limited = [client.get("/limited").status_code for _ in range(5)]
        login = client.post("/auth/login", data=form, headers=JSON)
        accepting = private_redis.start()
        after = client.post("/auth/login", data=form)
        while after.status_code == 503 and time.monotonic() - accepting < 1.0:
            time.sleep(0.02)  # NOTE: the breaker's retry interval (0.5 s)
            after = client.post("/auth/login", data=form)
    assert limited == [200] * 5
    assert login.status_code == 503
    assert login.headers["retry-after"]
    assert after.status_code < 500


def test_auth_throttle_fail_open_setting_lets_logins_through(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    app = _auth_app(private_redis.url, tmp_path / "auth.db", throttle_fail_open=True)
    form = {"username": "ann", "password": "wrong"}
    with TestClient(app, raise_server_exceptions=False) as client:
        _create_tables(app)
        private_redis.stop()
        login = client.post("/auth/login", data=form)
    # the form answers (a wrong password), not the outage's 503
    assert login.status_code < 500, login.text
