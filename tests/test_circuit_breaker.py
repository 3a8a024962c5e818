"""The circuit breaker the cache and the rate-limit storage put in front of Redis."""

from __future__ import annotations

import time

import pytest

from oakling.outages import CircuitBreaker


def test_a_closed_breaker_allows_every_call() -> None:
    breaker = CircuitBreaker(0.2)
    assert all(breaker.allow() for _ in range(100))
    assert not breaker.is_open


def test_after_a_failure_calls_are_skipped_for_the_interval() -> None:
    breaker = CircuitBreaker(0.2)
    breaker.failed()
    assert breaker.is_open
    assert [breaker.allow() for _ in range(100)] == [False] * 100


def test_after_the_interval_exactly_one_probe_goes_through_per_interval() -> None:
    breaker = CircuitBreaker(0.1)
    breaker.failed()
    time.sleep(0.12)
    answers = [breaker.allow() for _ in range(50)]
    assert answers == [True] + [False] * 49  # the probe; the others wait for it
    time.sleep(0.12)
    assert breaker.allow()  # a lost (hung, cancelled) probe only costs one interval


def test_a_probe_that_succeeds_closes_and_one_that_fails_reopens() -> None:
    breaker = CircuitBreaker(0.1)
    breaker.failed()
    time.sleep(0.12)
    assert breaker.allow()
    breaker.failed()
    assert not breaker.allow()
    time.sleep(0.12)
    assert breaker.allow()
    breaker.succeeded()
    assert all(breaker.allow() for _ in range(10))
    assert "closed" in repr(breaker)


def test_a_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        CircuitBreaker(-1)
