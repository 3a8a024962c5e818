"""Login throttling per account and per client IP, on the ``limits`` library.

Failed logins are capped with a moving window (exact: no burst at a window
edge), by default 10 per account and 50 per IP address in 15 minutes, the
figures OWASP's authentication cheat sheet and django-axes use as examples.

- Per account, every attempt is counted *before* the password is checked
  (so the cap also bounds the hashing work an attacker can cause), and the
  count is cleared by a successful login. Once the cap is reached, the
  account answers 429 even to the right password until the window moves.
- Per IP, the cap is tested before checking and only failures count, so
  an office behind one address is not locked out by its own users.

The counters live in memory (one process) unless ``RATELIMIT_STORAGE_URL``
or ``REDIS_URL`` names a Redis server, which every worker then shares.
The client address is the ASGI peer: behind a proxy, run the server with
its proxy-headers option (``uvicorn --proxy-headers --forwarded-allow-ips``).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import weakref
from dataclasses import dataclass
from typing import Any, Literal

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from .usernames import InvalidUsername, username_key

__all__ = [
    "DEFAULT_ACCOUNT_LIMIT",
    "DEFAULT_IP_LIMIT",
    "LoginThrottle",
    "Throttled",
]

#: Failed logins allowed per account (``LOGIN_THROTTLE_ACCOUNT`` setting).
DEFAULT_ACCOUNT_LIMIT = "10 per 15 minutes"
#: Failed logins allowed per client IP (``LOGIN_THROTTLE_IP`` setting).
DEFAULT_IP_LIMIT = "50 per 15 minutes"

_NAMESPACE = "oakling-login"


@dataclass(frozen=True)
class Throttled:
    """A login refused because a cap was reached.

    Attributes:
        scope: ``"account"`` or ``"ip"``: which cap.
        retry_after: Seconds until an attempt is allowed again (>= 1).
    """

    scope: Literal["account", "ip"]
    retry_after: int

    @property
    def message(self) -> str:
        """The sentence shown to the user, naming the wait in minutes."""
        minutes = max(1, math.ceil(self.retry_after / 60))
        unit = "minute" if minutes == 1 else "minutes"
        what = "for this account" if self.scope == "account" else "from your network address"
        return f"Too many failed login attempts {what}. Try again in {minutes} {unit}."


def _account_id(username: str) -> str:
    # SECURITY: the look-alike key, so "Admin", "ADMIN" and Cyrillic "аdmin"
    # share one counter; hashed so any input makes a short, safe storage key.
    try:
        key = username_key(username)
    except InvalidUsername:
        key = username
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _storage_uri(url: str) -> str:
    """Return the ``limits`` async storage URI for a settings URL."""
    if url.startswith("async+"):
        return url
    return f"async+{url}"


class LoginThrottle:
    """Counts login attempts per account and per IP (see the module doc).

    Args:
        storage_url: ``memory://`` or ``redis://host:port/db`` (``rediss://``
            for TLS); None means memory.
        per_account: A ``limits`` string, ``"10 per 15 minutes"``.
        per_ip: Likewise for each client address.

    Raises:
        ValueError: For a limit string ``limits`` cannot parse.
        limits.errors.ConfigurationError: For an unknown storage scheme.
    """

    def __init__(
        self,
        storage_url: str | None = None,
        *,
        per_account: str = DEFAULT_ACCOUNT_LIMIT,
        per_ip: str = DEFAULT_IP_LIMIT,
    ) -> None:
        self.storage_url = storage_url or "memory://"
        self.per_account: RateLimitItem = parse(per_account)
        self.per_ip: RateLimitItem = parse(per_ip)
        # NOTE: async storages hold locks and connections of one event loop;
        # a process serves from one loop, tests start a loop per client.
        self._limiters: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, MovingWindowRateLimiter
        ] = weakref.WeakKeyDictionary()
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        # Fail at startup on a bad URL, not at the first login.
        storage_from_string(_storage_uri(self.storage_url), **self._options())

    @property
    def is_memory(self) -> bool:
        """Whether counters are kept in this process only."""
        return self.storage_url.startswith(("memory:", "async+memory:"))

    @property
    def _is_redis(self) -> bool:
        return self.storage_url.startswith(("redis", "rediss", "async+redis"))

    def _options(self) -> dict[str, Any]:
        if self._is_redis:
            # NOTE: limits defaults to coredis; redis-py is what oakling uses.
            return {"implementation": "redispy"}
        return {}

    def _limiter(self) -> MovingWindowRateLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            options = self._options()
            if self._is_redis:
                import redis.asyncio

                # NOTE: our own pool, so close() can release its connections.
                url = self.storage_url.removeprefix("async+")
                pool = redis.asyncio.ConnectionPool.from_url(url)
                self._pools[loop] = pool
                options["connection_pool"] = pool
            storage = storage_from_string(_storage_uri(self.storage_url), **options)
            limiter = self._limiters[loop] = MovingWindowRateLimiter(storage)
        return limiter

    async def close(self) -> None:
        """Release this event loop's storage connections (run at app shutdown)."""
        loop = asyncio.get_running_loop()
        self._limiters.pop(loop, None)
        pool = self._pools.pop(loop, None)
        if pool is not None:
            await pool.aclose()

    async def _wait(self, limit: RateLimitItem, *keys: str) -> int:
        stats = await self._limiter().get_window_stats(limit, _NAMESPACE, *keys)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def attempt(self, username: str, ip: str | None) -> Throttled | None:
        """Count a login attempt before the password is checked.

        Returns:
            None when the attempt may go on, else why and for how long not.
        """
        limiter = self._limiter()
        if ip is not None and not await limiter.test(self.per_ip, _NAMESPACE, "ip", ip):
            return Throttled("ip", await self._wait(self.per_ip, "ip", ip))
        account = _account_id(username)
        if not await limiter.hit(self.per_account, _NAMESPACE, "account", account):
            return Throttled("account", await self._wait(self.per_account, "account", account))
        return None

    async def failed(self, ip: str | None) -> None:
        """Record a failed login from ``ip`` (the account was counted already)."""
        if ip is not None:
            await self._limiter().hit(self.per_ip, _NAMESPACE, "ip", ip)

    async def succeeded(self, username: str) -> None:
        """Forget the account's attempts after a successful login."""
        await self._limiter().clear(self.per_account, _NAMESPACE, "account", _account_id(username))

    async def reset(self, username: str | None = None, ip: str | None = None) -> None:
        """Clear the counters of an account and/or an IP (for an admin or a test)."""
        limiter = self._limiter()
        if username is not None:
            await limiter.clear(self.per_account, _NAMESPACE, "account", _account_id(username))
        if ip is not None:
            await limiter.clear(self.per_ip, _NAMESPACE, "ip", ip)

    def __repr__(self) -> str:
        # SECURITY: the storage URL may hold a password; show its scheme only.
        scheme = self.storage_url.partition("://")[0]
        return (
            f"LoginThrottle({scheme}, per_account={str(self.per_account)!r}, "
            f"per_ip={str(self.per_ip)!r})"
        )
