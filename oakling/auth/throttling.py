"""Throttles for the auth forms: login, password reset and sign-up.

Every cap is a moving window of the ``limits`` library (exact: no burst at a
window edge). The defaults:

- Login: 10 failed logins per account and 50 per IP address in 15 minutes,
  the figures OWASP's authentication cheat sheet and django-axes use as
  examples. Per account, every attempt is counted *before* the password is
  checked (so the cap also bounds the hashing work an attacker can cause),
  and the count is cleared by a successful login; once the cap is reached
  the account answers 429 even to the right password until the window
  moves. Per IP, the cap is tested before checking and only failures count,
  so an office behind one address is not locked out by its own users.
- Password reset: 3 mails per e-mail address and 20 requests per IP address
  an hour. Beyond the per-address cap the page answers as usual but sends
  nothing, for addresses with and without an account alike, so the cap
  tells nothing; beyond the per-IP cap it answers 429.
- Sign-up: 10 accounts created per IP address an hour; failed sign-ups do
  not count.

An IPv6 client is counted by its /64 network, which one machine usually
holds whole (django-ratelimit's default ``RATELIMIT_IPV6_MASK``): otherwise
each of its 2**64 addresses would get a cap of its own.

The counting is :mod:`oakling.ratelimit`'s, the one mechanism of route
limits and throttles: its :class:`~oakling.ratelimit.RateLimitStorage` and
``limits``' moving window. The counters live in memory (one process) unless
``RATELIMIT_STORAGE_URL`` or ``REDIS_URL`` names a Redis server, which every
worker then shares; the throttles of one app share one storage (the
``Limiter``'s, when the ratelimit battery is installed first).
When the Redis store is down or slower than its timeout (1 s; append
``?socket_timeout=2&socket_connect_timeout=2`` to the URL to change it),
every throttle call raises :class:`~oakling.exceptions.ServiceUnavailable`:
the forms fail closed with a 503, so an outage never lifts a cap. Route
limits fail open instead; ``AUTH_THROTTLE_FAIL_OPEN=1`` makes the
throttles fail open too (an outage then lifts the caps).
The client address is the ASGI peer: behind a proxy, run the server with
its proxy-headers option (``uvicorn --proxy-headers --forwarded-allow-ips``).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from oakling.exceptions import ServiceUnavailable
from oakling.i18n.translation import LazyString, gettext_lazy, ngettext
from oakling.ratelimit.headers import policy_item, ratelimit_item
from oakling.ratelimit.keys import network_of
from oakling.ratelimit.storage import RateLimitStorage, StorageUnavailable, _storage_uri

from .usernames import InvalidUsername, username_key

__all__ = [
    "DEFAULT_ACCOUNT_LIMIT",
    "DEFAULT_IP_LIMIT",
    "DEFAULT_RESET_EMAIL_LIMIT",
    "DEFAULT_RESET_IP_LIMIT",
    "DEFAULT_SIGNUP_IP_LIMIT",
    "LoginThrottle",
    "PasswordResetThrottle",
    "SignupThrottle",
    "ThrottleStorage",
    "Throttled",
    "parse_limit",
]

#: Failed logins allowed per account (``LOGIN_THROTTLE_ACCOUNT`` setting).
DEFAULT_ACCOUNT_LIMIT = "10 per 15 minutes"
#: Failed logins allowed per client IP (``LOGIN_THROTTLE_IP`` setting).
DEFAULT_IP_LIMIT = "50 per 15 minutes"
#: Reset mails per e-mail address (``PASSWORD_RESET_THROTTLE_EMAIL`` setting).
DEFAULT_RESET_EMAIL_LIMIT = "3 per hour"
#: Reset requests per client IP (``PASSWORD_RESET_THROTTLE_IP`` setting).
DEFAULT_RESET_IP_LIMIT = "20 per hour"
#: Accounts created per client IP (``SIGNUP_THROTTLE_IP`` setting).
DEFAULT_SIGNUP_IP_LIMIT = "10 per hour"

Action = Literal["login", "password_reset", "signup"]

# NOTE: what a limiter method answers for "allowed" when failing open.
_OPEN: dict[str, Any] = {"hit": True, "test": True, "clear": None}

_MESSAGES: dict[tuple[Action, str], LazyString] = {
    ("login", "account"): gettext_lazy("Too many failed login attempts for this account."),
    ("login", "ip"): gettext_lazy("Too many failed login attempts from your network address."),
    ("password_reset", "ip"): gettext_lazy(
        "Too many password reset requests from your network address."
    ),
    ("signup", "ip"): gettext_lazy("Too many accounts were created from your network address."),
}


@dataclass(frozen=True)
class Throttled:
    """A form post refused because a cap was reached (answered with 429).

    Attributes:
        scope: ``"account"`` or ``"ip"``: which cap.
        retry_after: Seconds until a post is allowed again (>= 1).
        action: ``"login"``, ``"password_reset"`` or ``"signup"``: which form.
        limit: The cap reached (for the ``RateLimit-Policy`` field).
    """

    scope: Literal["account", "ip"]
    retry_after: int
    action: Action = "login"
    limit: RateLimitItem | None = None

    @property
    def policy(self) -> str:
        """The policy name in the ``RateLimit`` fields: ``"login-account"``, ``"signup-ip"``."""
        return f"{self.action.replace('_', '-')}-{self.scope}"

    def headers(self) -> dict[str, str]:
        """Return the 429's fields, the same as a route limit's 429.

        ``Retry-After`` (RFC 9110 section 10.2.3) and, when the cap is known,
        ``RateLimit-Policy: "login-account";q=10;w=900`` and ``RateLimit:
        "login-account";r=0;t=<retry_after>`` of
        draft-ietf-httpapi-ratelimit-headers-10.
        """
        fields = {"Retry-After": str(self.retry_after)}
        if self.limit is not None:
            fields["RateLimit-Policy"] = policy_item(self.policy, self.limit)
            fields["RateLimit"] = ratelimit_item(self.policy, 0, self.retry_after)
        return fields

    @property
    def message(self) -> str:
        """The sentence shown to the user, naming the wait in minutes."""
        minutes = max(1, math.ceil(self.retry_after / 60))
        again = ngettext(
            "Try again in %(minutes)d minute.", "Try again in %(minutes)d minutes.", minutes
        ) % {"minutes": minutes}
        return f"{_MESSAGES[self.action, self.scope]} {again}"


def parse_limit(text: str | RateLimitItem) -> RateLimitItem:
    """Parse one ``limits`` string such as ``"3 per hour"`` or ``"10/minute"``.

    Returns:
        The parsed limit (a :class:`limits.RateLimitItem` is returned as is).

    Raises:
        ValueError: For text ``limits`` cannot parse, or for several limits
            (``"3 per hour; 10 per day"``), which would otherwise silently
            keep only the first.
    """
    if isinstance(text, RateLimitItem):
        return text
    items = parse_many(text)
    if len(items) != 1:
        raise ValueError(f"several limits in {text!r}; give one")
    return items[0]


def _digest(key: str) -> str:
    # SECURITY: hashed so any input makes a short, safe storage key, and the
    # storage holds no usernames or addresses.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _account_id(username: str) -> str:
    # SECURITY: the look-alike key, so "Admin", "ADMIN" and Cyrillic "аdmin"
    # share one counter.
    try:
        key = username_key(username)
    except InvalidUsername:
        key = username
    return _digest(key)


def _address_id(email: str) -> str:
    # NOTE: what the reset view's lookup compares: lower(email) = lower(typed).
    return _digest(email.strip().lower())


def _network_id(ip: str) -> str:
    """Return the counter key of a client address: IPv6 by its /64 network."""
    return network_of(ip)


class ThrottleStorage(RateLimitStorage):
    """Where throttle counters live: this process's memory, or Redis.

    :class:`oakling.ratelimit.RateLimitStorage`, the one mechanism of route
    limits and auth throttles, checked for moving windows (which the
    throttles use) at construction.

    Args:
        url: ``memory://`` or ``redis://host:port/db`` (``rediss://`` for
            TLS); None means memory.
        **options: :class:`~oakling.ratelimit.RateLimitStorage`'s options
            (``socket_timeout``, ``retry_interval``, ``in_memory_fallback``).

    Raises:
        limits.errors.ConfigurationError: For an unknown storage scheme, or
            Redis without the ``redis`` package.
        NotImplementedError: For a storage without moving windows
            (memcached).
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        super().__init__(url, **options)
        # Fail at startup on a storage without moving windows (memcached),
        # not at the first form post.
        MovingWindowRateLimiter(storage_from_string(_storage_uri(self.url), **self._options()))


class _Throttle:
    """The counting shared by the throttles: one namespace in a storage."""

    #: Prefix of every key of this throttle in the storage.
    namespace: ClassVar[str]
    #: Attributes holding this throttle's limits, for ``repr``.
    _limit_names: ClassVar[tuple[str, ...]]
    action: ClassVar[Action]

    def __init__(self, storage: str | RateLimitStorage | None, fail_open: bool = False) -> None:
        self.storage = (
            storage if isinstance(storage, RateLimitStorage) else ThrottleStorage(storage)
        )
        self.fail_open = fail_open

    @property
    def storage_url(self) -> str:
        """The storage's URL (``memory://`` when none was given)."""
        return self.storage.url

    @property
    def is_memory(self) -> bool:
        """Whether counters are kept in this process only."""
        return self.storage.is_memory

    async def close(self) -> None:
        """Release the storage's connections for this loop (shared by its throttles)."""
        await self.storage.close()

    async def _call(self, method: str, limit: RateLimitItem, scope: str, key: str) -> Any:
        """Run a limiter method; a storage failure is a 503 (fail closed).

        With ``fail_open`` (``AUTH_THROTTLE_FAIL_OPEN``), a storage failure
        counts as allowed instead: an outage then lifts the caps.

        Raises:
            ServiceUnavailable: When the storage (Redis) is down or too slow.
        """
        try:
            return await self.storage.call(
                "moving-window", method, limit, self.namespace, scope, key
            )
        except StorageUnavailable:
            if self.fail_open and method in _OPEN:
                return _OPEN[method]
            # SECURITY: fail closed: no throttle, no form post.
            raise ServiceUnavailable("Redis") from None

    async def _hit(self, limit: RateLimitItem, scope: str, key: str) -> bool:
        return bool(await self._call("hit", limit, scope, key))

    async def _test(self, limit: RateLimitItem, scope: str, key: str) -> bool:
        return bool(await self._call("test", limit, scope, key))

    async def _clear(self, limit: RateLimitItem, scope: str, key: str) -> None:
        await self._call("clear", limit, scope, key)

    async def _refused(
        self, limit: RateLimitItem, scope: Literal["account", "ip"], key: str
    ) -> Throttled:
        """Return the refusal, with the seconds until the window frees a place."""
        stats = await self._call("get_window_stats", limit, scope, key)
        return Throttled(
            scope, max(1, math.ceil(stats.reset_time - time.time())), self.action, limit
        )

    async def _ip_check(
        self, limit: RateLimitItem, ip: str | None, *, count: bool
    ) -> Throttled | None:
        """Test a post from ``ip``, counting it when ``count``.

        Returns:
            None when it may go on (always for an unknown address), else the
            refusal.
        """
        if ip is None:
            return None
        network = _network_id(ip)
        allowed = (
            await self._hit(limit, "ip", network)
            if count
            else await self._test(limit, "ip", network)
        )
        return None if allowed else await self._refused(limit, "ip", network)

    def __repr__(self) -> str:
        limits = ", ".join(f"{name}={str(getattr(self, name))!r}" for name in self._limit_names)
        return f"{type(self).__name__}({self.storage.scheme}, {limits})"


class LoginThrottle(_Throttle):
    """Counts login attempts per account and per IP (see the module doc).

    Args:
        storage: A :class:`ThrottleStorage` (any
            :class:`~oakling.ratelimit.RateLimitStorage`), or its URL:
            ``memory://`` or ``redis://host:port/db``; None means memory.
        per_account: A ``limits`` string, ``"10 per 15 minutes"``.
        per_ip: Likewise for each client address.
        fail_open: When the storage is down, let posts through uncounted
            instead of answering 503 (``AUTH_THROTTLE_FAIL_OPEN``; off).

    Raises:
        ValueError: For a limit string ``limits`` cannot parse.
        limits.errors.ConfigurationError: For an unknown storage scheme.
    """

    namespace = "oakling-login"
    _limit_names = ("per_account", "per_ip")
    action = "login"

    def __init__(
        self,
        storage: str | RateLimitStorage | None = None,
        *,
        per_account: str | RateLimitItem = DEFAULT_ACCOUNT_LIMIT,
        per_ip: str | RateLimitItem = DEFAULT_IP_LIMIT,
        fail_open: bool = False,
    ) -> None:
        self.per_account = parse_limit(per_account)
        self.per_ip = parse_limit(per_ip)
        super().__init__(storage, fail_open)

    async def attempt(self, username: str, ip: str | None) -> Throttled | None:
        """Count a login attempt before the password is checked.

        Returns:
            None when the attempt may go on, else why and for how long not.
        """
        refused = await self._ip_check(self.per_ip, ip, count=False)
        if refused is not None:
            return refused
        account = _account_id(username)
        if not await self._hit(self.per_account, "account", account):
            return await self._refused(self.per_account, "account", account)
        return None

    async def failed(self, ip: str | None) -> None:
        """Record a failed login from ``ip`` (the account was counted already)."""
        if ip is not None:
            await self._hit(self.per_ip, "ip", _network_id(ip))

    async def succeeded(self, username: str) -> None:
        """Forget the account's attempts after a successful login."""
        await self._clear(self.per_account, "account", _account_id(username))

    async def reset(self, username: str | None = None, ip: str | None = None) -> None:
        """Clear the counters of an account and/or an IP (for an admin or a test)."""
        if username is not None:
            await self._clear(self.per_account, "account", _account_id(username))
        if ip is not None:
            await self._clear(self.per_ip, "ip", _network_id(ip))


class PasswordResetThrottle(_Throttle):
    """Caps password reset mails per address and requests per IP.

    Counts every request for an address the same way whether an account has
    it or not, so the cap tells nothing (the page's answer does not change
    either). Django has no such cap; django-ratelimit or Flask-Limiter on
    the reset view is what sites add.

    Args:
        storage: A :class:`ThrottleStorage`, or its URL; None means memory.
        per_email: A ``limits`` string, ``"3 per hour"``: mails per address
            (strip + lower-case, as the view's lookup compares them).
        per_ip: Reset requests per client address, ``"20 per hour"``.

    Raises:
        ValueError: For a limit string ``limits`` cannot parse.
        limits.errors.ConfigurationError: For an unknown storage scheme.
    """

    namespace = "oakling-password-reset"
    _limit_names = ("per_email", "per_ip")
    action = "password_reset"

    def __init__(
        self,
        storage: str | RateLimitStorage | None = None,
        *,
        per_email: str | RateLimitItem = DEFAULT_RESET_EMAIL_LIMIT,
        per_ip: str | RateLimitItem = DEFAULT_RESET_IP_LIMIT,
        fail_open: bool = False,
    ) -> None:
        self.per_email = parse_limit(per_email)
        self.per_ip = parse_limit(per_ip)
        super().__init__(storage, fail_open)

    async def request(self, ip: str | None) -> Throttled | None:
        """Count a reset request from ``ip``.

        Returns:
            None when it may go on, else why and for how long not (429).
        """
        return await self._ip_check(self.per_ip, ip, count=True)

    async def may_mail(self, email: str) -> bool:
        """Count a request for a link to ``email``; return whether one may go."""
        return await self._hit(self.per_email, "email", _address_id(email))

    async def may_mail_recipient(self, recipient: str, asked: str) -> bool:
        """Return whether a mail may go to ``recipient``, an account's address.

        ``asked`` is the address typed in the form, counted by
        :meth:`may_mail`. When the database matched another spelling
        (MariaDB's accent-insensitive collations match ``ánn@example.com``
        to ``ann@example.com``; PostgreSQL's ``lower()`` and Python's differ
        on some letters), the recipient's own address is counted too, so no
        spelling gets a mailbox more than its cap.
        """
        if _address_id(recipient) == _address_id(asked):
            return True  # counted already
        return await self.may_mail(recipient)

    async def reset(self, email: str | None = None, ip: str | None = None) -> None:
        """Clear the counters of an address and/or an IP (for an admin or a test)."""
        if email is not None:
            await self._clear(self.per_email, "email", _address_id(email))
        if ip is not None:
            await self._clear(self.per_ip, "ip", _network_id(ip))


class SignupThrottle(_Throttle):
    """Caps the accounts created per client IP; failed sign-ups do not count.

    Django has no such cap (django-ratelimit is what sites add; Flask-Limiter
    on a Flask app).

    Args:
        storage: A :class:`ThrottleStorage`, or its URL; None means memory.
        per_ip: A ``limits`` string, ``"10 per hour"``.

    Raises:
        ValueError: For a limit string ``limits`` cannot parse.
        limits.errors.ConfigurationError: For an unknown storage scheme.
    """

    namespace = "oakling-signup"
    _limit_names = ("per_ip",)
    action = "signup"

    def __init__(
        self,
        storage: str | RateLimitStorage | None = None,
        *,
        per_ip: str | RateLimitItem = DEFAULT_SIGNUP_IP_LIMIT,
        fail_open: bool = False,
    ) -> None:
        self.per_ip = parse_limit(per_ip)
        super().__init__(storage, fail_open)

    async def check(self, ip: str | None) -> Throttled | None:
        """Test, without counting, whether ``ip`` may create an account.

        Returns:
            None when it may, else why and for how long not (429).
        """
        return await self._ip_check(self.per_ip, ip, count=False)

    async def created(self, ip: str | None) -> Throttled | None:
        """Count an account just created (not committed yet) from ``ip``.

        The count is atomic, unlike :meth:`check` followed by it: when
        concurrent sign-ups took the last places meanwhile, this returns the
        refusal and the caller must roll the new account back.

        Returns:
            None when the account may stay, else why and for how long not.
        """
        return await self._ip_check(self.per_ip, ip, count=True)

    async def reset(self, ip: str) -> None:
        """Clear the counter of an IP (for an admin or a test)."""
        await self._clear(self.per_ip, "ip", _network_id(ip))
