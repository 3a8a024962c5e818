"""The outage log: one line per interval per service, one when it is back."""

from __future__ import annotations

import logging

import pytest

from oakling import App, ServiceUnavailable
from oakling.outages import OutageLog
from oakling.testing import TestClient


def test_an_outage_logs_once_per_interval_not_per_request(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr("oakling.outages.time.monotonic", lambda: clock[0])
    log = OutageLog(interval=10)
    with caplog.at_level(logging.INFO, logger="oakling.outage"):
        assert log.failed("Redis", ConnectionError("refused"))
        for _ in range(500):
            assert not log.failed("Redis", ConnectionError("refused"))
        clock[0] += 10
        assert log.failed("Redis")
        log.recovered("Redis")
        log.recovered("Redis")
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "Redis is unavailable (ConnectionError: refused)",
        "Redis is still unavailable; 502 requests failed in the last 10 s",
        "Redis is available again after 10.0 s",
    ]
    assert all(record.exc_info is None for record in caplog.records)
    assert not log.is_down("Redis")


def test_a_flapping_service_is_logged_once_per_interval_too(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pool that times out one request and serves the next, 1000 times.
    clock = [100.0]
    monkeypatch.setattr("oakling.outages.time.monotonic", lambda: clock[0])
    log = OutageLog(interval=10)
    with caplog.at_level(logging.INFO, logger="oakling.outage"):
        for _ in range(1000):
            log.failed("the database pool", TimeoutError("QueuePool limit reached"))
            log.recovered("the database pool")
            clock[0] += 0.01
        log.failed("the database pool")
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "The database pool is unavailable (TimeoutError: QueuePool limit reached)",
        "The database pool is available again after 0.0 s",
        "The database pool is unavailable",
    ]


def test_the_reason_is_one_line_without_the_sql_or_its_parameters() -> None:
    from sqlalchemy.exc import OperationalError

    ex = OperationalError(
        "SELECT * FROM auth_user WHERE username = %(name)s", {"name": "ann"}, OSError("refused")
    )
    log = OutageLog()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("oakling.outage").addHandler(handler)
    try:
        log.failed("the database", ex)
    finally:
        logging.getLogger("oakling.outage").removeHandler(handler)
    (line,) = [record.getMessage() for record in records]
    assert line == "The database is unavailable (OperationalError: (builtins.OSError) refused)"


def test_services_are_logged_apart() -> None:
    log = OutageLog(interval=10)
    assert log.failed("Redis")
    assert log.failed("the database")
    assert log.is_down("Redis") and log.is_down("the database")


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [("application/json", "application/json"), ("text/html", "text/html")],
)
def test_service_unavailable_is_a_negotiated_503_with_retry_after(
    accept: str, content_type: str
) -> None:
    app = App(debug=True)

    @app.get("/")
    def index() -> str:
        raise ServiceUnavailable("Redis", retry_after=7)

    response = TestClient(app).get("/", headers={"Accept": accept})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert response.headers["Content-Type"].startswith(content_type)
    assert "Redis unavailable" in response.text
