"""Who is making the request: the auth middleware, ``login`` and ``logout``.

:class:`AuthMiddleware` (pure ASGI, installed by the ``Auth`` plugin just
inside the sessions middleware) sets, for every HTTP and WebSocket request:

- ``scope["user"]`` (``request.user``): the logged-in :class:`User`, or an
  :class:`AnonymousUser`;
- ``scope["auth"]`` (``request.auth``): an :class:`AuthCredentials` saying
  how the request was authenticated, or None.

A session is logged in when it holds ``_auth_user_id`` and an
``_auth_user_hash`` that still matches the user's password and session
version (Django's session verification, plus the version): changing the
password, or :func:`logout_all` ("log out everywhere"), logs every other
session out, whatever the session backend.
A request with ``Authorization: Bearer <token>`` is authenticated by the
token instead (RFC 6750); an invalid token is refused with 401.

The user is loaded with its own short database session and detached, with
what ``has_perm`` needs already loaded, so sync and async handlers can read
it. Requests with neither a session user nor a bearer token cost no query.
"""

from __future__ import annotations

import contextvars
import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from oakling.cachecontrol import mark_private, patch_vary_headers
from oakling.responses import JSONResponse
from oakling.signals import user_logged_in, user_logged_out

from .models import AnonymousUser
from .services import (
    bump_session_version,
    bump_session_version_sync,
    get_user,
    get_user_sync,
    get_user_with_permissions,
    session_auth_hash,
)
from .tokens import authenticate_token

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session

    from oakling.requests import HTTPConnection
    from oakling.types import ASGIApp, Message, Receive, Scope, Send

    from . import Auth
    from .models import APIToken, User

__all__ = [
    "HASH_SESSION_KEY",
    "SESSION_KEY",
    "AuthCredentials",
    "AuthMiddleware",
    "current_scope",
    "login",
    "logout",
    "logout_all",
    "logout_all_sync",
    "update_session_auth_hash",
]

#: The session key holding the logged-in user's id (Django's ``_auth_user_id``).
SESSION_KEY = "_auth_user_id"
#: The session key holding the password-derived hash (Django's ``_auth_user_hash``).
HASH_SESSION_KEY = "_auth_user_hash"

_ANONYMOUS = AnonymousUser()

# NOTE: the scope of the request being served, for decorators wrapping
# handlers whose signature does not ask for the request. Sync handlers run in
# the thread pool with the context copied, so they see it too.
_SCOPE: contextvars.ContextVar[Scope] = contextvars.ContextVar("oakling.auth.scope")


def current_scope() -> Scope | None:
    """Return the ASGI scope of the request being served, None outside one."""
    return _SCOPE.get(None)


@dataclass(frozen=True)
class AuthCredentials:
    """How a request was authenticated: ``request.auth``.

    Attributes:
        method: ``"session"`` (a logged-in session cookie) or ``"token"``
            (an ``Authorization: Bearer`` API token).
        scopes: The token's scopes; empty for a session, which is not
            limited by scopes (see :meth:`allows`).
        token: The :class:`APIToken` used, for token authentication.
    """

    method: Literal["session", "token"]
    scopes: frozenset[str] = frozenset()
    token: APIToken | None = field(default=None, compare=False, repr=False)

    def allows(self, *scopes: str) -> bool:
        """Return whether every one of ``scopes`` is granted.

        A session grants them all: scopes restrict what a token, handed to
        a script or another service, may do on the user's behalf.
        """
        if self.method == "session":
            return True
        return all(scope in self.scopes for scope in scopes)


def _keys(settings: Any) -> list[str]:
    key = settings.SECRET_KEY or ""
    return [key, *(settings.SECRET_KEY_FALLBACKS or [])]


def _bearer(scope: Scope) -> str | None:
    """Return the token of an ``Authorization: Bearer`` header, else None."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
            return None
    return None


class AuthMiddleware:
    """Set ``scope["user"]`` and ``scope["auth"]`` (see the module doc).

    Args:
        app: The ASGI app to wrap.
        auth: The installed ``Auth`` plugin (its app's Database and settings).
    """

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate the request, then call the wrapped app."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = _bearer(scope)
        if raw is not None:
            found = await self._from_token(raw)
            if found is None:
                await _refuse_token(scope, receive, send)
                return
            user, token = found
            scope["user"] = user
            scope["auth"] = AuthCredentials(
                "token", frozenset((token.scopes or "").split()), token=token
            )
            if scope["type"] == "http":
                send = _private_to(send)
        else:
            session = scope.get("session")
            if session is not None and session.load_error is not None:
                # NOTE: the session store is down: who asks is unknown, and
                # only a request that looks (request.user, CSRF) gets the 503.
                scope["user"] = scope["auth"] = _Unknown(session.load_error)
            else:
                user = await self._from_session(scope)
                scope["user"] = user
                scope["auth"] = AuthCredentials("session") if user.is_authenticated else None
        reset = _SCOPE.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _SCOPE.reset(reset)

    async def _from_token(self, raw: str) -> tuple[User, APIToken] | None:
        if not raw or len(raw) > 512:
            return None
        async with self.auth.database.async_session() as session:
            found = await authenticate_token(session, raw)
            if found is not None:
                await session.commit()
        if found is None or not found[0].is_active:
            return None
        return found

    async def _from_session(self, scope: Scope) -> Any:
        session = scope.get("session")
        if session is None or not session.had_cookie:
            # PERF: no cookie, no user; and reading nothing keeps the answer
            # free of Vary: Cookie and Cache-Control: private (cacheable).
            return _ANONYMOUS
        user_id = session.get(SESSION_KEY)
        # PERF: no session user, no query.
        if user_id is None:
            return _ANONYMOUS
        stored = session.get(HASH_SESSION_KEY)
        if isinstance(user_id, bool) or not isinstance(user_id, int) or not isinstance(stored, str):
            session.flush()
            return _ANONYMOUS
        async with self.auth.database.async_session(readonly=True) as db:
            # PERF: the user and its permission codenames in one query, not
            # three (the user, then its groups and permissions "selectin").
            user = await get_user_with_permissions(db, user_id)
        if user is None or not user.is_active:
            session.flush()
            return _ANONYMOUS
        keys = _keys(self.auth.settings)
        for index, key in enumerate(keys):
            if hmac.compare_digest(stored, session_auth_hash(user, key)):
                if index:
                    # NOTE: verified by a fallback key: re-sign with the current
                    # one (Django 4.1's SECRET_KEY_FALLBACKS rotation).
                    session[HASH_SESSION_KEY] = session_auth_hash(user, keys[0])
                return user
        # SECURITY: the password changed since this session logged in (or the
        # hash was forged): log it out, as Django's get_user() does.
        session.flush()
        return _ANONYMOUS


class _Unknown:
    """``request.user`` and ``request.auth`` while the session cannot be read.

    Any use (``is_authenticated``, ``has_perm``, truth) raises the error the
    session store gave, which the app answers (a 503 for an outage).
    """

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        raise self.error

    def __bool__(self) -> bool:
        raise self.error


def _private_to(send: Send) -> Send:
    """Wrap ``send``: a token-authenticated answer is private, varies on Authorization."""

    async def send_private(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
            patch_vary_headers(headers, b"Authorization")
            mark_private(headers)
            message = {**message, "headers": headers}
        await send(message)

    return send_private


async def _refuse_token(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer an invalid bearer token: 401 (RFC 6750 section 3.1), or close 1008."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": "invalid token"})
        return
    response = JSONResponse(
        {"detail": "Invalid or expired API token"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )
    await response(scope, receive, send)


def login(request: HTTPConnection, user: User) -> None:
    """Log ``user`` in for the rest of this session (Django's ``login``).

    Gives the session a new id (against session fixation), keeping its data
    unless another user was logged in (then it is emptied first), stores the
    user's id and password-derived hash, and rotates the CSRF token when the
    csrf battery is installed. ``request.user`` is ``user`` from now on. It
    does no I/O: call it from sync or async handlers. The login view also
    records ``last_login``; do the same if you log users in yourself.

    Raises:
        RuntimeError: If the sessions battery is not installed.
    """
    session = request.session
    app = request.app
    keys = _keys(app.settings)
    previous = session.get(SESSION_KEY)
    if previous is not None and previous != user.id:
        session.flush()
    session.cycle_key()
    session[SESSION_KEY] = user.id
    session[HASH_SESSION_KEY] = session_auth_hash(user, keys[0])
    if "csrf" in app.extensions:
        from oakling.csrf import rotate_token

        rotate_token(request)
    request.scope["user"] = user
    request.scope["auth"] = AuthCredentials("session")
    if user_logged_in.on:
        user_logged_in.send(type(user), request=request, user=user)


def logout(request: HTTPConnection) -> None:
    """Log the user out: empty the session and drop its id (Django's ``logout``).

    ``request.user`` is anonymous from now on. No I/O: sync or async handlers.

    Raises:
        RuntimeError: If the sessions battery is not installed.
    """
    user = request.scope.get("user")
    request.session.flush()
    request.scope["user"] = _ANONYMOUS
    request.scope["auth"] = None
    if user_logged_out.on:
        known = user if user is not None and user.is_authenticated else None
        sender = type(known) if known is not None else None
        user_logged_out.send(sender, request=request, user=known)


async def logout_all(request: HTTPConnection, db: AsyncSession) -> bool:
    """Log the user out of every session, this one included ("log out everywhere").

    Bumps the user's session version (:func:`~oakling.auth.services.bump_session_version`)
    in ``db``, then :func:`logout` s this request. Every other session of the
    user is anonymous at its next request, whatever the session backend (a
    signed cookie too, which :func:`logout` alone cannot revoke). API tokens
    keep working: they are not sessions (revoke them one by one). The change
    is flushed in ``db``, not committed: in a handler, the request's session
    commits when it returns.

    Returns:
        Whether a logged-in user's sessions were ended (False for an
        anonymous request, which is only logged out).
    """
    user = request.scope.get("user")
    ended = False
    if user is not None and user.is_authenticated:
        stored = await get_user(db, user.id)
        if stored is not None:
            await bump_session_version(db, stored)
            ended = True
    logout(request)
    return ended


def logout_all_sync(request: HTTPConnection, db: Session) -> bool:
    """Do what :func:`logout_all` does, with a sync session (sync handlers).

    Returns:
        Whether a logged-in user's sessions were ended.
    """
    user = request.scope.get("user")
    ended = False
    if user is not None and user.is_authenticated:
        stored = get_user_sync(db, user.id)
        if stored is not None:
            bump_session_version_sync(db, stored)
            ended = True
    logout(request)
    return ended


def update_session_auth_hash(request: HTTPConnection, user: User) -> None:
    """Keep this session logged in after ``user``'s password changed.

    Other sessions of the user, holding the old hash, are logged out at
    their next request (Django's ``update_session_auth_hash``). The session
    id changes too.
    """
    session = request.session
    session.cycle_key()
    if session.get(SESSION_KEY) == user.id:
        session[HASH_SESSION_KEY] = session_auth_hash(user, _keys(request.app.settings)[0])
    request.scope["user"] = user
