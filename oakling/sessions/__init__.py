"""oakling.sessions: ``request.session``, in a signed cookie, Redis or the database.

Install with ``pip install 'oakling[sessions]'`` (plus ``[redis]`` for the
Redis backend, ``[db]`` for the database one)::

    from oakling import App, Request
    from oakling.sessions import Sessions

    app = App(plugins=[Sessions()])  # a signed cookie keyed by SECRET_KEY


    @app.post("/visit")
    def visit(request: Request) -> dict[str, int]:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return {"visits": request.session["visits"]}

The database backend lives in :mod:`oakling.sessions.database`, imported
only when used (it declares the ``oakling_session`` table).
"""

from __future__ import annotations

try:
    import itsdangerous  # noqa: F401
except ImportError as ex:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"oakling.sessions needs itsdangerous ({ex}); install it with: "
        "pip install 'oakling[sessions]'"
    ) from ex

from .backends import RedisBackend, SessionBackend, SignedCookieBackend
from .middleware import MAX_COOKIE_SIZE, SessionMiddleware
from .plugin import DEFAULT_COOKIE_AGE, Sessions, session_deploy_checks
from .session import Session, SessionTooLarge, new_session_key

__all__ = [
    "DEFAULT_COOKIE_AGE",
    "MAX_COOKIE_SIZE",
    "RedisBackend",
    "Session",
    "SessionBackend",
    "SessionMiddleware",
    "SessionTooLarge",
    "Sessions",
    "SignedCookieBackend",
    "new_session_key",
    "session_deploy_checks",
]


def __getattr__(name: str) -> object:
    """Import the database backend on first use (it declares a table)."""
    if name == "DatabaseBackend":
        from .database import DatabaseBackend

        return DatabaseBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
