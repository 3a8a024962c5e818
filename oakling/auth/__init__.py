"""oakling.auth: users, permissions, login, passwords and API tokens.

Install with ``pip install 'oakling[auth]'`` and add the plugin after the
database and sessions batteries::

    from oakling import App
    from oakling.auth import Auth, login_required
    from oakling.db import Database
    from oakling.sessions import Sessions

    app = App(plugins=[Database(), Sessions(), Auth()])

    @app.get("/tasks")
    @login_required
    def tasks(request: Request) -> dict[str, str]:
        return {"user": request.user.username}

Every request then has ``request.user`` (a :class:`User` or an
:class:`AnonymousUser`) and ``request.auth``; the login, logout, password
change and reset pages are served under ``/auth``, with "log out
everywhere" (:func:`logout_all`). See ``docs/auth.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oakling.exceptions import ImproperlyConfigured
from oakling.ratelimit.storage import RateLimitStorage

from .decorators import (
    CurrentUser,
    LoginRequired,
    PermissionDenied,
    login_required,
    login_required_response,
    permission_required,
    require_permission,
    require_scopes,
    require_user,
    scopes_required,
)
from .middleware import (
    AuthCredentials,
    AuthMiddleware,
    login,
    logout,
    logout_all,
    logout_all_sync,
    update_session_auth_hash,
)
from .models import AnonymousUser, APIToken, Group, Permission, User
from .reset import DEFAULT_RESET_TIMEOUT, make_reset_token, verify_reset_token
from .services import (
    authenticate,
    authenticate_sync,
    bump_session_version,
    bump_session_version_sync,
    create_superuser,
    create_user,
    create_user_sync,
    get_user,
    session_auth_hash,
    set_password_sync,
)
from .throttling import (
    DEFAULT_ACCOUNT_LIMIT,
    DEFAULT_IP_LIMIT,
    DEFAULT_RESET_EMAIL_LIMIT,
    DEFAULT_RESET_IP_LIMIT,
    DEFAULT_SIGNUP_IP_LIMIT,
    LoginThrottle,
    PasswordResetThrottle,
    SignupThrottle,
    Throttled,
    ThrottleStorage,
    parse_limit,
)
from .tokens import authenticate_token, create_token
from .validators import PasswordValidationError, validate_password

if TYPE_CHECKING:
    from limits import RateLimitItem

    from oakling.applications import App
    from oakling.checks import CheckMessage
    from oakling.config import Settings
    from oakling.db import Database

__all__ = [
    "APIToken",
    "AnonymousUser",
    "Auth",
    "AuthCredentials",
    "AuthMiddleware",
    "CurrentUser",
    "Group",
    "LoginRequired",
    "LoginThrottle",
    "PasswordResetThrottle",
    "PasswordValidationError",
    "Permission",
    "PermissionDenied",
    "SignupThrottle",
    "Throttled",
    "User",
    "auth_deploy_checks",
    "authenticate",
    "authenticate_sync",
    "authenticate_token",
    "bump_session_version",
    "bump_session_version_sync",
    "create_superuser",
    "create_token",
    "create_user",
    "create_user_sync",
    "get_user",
    "login",
    "login_required",
    "logout",
    "logout_all",
    "logout_all_sync",
    "make_reset_token",
    "permission_required",
    "require_permission",
    "require_scopes",
    "require_user",
    "scopes_required",
    "session_auth_hash",
    "set_password_sync",
    "update_session_auth_hash",
    "validate_password",
    "verify_reset_token",
]


class Auth:
    """Authentication for an app: the ``oakling.auth`` plugin.

    ``App(plugins=[Database(), Sessions(), Auth()])``; it is then
    ``app.extensions["auth"]``. It installs :class:`AuthMiddleware` just
    inside the sessions middleware, the auth pages under ``prefix``, the
    handler turning :class:`LoginRequired` into a redirect or a 401, the
    ``user`` template variable, and deploy checks. Arguments left None are
    read from the setting named in brackets (``OAKLING_<NAME>``).

    Args:
        prefix: Where the pages are served, ``/auth``.
        signup: Serve a sign-up page (off by default: many sites invite).
        routes: Serve the pages at all (False: an API-only app).
        login_url: [LOGIN_URL] where ``login_required`` sends browsers;
            default the login page.
        login_redirect_url: [LOGIN_REDIRECT_URL] after login without a
            safe ``next``, ``/``.
        logout_redirect_url: [LOGOUT_REDIRECT_URL] after logout, ``/``.
        reset_timeout: [PASSWORD_RESET_TIMEOUT] seconds a reset link lives,
            three days.
        site_url: [SITE_URL] the site's root URL (``https://example.com``)
            for links in mails; otherwise the request's, checked against
            ``ALLOWED_HOSTS``.
        throttle_account: [LOGIN_THROTTLE_ACCOUNT] failed logins allowed per
            account, ``"10 per 15 minutes"``.
        throttle_ip: [LOGIN_THROTTLE_IP] per client IP, ``"50 per 15 minutes"``.
        throttle_reset_email: [PASSWORD_RESET_THROTTLE_EMAIL] reset mails per
            e-mail address, ``"3 per hour"``; beyond it the page answers as
            usual and sends nothing.
        throttle_reset_ip: [PASSWORD_RESET_THROTTLE_IP] reset requests per
            client IP, ``"20 per hour"``; beyond it, 429.
        throttle_signup_ip: [SIGNUP_THROTTLE_IP] accounts created per client
            IP, ``"10 per hour"``; beyond it, 429.
        throttle_storage: [RATELIMIT_STORAGE_URL, else REDIS_URL] where the
            counters of every throttle live; memory when neither is set.
            With the ratelimit battery installed first, its storage is used
            unless this names another.
        throttle_fail_open: [AUTH_THROTTLE_FAIL_OPEN] when that storage is
            down, let login, reset and sign-up posts through uncounted
            (True) instead of answering 503 (False, the default: an outage
            never lifts a cap).

    Raises:
        ImproperlyConfigured: From ``install`` when the ``db`` or
            ``sessions`` battery is missing, or for a bad setting (a throttle
            limit is one ``limits`` string such as ``"3 per hour"``).
    """

    name = "auth"

    def __init__(
        self,
        *,
        prefix: str = "/auth",
        signup: bool = False,
        routes: bool = True,
        login_url: str | None = None,
        login_redirect_url: str | None = None,
        logout_redirect_url: str | None = None,
        reset_timeout: int | None = None,
        site_url: str | None = None,
        throttle_account: str | None = None,
        throttle_ip: str | None = None,
        throttle_reset_email: str | None = None,
        throttle_reset_ip: str | None = None,
        throttle_signup_ip: str | None = None,
        throttle_storage: str | None = None,
        throttle_fail_open: bool | None = None,
    ) -> None:
        self.prefix = prefix
        self.signup = signup
        self.routes = routes
        self._args: dict[str, Any] = {
            "LOGIN_URL": login_url,
            "LOGIN_REDIRECT_URL": login_redirect_url,
            "LOGOUT_REDIRECT_URL": logout_redirect_url,
            "PASSWORD_RESET_TIMEOUT": reset_timeout,
            "SITE_URL": site_url,
            "LOGIN_THROTTLE_ACCOUNT": throttle_account,
            "LOGIN_THROTTLE_IP": throttle_ip,
            "PASSWORD_RESET_THROTTLE_EMAIL": throttle_reset_email,
            "PASSWORD_RESET_THROTTLE_IP": throttle_reset_ip,
            "SIGNUP_THROTTLE_IP": throttle_signup_ip,
            "RATELIMIT_STORAGE_URL": throttle_storage,
            "AUTH_THROTTLE_FAIL_OPEN": throttle_fail_open,
        }
        self.app: App | None = None
        self.login_url = f"{prefix}/login"
        self.login_redirect_url = "/"
        self.logout_redirect_url = "/"
        self.reset_timeout = DEFAULT_RESET_TIMEOUT
        self.site_url = ""
        storage = ThrottleStorage()
        self.throttle = LoginThrottle(storage)
        self.reset_throttle = PasswordResetThrottle(storage)
        self.signup_throttle = SignupThrottle(storage)

    # -- plugin ---------------------------------------------------------------

    def _setting(self, app: App, name: str, default: Any, cast: type = str) -> Any:
        value = self._args.get(name)
        if value is not None:
            return value
        return app.settings.get(name, default, cast=cast)

    def install(self, app: App) -> None:
        """Wire authentication into ``app`` (see the class doc).

        Raises:
            ImproperlyConfigured: If ``db`` or ``sessions`` is not installed
                first, or another Auth is.
        """
        for needed, plugin in (("db", "Database()"), ("sessions", "Sessions()")):
            if needed not in app.extensions:
                raise ImproperlyConfigured(
                    f"Auth needs the {needed!r} battery installed before it: "
                    f"App(plugins=[Database(), Sessions(), Auth()]) (missing {plugin})"
                )
        existing = app.extensions.get(self.name)
        if existing is not None and existing is not self:
            raise ImproperlyConfigured("the app already has Auth installed")
        self.app = app
        self._configure(app)
        app.extensions[self.name] = self
        _insert_inside_sessions(app, self)
        app.add_error_handler(LoginRequired, login_required_response)
        app.context_processor(_user_context)
        app.on_shutdown(self.throttle.storage.close)  # NOTE: one storage for every throttle
        if self.routes:
            from .views import build_router

            app.include(build_router(self), prefix=self.prefix)
        add_check = getattr(app, "add_check", None)
        if add_check is not None:
            add_check(auth_deploy_checks, deploy=True)

    def _configure(self, app: App) -> None:
        if self.prefix and (not self.prefix.startswith("/") or self.prefix.endswith("/")):
            raise ImproperlyConfigured(
                f"Auth prefix {self.prefix!r} must start with '/' and not end with '/'"
            )
        self.login_url = self._setting(app, "LOGIN_URL", f"{self.prefix}/login")
        self.login_redirect_url = self._setting(app, "LOGIN_REDIRECT_URL", "/")
        self.logout_redirect_url = self._setting(app, "LOGOUT_REDIRECT_URL", "/")
        self.reset_timeout = int(
            self._setting(app, "PASSWORD_RESET_TIMEOUT", DEFAULT_RESET_TIMEOUT, int)
        )
        self.site_url = str(self._setting(app, "SITE_URL", "") or "").rstrip("/")
        if self.site_url and not self.site_url.startswith(("http://", "https://")):
            raise ImproperlyConfigured(
                f"SITE_URL {self.site_url!r} must be an absolute http(s) URL, "
                "like https://example.com"
            )
        url = self._setting(app, "RATELIMIT_STORAGE_URL", None) or app.settings.get("REDIS_URL")
        limiter = app.extensions.get("ratelimit")
        shared = getattr(limiter, "storage", None)
        try:
            # NOTE: one mechanism and one store for route limits and throttles.
            storage = (
                shared
                if isinstance(shared, RateLimitStorage) and (url is None or shared.url == url)
                else ThrottleStorage(url)
            )
        except Exception as ex:  # noqa: BLE001 - limits raises several kinds
            # SECURITY: limits quotes the URL, which may hold a password.
            reason = str(ex).replace(str(url), f"{str(url).partition('://')[0]}://...")
            raise ImproperlyConfigured(
                f"bad throttling setting RATELIMIT_STORAGE_URL: {reason}"
            ) from None
        fail_open = bool(self._setting(app, "AUTH_THROTTLE_FAIL_OPEN", False, bool))
        self.throttle = LoginThrottle(
            storage,
            fail_open=fail_open,
            per_account=self._limit(app, "LOGIN_THROTTLE_ACCOUNT", DEFAULT_ACCOUNT_LIMIT),
            per_ip=self._limit(app, "LOGIN_THROTTLE_IP", DEFAULT_IP_LIMIT),
        )
        self.reset_throttle = PasswordResetThrottle(
            storage,
            fail_open=fail_open,
            per_email=self._limit(app, "PASSWORD_RESET_THROTTLE_EMAIL", DEFAULT_RESET_EMAIL_LIMIT),
            per_ip=self._limit(app, "PASSWORD_RESET_THROTTLE_IP", DEFAULT_RESET_IP_LIMIT),
        )
        self.signup_throttle = SignupThrottle(
            storage,
            fail_open=fail_open,
            per_ip=self._limit(app, "SIGNUP_THROTTLE_IP", DEFAULT_SIGNUP_IP_LIMIT),
        )

    def _limit(self, app: App, name: str, default: str) -> RateLimitItem:
        value = self._setting(app, name, default)
        try:
            return parse_limit(value)
        except ValueError as ex:
            raise ImproperlyConfigured(
                f"bad throttling setting {name}={value!r}: {ex} (write it like '3 per hour')"
            ) from None

    # -- what the middleware and views use -----------------------------------

    @property
    def database(self) -> Database:
        """The app's Database (``app.extensions["db"]``)."""
        return self._app.extensions["db"]  # type: ignore[no-any-return]

    @property
    def settings(self) -> Settings:
        """The app's settings."""
        return self._app.settings

    @property
    def secret_keys(self) -> list[str]:
        """``[SECRET_KEY, *SECRET_KEY_FALLBACKS]``: the first signs, all verify."""
        settings = self.settings
        return [settings.SECRET_KEY or "", *(settings.SECRET_KEY_FALLBACKS or [])]

    @property
    def _app(self) -> App:
        if self.app is None:
            raise RuntimeError("Auth is not installed on an app")
        return self.app

    def __repr__(self) -> str:
        return f"<Auth prefix={self.prefix!r} signup={self.signup}>"


def _insert_inside_sessions(app: App, auth: Auth) -> None:
    """Put AuthMiddleware just after (inside) the sessions middleware."""
    from oakling.middleware import Middleware

    spec = Middleware(AuthMiddleware, auth=auth)
    for index, existing in enumerate(app.user_middleware):
        if getattr(existing.cls, "__module__", "").startswith("oakling.sessions"):
            app.user_middleware.insert(index + 1, spec)
            return
    # NOTE: no sessions middleware in the list (a custom Sessions): innermost.
    app.user_middleware.append(spec)


def _user_context(request: Any) -> dict[str, Any]:
    """Give templates ``user`` (Django's ``auth`` context processor)."""
    return {"user": request.scope.get("user")}


def auth_deploy_checks(app: App) -> list[CheckMessage]:
    """Report auth settings unfit for production (``oakling check --deploy``).

    ``auth.W001``: mail goes to the console outside debug (reset links are
    never delivered). ``auth.W002``: neither ``SITE_URL`` nor
    ``ALLOWED_HOSTS`` is set, so reset links take their host from requests.
    """
    from oakling.checks import CheckMessage

    found: list[CheckMessage] = []
    settings = app.settings
    if not app.debug and str(settings.get("EMAIL_BACKEND") or "").lower() == "console":
        found.append(
            CheckMessage(
                "auth.W001",
                "EMAIL_BACKEND is 'console' outside debug: password reset mails are "
                "printed, not sent.",
                "Set OAKLING_EMAIL_BACKEND=smtp and the EMAIL_HOST settings.",
            )
        )
    auth = app.extensions.get("auth")
    if auth is not None and not auth.site_url and not settings.ALLOWED_HOSTS:
        found.append(
            CheckMessage(
                "auth.W002",
                "Neither SITE_URL nor ALLOWED_HOSTS is set: password reset links are "
                "built from the request's Host header.",
                "Set OAKLING_SITE_URL=https://your.site (or ALLOWED_HOSTS).",
            )
        )
    return found
