"""oakling.ratelimit: rate limits for any route, on the ``limits`` library.

Install with ``pip install 'oakling[ratelimit]'`` (plus ``[redis]`` to share
counters between workers)::

    from oakling import App
    from oakling.ratelimit import Limiter, ratelimit, token_key

    app = App(plugins=[Limiter(default_limits=["100/minute"])])


    @app.get("/search")
    @ratelimit("10/minute", key=token_key)
    def search(q: str) -> dict[str, str]:
        return {"q": q}

Beyond a limit, a route answers 429 with ``Retry-After`` and the
``RateLimit``/``RateLimit-Policy`` fields of draft-ietf-httpapi-ratelimit-headers-10.
See ``docs/ratelimit.md``.
"""

from __future__ import annotations

try:
    import limits  # noqa: F401
except ImportError as ex:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"oakling.ratelimit needs limits ({ex}); install it with: pip install 'oakling[ratelimit]'"
    ) from ex

from .keys import get_remote_address, ip_key, network_of, token_key, user_key, user_or_ip
from .limiter import (
    Limit,
    Limiter,
    RateLimit,
    RateLimitExceeded,
    has_scope,
    is_staff,
    parse_limits,
    ratelimit,
    ratelimit_exempt,
)
from .storage import STRATEGIES, RateLimitStorage, StorageUnavailable

__all__ = [
    "STRATEGIES",
    "Limit",
    "Limiter",
    "RateLimit",
    "RateLimitExceeded",
    "RateLimitStorage",
    "StorageUnavailable",
    "get_remote_address",
    "has_scope",
    "ip_key",
    "is_staff",
    "network_of",
    "parse_limits",
    "ratelimit",
    "ratelimit_exempt",
    "token_key",
    "user_key",
    "user_or_ip",
]
