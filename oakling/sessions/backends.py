"""Where sessions live: the signed cookie (default) and Redis.

The database backend is :mod:`oakling.sessions.database` (it needs
``oakling.db``). A backend is any object with the three coroutines of
:class:`SessionBackend`; the cookie it works with is an opaque string.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from oakling.exceptions import ImproperlyConfigured, ServiceUnavailable
from oakling.outages import outages

from .session import encode_data

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from oakling.applications import App

__all__ = [
    "REDIS_TIMEOUT",
    "RedisBackend",
    "SessionBackend",
    "SignedCookieBackend",
    "redis_options",
]

#: Seconds to wait for Redis to accept a connection or answer a command:
#: short, so a hung Redis becomes a 503 quickly, not a hang.
REDIS_TIMEOUT = 1.0


def redis_options(timeout: float = REDIS_TIMEOUT) -> dict[str, Any]:
    """Return redis-py client options for a store that must fail fast.

    Timeouts of ``timeout`` seconds for connecting and for each reply, one
    immediate retry on a connection error (a pooled connection that died
    when Redis restarted is replaced, not surfaced) and a health check of
    connections idle for 30 s. Options in the URL's query string
    (``?socket_timeout=2``) win over these.
    """
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    return {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
        "retry_on_error": [RedisConnectionError],
        "health_check_interval": 30,
    }


def _unavailable(ex: BaseException) -> ServiceUnavailable:
    """Log ``ex`` once per interval and return the 503 to raise."""
    outages.failed("Redis", ex)
    return ServiceUnavailable("Redis")


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    # NOTE: OSError covers a socket error redis-py did not wrap.
    return (RedisError, OSError, asyncio.TimeoutError)


#: The itsdangerous salt of session cookies: a value signed for another
#: purpose (a CSRF token, a password-reset link) never passes as a session.
SESSION_SALT = "oakling.sessions"


@runtime_checkable
class SessionBackend(Protocol):
    """The storage of sessions.

    A backend may also define ``setup(app)`` (called by :class:`Sessions`
    at install time), ``async close()`` (called at app shutdown), and
    ``clear_expired_sync()`` or ``async clear_expired()`` returning how many
    expired sessions it deleted (run by ``oakling clearsessions``).
    """

    async def load(self, cookie: str, max_age: int) -> tuple[str, dict[str, Any]] | None:
        """Return ``(session key, data)`` for a cookie value, None if invalid.

        None covers every bad cookie: unknown id, expired, forged, garbage.
        It must not raise for anything a client can send.
        """

    async def save(self, key: str, data: dict[str, Any], max_age: int) -> str:
        """Store ``data`` under ``key`` for ``max_age`` seconds; return the cookie value."""

    async def delete(self, key: str) -> None:
        """Forget the session ``key`` (nothing happens if it does not exist)."""


def _as_session(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


class SignedCookieBackend:
    """Keep the whole session in a signed cookie: the default, no storage needed.

    The cookie is itsdangerous's ``URLSafeTimedSerializer`` output (JSON,
    compressed when that is shorter, base64, timestamp, HMAC-SHA1 keyed
    with a key derived from ``SECRET_KEY`` and the sessions salt). The data is
    readable by the client (signed, not encrypted): keep no secrets in it.
    Its age is checked from the signed timestamp, so an old cookie is
    refused whatever Max-Age the browser kept. Flask's default session.

    Key rotation: cookies signed with a key of ``SECRET_KEY_FALLBACKS`` are
    accepted; every cookie set is signed with ``SECRET_KEY`` only (Django's
    rule). Such a session cannot be revoked before it expires: use a
    server-side backend when logout must end every copy of a session. (With
    the auth battery, ``oakling.auth.logout_all`` still ends every login of
    a user, through the per-user session version the auth hash carries.)

    Args:
        secret_key: The signing key; default ``settings.SECRET_KEY``.
        fallback_keys: Older keys accepted for verification; default
            ``settings.SECRET_KEY_FALLBACKS``.
    """

    def __init__(
        self, secret_key: str | None = None, fallback_keys: list[str] | None = None
    ) -> None:
        self._secret_key = secret_key
        self._fallback_keys = fallback_keys
        self._serializer: Any = None

    def setup(self, app: App) -> None:
        """Read the keys from the app's settings unless given."""
        if self._secret_key is None:
            self._secret_key = app.settings.SECRET_KEY
        if self._fallback_keys is None:
            self._fallback_keys = list(app.settings.SECRET_KEY_FALLBACKS)
        self._serializer = None

    @property
    def serializer(self) -> Any:
        """The itsdangerous serializer (built on first use).

        Raises:
            ImproperlyConfigured: If no secret key is set.
        """
        if self._serializer is None:
            from itsdangerous import URLSafeTimedSerializer

            if not self._secret_key:
                raise ImproperlyConfigured(
                    "cookie sessions need SECRET_KEY: set OAKLING_SECRET_KEY "
                    "(or run with DEBUG on for a development key)"
                )
            # NOTE: itsdangerous signs with the last key and verifies with each.
            keys = [*(self._fallback_keys or []), self._secret_key]
            self._serializer = URLSafeTimedSerializer(keys, salt=SESSION_SALT)
        return self._serializer

    def decode(self, cookie: str, max_age: int) -> tuple[str, dict[str, Any]] | None:
        """Verify and decode a cookie synchronously (no I/O); None if invalid."""
        from itsdangerous import BadData

        if not cookie:
            return None
        try:
            payload = self.serializer.loads(cookie, max_age=max_age)
        except BadData:
            return None
        except (ValueError, TypeError, UnicodeError):
            # NOTE: defensive: itsdangerous wraps decoding errors in BadData.
            return None
        if not isinstance(payload, dict):
            return None
        key, data = payload.get("s"), _as_session(payload.get("d"))
        if not isinstance(key, str) or data is None:
            return None
        return key, data

    async def load(self, cookie: str, max_age: int) -> tuple[str, dict[str, Any]] | None:
        """Verify and decode a cookie; None if forged, expired or unreadable."""
        return self.decode(cookie, max_age)

    async def save(self, key: str, data: dict[str, Any], max_age: int) -> str:
        """Return the signed cookie holding ``data`` and the marker ``key``."""
        encode_data(data)  # NOTE: a clear TypeError naming the key
        value: str = self.serializer.dumps({"s": key, "d": data})
        return value

    async def delete(self, key: str) -> None:
        """Do nothing: a signed cookie cannot be revoked, only expire."""


class RedisBackend:
    """Keep sessions in Redis (``redis.asyncio``); the cookie holds only an id.

    Each session is one string key ``<prefix><id>`` holding JSON, with a TTL
    of the session age, so Redis itself expires it. Deleting the key (logout,
    :meth:`Session.flush`) ends the session everywhere at once.

    When Redis is down or slower than ``timeout``, ``load``, ``save`` and
    ``delete`` raise :class:`~oakling.exceptions.ServiceUnavailable` (503
    with ``Retry-After``) and the outage is logged once per interval,
    without a traceback.

    Args:
        url: ``redis://...`` URL; default the ``SESSION_REDIS_URL`` setting,
            then ``REDIS_URL``, then ``redis://127.0.0.1:6379/0``.
        prefix: Prefix of the Redis keys.
        timeout: Seconds to wait for a connection or a reply (see
            :func:`redis_options`); the URL's ``?socket_timeout=`` wins.
        client: A ready ``redis.asyncio.Redis`` to use instead of ``url``
            (its event loop must be the app's).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "oakling:session:",
        timeout: float = REDIS_TIMEOUT,
        client: Redis | None = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        # NOTE: filled by setup(); until then nothing is caught (no client yet).
        self._errors: tuple[type[BaseException], ...] = ()
        self._given = client
        self._clients: dict[asyncio.AbstractEventLoop, Redis] = {}

    def setup(self, app: App) -> None:
        """Read the URL from the settings unless given, and check redis-py is there.

        Raises:
            ImportError: If redis-py is missing, naming the extra to install.
        """
        try:
            import redis.asyncio  # noqa: F401
        except ImportError as ex:
            raise ImportError(
                f"RedisBackend needs redis-py ({ex}): pip install 'oakling[redis]'"
            ) from ex
        self._errors = _redis_errors()
        if self.url is None:
            self.url = (
                app.settings.get("SESSION_REDIS_URL")
                or app.settings.get("REDIS_URL")
                or "redis://127.0.0.1:6379/0"
            )

    @property
    def client(self) -> Redis:
        """The Redis client of the running event loop (one per loop)."""
        if self._given is not None:
            return self._given
        # NOTE: a redis.asyncio pool belongs to the loop that made it; test
        # clients each run their own loop.
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            from redis.asyncio import Redis

            client = self._clients[loop] = Redis.from_url(
                self.url or "redis://127.0.0.1:6379/0", **redis_options(self.timeout)
            )
        return client

    async def load(self, cookie: str, max_age: int) -> tuple[str, dict[str, Any]] | None:
        """Return the session stored under the id ``cookie``; None if unknown."""
        if not cookie or len(cookie) > 100:
            return None
        try:
            raw = await self.client.get(self.prefix + cookie)
        except self._errors as ex:
            raise _unavailable(ex) from None
        outages.recovered("Redis")
        if raw is None:
            return None
        try:
            data = _as_session(json.loads(raw))
        except ValueError:
            return None
        return None if data is None else (cookie, data)

    async def save(self, key: str, data: dict[str, Any], max_age: int) -> str:
        """Store ``data`` with a TTL of ``max_age`` seconds; return ``key``.

        Raises:
            ServiceUnavailable: When Redis is down or too slow.
        """
        value = encode_data(data)
        try:
            await self.client.set(self.prefix + key, value, ex=max_age)
        except self._errors as ex:
            raise _unavailable(ex) from None
        outages.recovered("Redis")
        return key

    async def delete(self, key: str) -> None:
        """Delete the session ``key``.

        Raises:
            ServiceUnavailable: When Redis is down or too slow.
        """
        try:
            await self.client.delete(self.prefix + key)
        except self._errors as ex:
            raise _unavailable(ex) from None
        outages.recovered("Redis")

    async def close(self) -> None:
        """Close the clients this backend opened (run at app shutdown)."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()
