"""Access control for handlers: decorators and dependencies.

The same three checks, in two forms:

=========================================  ==========================================
decorator (Django / Flask-Login style)     dependency (FastAPI style)
=========================================  ==========================================
``@login_required``                        ``user: CurrentUser``, ``user: User``,
                                           ``Depends(require_user)``
``@permission_required("tasks.change")``   ``Depends(require_permission("tasks.change"))``
``@scopes_required("tasks:write")``        ``Depends(require_scopes("tasks:write"))``
=========================================  ==========================================

An anonymous request is refused with :class:`LoginRequired`: a browser is
redirected (302) to ``LOGIN_URL?next=<path>``; an API client (one that
prefers JSON, sends ``X-Requested-With: XMLHttpRequest`` or any
``Authorization`` header) gets 401 with ``WWW-Authenticate: Bearer``. An
authenticated user lacking the permission gets 403 (:class:`PermissionDenied`);
a token lacking a scope gets 403 with ``error="insufficient_scope"``
(RFC 6750 section 3.1). On a WebSocket, each refusal closes with 1008.

Decorators go under the route decorator (``@app.get`` outermost) and work
on sync and async handlers; the wrapper keeps the handler's name and
signature, so its parameters are extracted as before.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, overload
from urllib.parse import urlencode

from oakling.exceptions import HTTPException, WebSocketException
from oakling.params import Depends, register_injectable
from oakling.requests import HTTPConnection, Request
from oakling.responses import JSONResponse, RedirectResponse, Response

from .middleware import current_scope
from .models import User

if TYPE_CHECKING:
    from oakling.types import Scope

__all__ = [
    "CurrentUser",
    "LoginRequired",
    "PermissionDenied",
    "login_required",
    "permission_required",
    "require_permission",
    "require_scopes",
    "require_user",
    "scopes_required",
]

_F = TypeVar("_F", bound=Callable[..., Any])


class LoginRequired(HTTPException):
    """Raised for an anonymous request to a protected handler (401 or a redirect).

    Args:
        login_url: Where browsers are sent; None uses the app's
            ``LOGIN_URL`` (the auth battery's login page by default).
    """

    def __init__(self, login_url: str | None = None) -> None:
        super().__init__(401, "Authentication required", headers={"WWW-Authenticate": "Bearer"})
        self.login_url = login_url


class PermissionDenied(HTTPException):
    """Raised when the user lacks a permission or the token a scope (403)."""

    def __init__(self, detail: str = "Permission denied", headers: dict[str, str] | None = None):
        super().__init__(403, detail, headers=headers)


def _wants_json(conn: HTTPConnection) -> bool:
    headers = conn.headers
    if "authorization" in headers:
        return True
    if headers.get("x-requested-with", "").lower() == "xmlhttprequest":
        return True
    return conn.accepts("text/html", "application/json") == "application/json"


def _next_path(conn: HTTPConnection) -> str:
    scope = conn.scope
    path: str = scope.get("root_path", "") + scope["path"]
    query: bytes = scope.get("query_string", b"")
    return path + ("?" + query.decode("latin-1") if query else "")


def login_required_response(conn: HTTPConnection, ex: LoginRequired) -> Response:
    """Answer a :class:`LoginRequired`: redirect a browser, 401 for an API client.

    Registered by the ``Auth`` plugin as the app's handler for the exception.
    """
    if _wants_json(conn):
        return JSONResponse({"detail": ex.detail}, status_code=401, headers=ex.headers)
    auth = conn.app.extensions.get("auth")
    login_url = ex.login_url or (auth.login_url if auth is not None else "/login")
    separator = "&" if "?" in login_url else "?"
    return RedirectResponse(f"{login_url}{separator}{urlencode({'next': _next_path(conn)})}")


# -- the checks -------------------------------------------------------------------


def _check_user(scope: Scope, login_url: str | None = None) -> Any:
    try:
        user = scope["user"]
    except KeyError:
        raise RuntimeError(
            "login checks need the auth battery: App(plugins=[Database(), Sessions(), Auth()])"
        ) from None
    if not user.is_authenticated:
        if scope["type"] == "websocket":
            raise WebSocketException(1008, "Authentication required")
        raise LoginRequired(login_url)
    return user


def _check_permissions(scope: Scope, perms: tuple[str, ...], login_url: str | None) -> Any:
    user = _check_user(scope, login_url)
    missing = [perm for perm in perms if not user.has_perm(perm)]
    if missing:
        if scope["type"] == "websocket":
            raise WebSocketException(1008, "Permission denied")
        raise PermissionDenied(f"Permission denied: requires {', '.join(missing)}")
    return user


def _check_scopes(scope: Scope, scopes: tuple[str, ...], login_url: str | None) -> Any:
    user = _check_user(scope, login_url)
    credentials = scope.get("auth")
    if credentials is None or not credentials.allows(*scopes):
        if scope["type"] == "websocket":
            raise WebSocketException(1008, "Insufficient scope")
        wanted = " ".join(scopes)
        raise PermissionDenied(
            f"The token lacks a required scope: {wanted}",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{wanted}"'},
        )
    return user


def _guard(
    func: _F, check: Callable[[Scope], Any], mark: tuple[str, tuple[str, ...]] = ("login", ())
) -> _F:
    """Wrap ``func`` so that ``check(scope)`` runs first; keep name and signature.

    The wrapper's ``auth_required`` attribute is ``mark``: ``("login", ())``,
    ``("permissions", perms)`` or ``("scopes", scopes)``, which the openapi
    battery reads to document the operation's security.
    """
    signature = inspect.signature(func)

    def scope_now() -> Scope:
        scope = current_scope()
        if scope is None:
            raise RuntimeError(
                f"{getattr(func, '__qualname__', func)} is protected by oakling.auth but no "
                "request is being served through the auth middleware; install "
                "App(plugins=[Database(), Sessions(), Auth()])"
            )
        return scope

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            check(scope_now())
            return await func(*args, **kwargs)

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            check(scope_now())
            return func(*args, **kwargs)

        wrapper = sync_wrapper
    # NOTE: functools.wraps sets __wrapped__, which inspect.signature follows;
    # setting __signature__ keeps it even if __wrapped__ is changed later.
    wrapper.__signature__ = signature
    wrapper.auth_required = mark
    # NOTE: the order of checks: the app runs ``check`` before reading the
    # handler's parameters too, so an anonymous request gets its redirect
    # or 401, never a 422 listing the form's fields.
    wrapper.__oakling_guard__ = lambda conn: check(conn.scope)
    return wrapper  # type: ignore[no-any-return]


@overload
def login_required(func: _F, /) -> _F: ...


@overload
def login_required(*, login_url: str | None = None) -> Callable[[_F], _F]: ...


def login_required(func: Any = None, /, *, login_url: str | None = None) -> Any:
    """Refuse anonymous requests to the decorated handler (Django's ``login_required``).

    Use bare (``@login_required``) or with options
    (``@login_required(login_url="/signin")``).

    Args:
        func: The handler (sync or async; a WebSocket handler too).
        login_url: Where browsers are sent instead of ``LOGIN_URL``.

    Returns:
        The wrapped handler, with the same name and signature.
    """

    def decorate(handler: _F) -> _F:
        return _guard(handler, lambda scope: _check_user(scope, login_url))

    return decorate(func) if func is not None else decorate


def permission_required(*perms: str, login_url: str | None = None) -> Callable[[_F], _F]:
    """Require every one of ``perms`` (``"tasks.change_task"``), Django's decorator.

    Anonymous: as :func:`login_required`. Logged in without a permission:
    403 (Django redirects to login unless ``raise_exception``; a 403 says
    what is wrong). Superusers have every permission.

    Raises:
        ValueError: If no permission is given.
    """
    if not perms or not all(isinstance(perm, str) for perm in perms):
        raise ValueError("permission_required needs permission codenames as strings")

    def decorate(handler: _F) -> _F:
        return _guard(
            handler,
            lambda scope: _check_permissions(scope, perms, login_url),
            ("permissions", perms),
        )

    return decorate


def scopes_required(*scopes: str, login_url: str | None = None) -> Callable[[_F], _F]:
    """Require a token with every one of ``scopes`` (``"tasks:write"``).

    Session-authenticated requests pass (scopes restrict tokens only; see
    ``AuthCredentials.allows``); anonymous ones are refused as by
    :func:`login_required`; a token without a scope gets 403.

    Raises:
        ValueError: If no scope is given.
    """
    if not scopes or not all(isinstance(scope, str) for scope in scopes):
        raise ValueError("scopes_required needs scopes as strings")

    def decorate(handler: _F) -> _F:
        return _guard(
            handler, lambda scope: _check_scopes(scope, scopes, login_url), ("scopes", scopes)
        )

    return decorate


# -- the dependencies ---------------------------------------------------------------


async def require_user(request: Request) -> User:
    """Return the logged-in user, or refuse the request (the dependency form).

    Raises:
        LoginRequired: For an anonymous request.
    """
    return _check_user(request.scope)  # type: ignore[no-any-return]


# NOTE: marks read by the openapi battery (see _guard).
require_user.auth_required = ("login", ())  # type: ignore[attr-defined]


def require_permission(*perms: str) -> Callable[[Request], Awaitable[User]]:
    """Return a dependency giving the user if they have every one of ``perms``.

    ``Depends(require_permission("tasks.delete_task"))``.

    Raises:
        ValueError: If no permission is given.
    """
    if not perms:
        raise ValueError("require_permission needs at least one permission codename")

    async def permission_dependency(request: Request) -> User:
        return _check_permissions(request.scope, perms, None)  # type: ignore[no-any-return]

    permission_dependency.auth_required = ("permissions", perms)  # type: ignore[attr-defined]
    return permission_dependency


def require_scopes(*scopes: str) -> Callable[[Request], Awaitable[User]]:
    """Return a dependency giving the user if the request has every one of ``scopes``.

    Raises:
        ValueError: If no scope is given.
    """
    if not scopes:
        raise ValueError("require_scopes needs at least one scope")

    async def scopes_dependency(request: Request) -> User:
        return _check_scopes(request.scope, scopes, None)  # type: ignore[no-any-return]

    scopes_dependency.auth_required = ("scopes", scopes)  # type: ignore[attr-defined]
    return scopes_dependency


#: The logged-in user as a handler parameter: ``def me(user: CurrentUser)``.
#: Anonymous requests are refused as by :func:`login_required`.
CurrentUser = Annotated[User, Depends(require_user)]

# NOTE: a parameter annotated plain ``User`` gets the logged-in user too.
register_injectable(User, require_user)
