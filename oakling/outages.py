"""Outage logging: one line per service per interval, and one when it is back.

A database or Redis that is down fails every request that needs it; logging a
traceback per request fills the log and hides the one line that matters. An
:class:`OutageLog` remembers, per service, when it last logged, so an outage
reads as::

    WARNING oakling.outage: Redis unavailable (ConnectionError: ...); 1 request failed
    WARNING oakling.outage: Redis still unavailable; 412 requests failed in the last 10 s
    INFO    oakling.outage: Redis available again after 10.4 s

Batteries share the process-wide :data:`outages` instance.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["OutageLog", "outages"]

logger = logging.getLogger("oakling.outage")


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
        self._lock = threading.Lock()

    def failed(self, service: str, ex: BaseException | None = None) -> bool:
        """Record one failure of ``service``; log it if the interval has passed.

        Returns:
            True when a line was logged for this failure.
        """
        now = time.monotonic()
        reason = f" ({type(ex).__name__}: {ex})" if ex is not None else ""
        with self._lock:
            state = self._states.get(service)
            if state is None:
                self._states[service] = _State(now)
                message = f"{service} unavailable{reason}"
            else:
                state.failures += 1
                if now - state.last_logged < self.interval:
                    return False
                message = (
                    f"{service} still unavailable{reason}; {state.failures} requests "
                    f"failed in the last {now - state.last_logged:.0f} s"
                )
                state.last_logged = now
                state.failures = 0
        logger.warning(message)
        return True

    def recovered(self, service: str) -> None:
        """Record a success of ``service``: logs once if it was down, else nothing."""
        if service not in self._states:  # PERF: the common case takes no lock
            return
        with self._lock:
            state = self._states.pop(service, None)
        if state is not None:
            logger.info("%s available again after %.1f s", service, time.monotonic() - state.since)

    def is_down(self, service: str) -> bool:
        """Tell whether ``service`` failed and has not succeeded since."""
        return service in self._states


#: The process-wide outage log the batteries report to.
outages = OutageLog()
