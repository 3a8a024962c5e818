"""Outage logging: one line per service per interval, and one when it is back.

A database or Redis that is down fails every request that needs it; logging a
traceback per request fills the log and hides the one line that matters. An
:class:`OutageLog` remembers, per service, when it last logged, so an outage
reads as::

    WARNING oakling.outage: Redis is unavailable (ConnectionError: ...); 1 request failed
    WARNING oakling.outage: Redis is still unavailable; 412 requests failed in the last 10 s
    INFO    oakling.outage: Redis is available again after 10.4 s

A service that flaps (a pool that times out one request and serves the next)
is logged once per interval too: the time of the last line outlives the
outage, and an outage that was not logged is not announced as over.

Batteries share the process-wide :data:`outages` instance. A
:class:`CircuitBreaker` beside it keeps a failed service from costing its
timeout on every request: after a failure the service is skipped for a short
interval, then one request at a time probes it.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["CircuitBreaker", "OutageLog", "outages"]

logger = logging.getLogger("oakling.outage")

# NOTE: a reason is one line: SQLAlchemy's errors carry the SQL and its
# parameters (user data) on the lines after the driver's message.
_REASON_LENGTH = 300


def _reason(ex: BaseException | None) -> str:
    if ex is None:
        return ""
    lines = str(ex).strip().splitlines()
    text = lines[0] if lines else ""
    if len(text) > _REASON_LENGTH:
        text = text[: _REASON_LENGTH - 3] + "..."
    return f" ({type(ex).__name__}: {text})" if text else f" ({type(ex).__name__})"


def _named(service: str) -> str:
    return service[:1].upper() + service[1:]


class _State:
    __slots__ = ("failures", "last_logged", "since")

    def __init__(self, now: float) -> None:
        self.since = now
        self.last_logged = now
        self.failures = 1


class OutageLog:
    """Log failures of named services at most once per ``interval`` seconds.

    Thread-safe: sync handlers report from the thread pool.

    Args:
        interval: Seconds between two lines about the same ongoing outage.
    """

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._states: dict[str, _State] = {}
        # NOTE: kept after a recovery, so a flapping service is not logged
        # at every failure (see the module doc).
        self._last_logged: dict[str, float] = {}
        self._lock = threading.Lock()

    def failed(self, service: str, ex: BaseException | None = None) -> bool:
        """Record one failure of ``service``; log it if the interval has passed.

        The reason logged is the first line of ``ex`` (at most 300
        characters), never a traceback.

        Returns:
            True when a line was logged for this failure.
        """
        now = time.monotonic()
        with self._lock:
            state = self._states.get(service)
            if state is None:
                state = self._states[service] = _State(now)
                last = self._last_logged.get(service)
                if last is not None and now - last < self.interval:
                    state.last_logged = last  # NOTE: counted; told at the next line
                    return False
                message = f"{_named(service)} is unavailable{_reason(ex)}"
            else:
                state.failures += 1
                if now - state.last_logged < self.interval:
                    return False
                message = (
                    f"{_named(service)} is still unavailable{_reason(ex)}; {state.failures} "
                    f"requests failed in the last {now - state.last_logged:.0f} s"
                )
                state.failures = 0
            state.last_logged = self._last_logged[service] = now
        logger.warning(message)
        return True

    def recovered(self, service: str) -> None:
        """Record a success of ``service``: logs once if its outage was logged."""
        if service not in self._states:  # PERF: the common case takes no lock
            return
        with self._lock:
            state = self._states.pop(service, None)
        if state is not None and state.last_logged >= state.since:
            logger.info(
                "%s is available again after %.1f s",
                _named(service),
                time.monotonic() - state.since,
            )

    def reset(self) -> None:
        """Forget every service and when it was last logged (between tests)."""
        with self._lock:
            self._states.clear()
            self._last_logged.clear()

    def is_down(self, service: str) -> bool:
        """Tell whether ``service`` failed and has not succeeded since."""
        return service in self._states


#: The process-wide outage log the batteries report to.
outages = OutageLog()


class CircuitBreaker:
    """Skip a failed service for ``interval`` seconds, then let one probe through.

    The three states of Nygard's circuit breaker (*Release It!*, 2007),
    kept to what a cache or a rate-limit store needs:

    - closed: every call goes to the service (:meth:`allow` is one
      attribute test);
    - open, for ``interval`` seconds after a failure: :meth:`allow`
      answers False, so the caller answers without I/O (a cache miss, a
      limit failing open or closed) instead of paying the service's
      timeout on every request;
    - half-open, once the interval is over: the first :meth:`allow`
      answers True (the probe) and opens the breaker for another interval,
      so the calls made while the probe waits are still skipped. The
      probe's :meth:`succeeded` closes it, its :meth:`failed` opens it
      again.

    A probe that hangs (a service that accepts connections and never
    answers) costs that one request its timeout, and the next interval
    lets another probe through: once the service answers, a call goes
    through within ``interval`` seconds (plus its round trip), however long
    the timeout. A probe lost to a cancelled request likewise only delays
    the next one by an interval. Thread-safe enough for its purpose: two
    threads may both probe at the same instant, never more per interval.

    Args:
        interval: Seconds a failed service is skipped.
    """

    __slots__ = ("interval", "open_until")

    def __init__(self, interval: float = 0.5) -> None:
        if interval < 0:
            raise ValueError(f"interval must be >= 0 seconds, not {interval}")
        self.interval = interval
        #: Monotonic time the breaker stays open until; 0.0 when closed.
        self.open_until = 0.0

    def allow(self) -> bool:
        """Tell whether a call may go to the service now (see the class doc)."""
        until = self.open_until
        if not until:
            return True  # PERF: closed, the common case
        now = time.monotonic()
        if now < until:
            return False
        # NOTE: half-open: this call is the probe; the others wait an interval more.
        self.open_until = now + self.interval
        return True

    def failed(self) -> None:
        """Record a failed call: skip the service for ``interval`` seconds."""
        self.open_until = time.monotonic() + self.interval

    def succeeded(self) -> None:
        """Record a successful call: close the breaker."""
        self.open_until = 0.0

    @property
    def is_open(self) -> bool:
        """Whether calls are being skipped right now."""
        return bool(self.open_until) and time.monotonic() < self.open_until

    def __repr__(self) -> str:
        state = "closed" if not self.open_until else ("open" if self.is_open else "half-open")
        return f"CircuitBreaker({state}, interval={self.interval})"
