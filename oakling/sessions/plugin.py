"""The Sessions plugin: settings -> backend -> middleware, checks and injection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from oakling.exceptions import ImproperlyConfigured
from oakling.params import register_injectable
from oakling.requests import Request

from .backends import RedisBackend, SessionBackend, SignedCookieBackend
from .middleware import SessionMiddleware
from .session import Session

if TYPE_CHECKING:
    from oakling.applications import App
    from oakling.checks import CheckMessage

__all__ = ["DEFAULT_COOKIE_AGE", "Sessions", "session_deploy_checks"]

#: Two weeks, in seconds: Django's ``SESSION_COOKIE_AGE``.
DEFAULT_COOKIE_AGE = 1_209_600

_SAMESITE = {"lax": "lax", "strict": "strict", "none": "none", "": None, "false": None}


class Sessions:
    """Sessions for an app: the ``oakling.sessions`` plugin.

    Installed with ``App(plugins=[Sessions()])`` (after ``Database()`` when
    sessions live in the database), it is ``app.extensions["sessions"]``;
    every request then has ``request.session``. Each argument left None
    is read from the setting named after it (``OAKLING_<NAME>`` in the
    environment or ``.env``), with Django's names and defaults.

    Args:
        backend: A :class:`SessionBackend`, or ``"cookie"``, ``"redis"``,
            ``"database"``; default the ``SESSION_BACKEND`` setting, else
            ``"cookie"`` (a signed cookie, Flask's default).
        cookie_name: ``SESSION_COOKIE_NAME``, default ``"session"``.
        max_age: Session lifetime in seconds, ``SESSION_COOKIE_AGE``, default
            two weeks; enforced by the backend too, not only by the cookie.
        secure: ``SESSION_COOKIE_SECURE``: always mark the cookie Secure.
            Otherwise it is Secure when the request came over HTTPS.
        httponly: ``SESSION_COOKIE_HTTPONLY``, default True.
        samesite: ``SESSION_COOKIE_SAMESITE``: ``"lax"`` (default),
            ``"strict"``, ``"none"`` (needs ``secure``) or ``""`` to omit it.
        domain: ``SESSION_COOKIE_DOMAIN``; None keeps the cookie host-only.
        path: ``SESSION_COOKIE_PATH``, default ``"/"``.
        expire_at_browser_close: ``SESSION_EXPIRE_AT_BROWSER_CLOSE``, default
            False. When True the cookie is sent without ``Max-Age`` or
            ``Expires`` (a browser-session cookie, Flask's non-permanent
            session), while the server still ends the session after
            ``max_age`` seconds: browsers that restore tabs keep such
            cookies for days.

    Raises:
        ImproperlyConfigured: From ``install`` for a bad setting, an
            unknown backend name, or ``"database"`` without ``Database()``.
    """

    name = "sessions"

    def __init__(
        self,
        backend: SessionBackend | Literal["cookie", "redis", "database"] | None = None,
        *,
        cookie_name: str | None = None,
        max_age: int | None = None,
        secure: bool | None = None,
        httponly: bool | None = None,
        samesite: str | None = None,
        domain: str | None = None,
        path: str | None = None,
        expire_at_browser_close: bool | None = None,
    ) -> None:
        self._backend_arg = backend
        self._args: dict[str, Any] = {
            "SESSION_COOKIE_NAME": cookie_name,
            "SESSION_COOKIE_AGE": max_age,
            "SESSION_COOKIE_SECURE": secure,
            "SESSION_COOKIE_HTTPONLY": httponly,
            "SESSION_COOKIE_SAMESITE": samesite,
            "SESSION_COOKIE_DOMAIN": domain,
            "SESSION_COOKIE_PATH": path,
            "SESSION_EXPIRE_AT_BROWSER_CLOSE": expire_at_browser_close,
        }
        self.backend: SessionBackend = SignedCookieBackend()
        self.cookie_name = "session"
        self.max_age = DEFAULT_COOKIE_AGE
        self.secure = False
        self.httponly = True
        self.samesite: Literal["lax", "strict", "none"] | None = "lax"
        self.domain: str | None = None
        self.path = "/"
        self.expire_at_browser_close = False
        self.lazy = True

    def install(self, app: App) -> None:
        """Register on ``app``: extension, middleware, deploy checks, shutdown.

        Raises:
            ImproperlyConfigured: For a bad setting or backend (see the class).
        """
        existing = app.extensions.get(self.name)
        if existing is not None and existing is not self:
            raise ImproperlyConfigured("the app already has Sessions installed")
        self._configure(app)
        app.extensions[self.name] = self
        app.add_middleware(SessionMiddleware, sessions=self)
        add_check = getattr(app, "add_check", None)
        if add_check is not None:
            add_check(session_deploy_checks, deploy=True)
        close = getattr(self.backend, "close", None)
        if close is not None:
            app.on_shutdown(close)

    def _setting(self, app: App, name: str, default: Any, cast: type) -> Any:
        given = self._args[name]
        if given is not None:
            return given
        return app.settings.get(name, default, cast=cast)

    def _configure(self, app: App) -> None:
        self.cookie_name = str(self._setting(app, "SESSION_COOKIE_NAME", "session", str))
        if not self.cookie_name or any(char in self.cookie_name for char in ' ;=,"\t\r\n'):
            raise ImproperlyConfigured(
                f"SESSION_COOKIE_NAME {self.cookie_name!r} is not a valid cookie name"
            )
        self.max_age = int(self._setting(app, "SESSION_COOKIE_AGE", DEFAULT_COOKIE_AGE, int))
        if self.max_age <= 0:
            raise ImproperlyConfigured(
                f"SESSION_COOKIE_AGE must be a positive number of seconds, not {self.max_age}"
            )
        self.secure = bool(self._setting(app, "SESSION_COOKIE_SECURE", False, bool))
        self.httponly = bool(self._setting(app, "SESSION_COOKIE_HTTPONLY", True, bool))
        samesite = str(self._setting(app, "SESSION_COOKIE_SAMESITE", "lax", str)).lower()
        if samesite not in _SAMESITE:
            raise ImproperlyConfigured(
                f"SESSION_COOKIE_SAMESITE must be lax, strict, none or empty, not {samesite!r}"
            )
        self.samesite = _SAMESITE[samesite]  # type: ignore[assignment]  # NOTE: literal values
        if self.samesite == "none" and not self.secure:
            raise ImproperlyConfigured(
                "SESSION_COOKIE_SAMESITE=none needs SESSION_COOKIE_SECURE=1 "
                "(browsers refuse SameSite=None cookies that are not Secure)"
            )
        self.domain = self._setting(app, "SESSION_COOKIE_DOMAIN", None, str) or None
        self.path = str(self._setting(app, "SESSION_COOKIE_PATH", "/", str)) or "/"
        self.expire_at_browser_close = bool(
            self._setting(app, "SESSION_EXPIRE_AT_BROWSER_CLOSE", False, bool)
        )
        self.backend = self._make_backend(app)
        setup = getattr(self.backend, "setup", None)
        if setup is not None:
            setup(app)
        # NOTE: only a backend that decodes without I/O can load on first access.
        self.lazy = callable(getattr(self.backend, "decode", None))

    def _make_backend(self, app: App) -> SessionBackend:
        backend: object = self._backend_arg
        if backend is None:
            backend = app.settings.get("SESSION_BACKEND", "cookie", cast=str)
        if not isinstance(backend, str):
            if not isinstance(backend, SessionBackend):
                raise ImproperlyConfigured(
                    f"{backend!r} is not a session backend (it needs async load, save, delete)"
                )
            return backend
        name = backend.strip().lower()
        if name == "cookie":
            return SignedCookieBackend()
        if name == "redis":
            return RedisBackend()
        if name == "database":
            from .database import DatabaseBackend

            return DatabaseBackend()
        raise ImproperlyConfigured(
            f"SESSION_BACKEND must be cookie, redis or database, not {backend!r}"
        )

    def __repr__(self) -> str:
        return f"<Sessions {type(self.backend).__name__} cookie={self.cookie_name!r}>"


def session_deploy_checks(app: App) -> Iterator[CheckMessage]:
    """Report session cookie settings unsafe in production (Django's W010/W013).

    Yields:
        ``sessions.W001`` when ``SESSION_COOKIE_SECURE`` is off, and
        ``sessions.W002`` when ``SESSION_COOKIE_HTTPONLY`` is off.
    """
    from oakling.checks import CheckMessage

    sessions = app.extensions.get("sessions")
    if not isinstance(sessions, Sessions):
        return
    if not sessions.secure:
        yield CheckMessage(
            "sessions.W001",
            "SESSION_COOKIE_SECURE is off: the session cookie is sent over plain HTTP "
            "whenever the site is reached over HTTP (or TLS ends at a proxy whose "
            "scheme is not trusted), where anyone on the network can steal it.",
            "Set OAKLING_SESSION_COOKIE_SECURE=1 when the site is served over HTTPS.",
        )
    if not sessions.httponly:
        yield CheckMessage(
            "sessions.W002",
            "SESSION_COOKIE_HTTPONLY is off: JavaScript (an injected script too) can "
            "read the session cookie.",
            "Remove SESSION_COOKIE_HTTPONLY=0 (HttpOnly is the default).",
        )


async def _provide_session(request: Request) -> Session:
    """Return the request's session, loaded (for ``session: Session`` parameters)."""
    session: Session = request.session
    await session.load()
    return session


register_injectable(Session, _provide_session)
