"""The auth pages: login, logout, signup, password change and password reset.

The ``Auth`` plugin includes :func:`build_router`'s router (named ``auth``)
under its prefix, ``/auth`` by default:

===============================  =====================  ===============================
path                             name                   what
===============================  =====================  ===============================
``/login``                       ``auth:login``         form (GET), log in (POST)
``/logout``                      ``auth:logout``        log out (POST only)
``/logout/all``                  ``auth:logout_all``    log out everywhere (POST only)
``/signup``                      ``auth:signup``        with ``Auth(signup=True)``
``/password/change``             ``auth:password_change``     logged-in users
``/password/reset``              ``auth:password_reset``      ask for a link by e-mail
``/password/reset/sent``         ``auth:password_reset_sent`` "check your mail"
``/password/reset/{token}``      ``auth:password_reset_confirm``  the link in the mail
``/password/reset/set``          ``auth:password_reset_set``  choose the new password
===============================  =====================  ===============================

Templates are ``auth/*.html`` (each extends ``auth/base.html``); a file of
the same name in the app's template folder replaces the shipped one.

Every page is :func:`~oakling.cachecontrol.never_cache` (Django's auth views
are too): forms with credentials and one-time links are never kept by a
browser's history, a proxy or a CDN.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from oakling.background import BackgroundTasks
from oakling.cachecontrol import never_cache
from oakling.concurrency import run_in_threadpool
from oakling.datastructures import FormData
from oakling.db import AsyncSession
from oakling.exceptions import HTTPException, ServiceUnavailable
from oakling.i18n.translation import gettext, gettext_noop
from oakling.middleware.trustedhost import validate_host
from oakling.redirects import is_safe_redirect
from oakling.requests import Request
from oakling.responses import HTMLResponse, RedirectResponse, Response
from oakling.routing import Router
from oakling.signals import user_login_failed

from .decorators import login_required
from .middleware import login, logout, logout_all, update_session_auth_hash
from .models import User
from .reset import (
    InvalidResetToken,
    make_reset_token,
    reset_token_user_id,
    verify_reset_token,
)
from .services import authenticate, create_user, get_user, set_password
from .throttling import PasswordResetThrottle, Throttled
from .usernames import InvalidUsername
from .validators import PasswordValidationError

if TYPE_CHECKING:
    from . import Auth

__all__ = ["LOGIN_ERROR", "TEMPLATES_DIR", "build_router", "is_safe_redirect"]

logger = logging.getLogger("oakling.auth")

#: The folder of the shipped templates (searched after the app's own).
TEMPLATES_DIR = str(Path(__file__).parent / "templates")

#: The one message for an unknown user, a wrong password and an inactive
#: account alike (Django's), so the form tells an attacker nothing.
LOGIN_ERROR = gettext_noop("Please enter a correct username and password.")

# SECURITY: longer passwords are refused before hashing (Django once used
# 4096): they can only be an attempt to make hashing slow.
_MAX_PASSWORD = 4096
_MAX_URL = 2048
_RESET_SESSION_KEY = "_password_reset_token"


def _auth(request: Request) -> Auth:
    return request.app.extensions["auth"]  # type: ignore[no-any-return]


def _field(form: FormData, name: str, limit: int = _MAX_URL) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value[: limit + 1]


def _render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    auth = _auth(request)
    full = {"auth": auth, "signup_enabled": auth.signup, **context}
    # NOTE: the views are @never_cache (Cache-Control), as Django's are.
    return request.app.templates.response(request, name, full, status_code, headers)


def _redirect_after_login(request: Request, next_url: str) -> RedirectResponse:
    target = next_url if is_safe_redirect(next_url) else _auth(request).login_redirect_url
    return RedirectResponse(target, status_code=303)


def _client_ip(request: Request) -> str | None:
    client = request.client
    return client.host if client is not None else None


def _throttled(
    request: Request, name: str, context: dict[str, Any], refused: Throttled
) -> HTMLResponse:
    """Return the form page ``name`` with the refusal's message: 429.

    With ``Retry-After`` and the ``RateLimit``/``RateLimit-Policy`` fields,
    as a route limit's 429 (:meth:`Throttled.headers`).
    """
    return _render(request, name, {**context, "error": refused.message}, 429, refused.headers())


# -- login and logout ---------------------------------------------------------------


@never_cache
async def login_view(request: Request, db: AsyncSession) -> Response:
    """Show the login form (GET) or log in (POST), throttled per account and IP."""
    auth = _auth(request)
    next_url = request.query_params.get("next", "")
    if request.method == "GET":
        return _render(request, "auth/login.html", {"next": next_url, "username": ""})
    form = await request.form()
    username = _field(form, "username", 600)
    password = _field(form, "password", _MAX_PASSWORD)
    next_url = _field(form, "next") or next_url
    context = {"next": next_url, "username": username}
    ip = _client_ip(request)
    # SECURITY: counted before the password is checked, so the cap also
    # bounds the hashing an attacker can cause.
    throttled = await auth.throttle.attempt(username, ip)
    if throttled is not None:
        return _throttled(request, "auth/login.html", context, throttled)
    user = None
    if username and password and len(password) <= _MAX_PASSWORD:
        # NOTE: authenticate() takes the same time for unknown users.
        user = await authenticate(db, username, password)
    if user is None or not user.is_active:
        await auth.throttle.failed(ip)
        if user_login_failed.on:
            # SECURITY: the password is never passed to receivers (Django's rule).
            await user_login_failed.send_async(
                "oakling.auth", credentials={"username": username}, request=request
            )
        return _render(request, "auth/login.html", {**context, "error": gettext(LOGIN_ERROR)}, 400)
    # NOTE: authenticate() set last_login, which also voids reset links.
    await auth.throttle.succeeded(username)
    login(request, user)
    return _redirect_after_login(request, next_url)


@never_cache
async def logout_view(request: Request) -> Response:
    """Log out (POST only, so a link or an image cannot log anyone out)."""
    logout(request)
    return RedirectResponse(_auth(request).logout_redirect_url, status_code=303)


@never_cache
async def logout_all_view(request: Request, db: AsyncSession) -> Response:
    """Log out of every session of the user, on every device (POST only).

    Bumps the user's session version (:func:`~oakling.auth.logout_all`),
    committed with the request: every other session of the user, signed
    cookies included, is anonymous at its next request. API tokens keep
    working. An anonymous request is only redirected.

    Raises:
        HTTPException: 403 for a request authenticated by an API token: ending
            every session is the person's own act, never a script's (whatever
            the token's scopes), so a leaked token cannot lock its user out.
    """
    credentials = request.scope.get("auth")
    if getattr(credentials, "method", None) == "token":
        # SECURITY: the session cookie plus its CSRF token is the only way in.
        raise HTTPException(403, "Log out everywhere needs a signed-in session, not an API token")
    await logout_all(request, db)
    return RedirectResponse(_auth(request).logout_redirect_url, status_code=303)


@never_cache
async def signup_view(request: Request, db: AsyncSession) -> Response:
    """Show the sign-up form (GET) or create the account and log it in (POST).

    Accounts created per client IP are capped (``SIGNUP_THROTTLE_IP``):
    beyond the cap the answer is 429 with ``Retry-After`` and no account is
    created. Failed sign-ups do not count.
    """
    auth = _auth(request)
    if not auth.signup:
        raise HTTPException(404)
    next_url = request.query_params.get("next", "")
    if request.method == "GET":
        return _render(request, "auth/signup.html", {"next": next_url, "username": "", "email": ""})
    form = await request.form()
    username = _field(form, "username", 600)
    email = _field(form, "email", 320).strip()
    password1 = _field(form, "password1", _MAX_PASSWORD)
    password2 = _field(form, "password2", _MAX_PASSWORD)
    next_url = _field(form, "next") or next_url
    context = {"next": next_url, "username": username, "email": email}
    ip = _client_ip(request)
    # PERF: an address at its cap is answered at once, before any hashing.
    throttled = await auth.signup_throttle.check(ip)
    if throttled is not None:
        return _throttled(request, "auth/signup.html", context, throttled)
    errors: list[str] = []
    if not password1 or password1 != password2:
        errors.append(gettext("The two passwords do not match."))
    elif len(password1) > _MAX_PASSWORD:
        errors.append(
            gettext("Passwords may be at most %(max)d characters long.") % {"max": _MAX_PASSWORD}
        )
    if email and ("@" not in email or len(email) > 320):
        errors.append(gettext("Enter a valid e-mail address."))
    user = None
    if not errors:
        try:
            user = await create_user(db, username, password1, email=email)
        except InvalidUsername as ex:
            errors.append(str(ex))
        except PasswordValidationError as ex:
            errors.extend(ex.messages)
        except ValueError as ex:  # UsernameTaken and other refusals carry their reason
            errors.append(str(ex))
    if user is None:
        return _render(request, "auth/signup.html", {**context, "errors": errors}, 400)
    # SECURITY: counted once the account exists (so failures do not count)
    # but before it is committed: concurrent sign-ups that all passed the
    # check above cannot take more places than the cap.
    throttled = await auth.signup_throttle.created(ip)
    if throttled is not None:
        await db.rollback()
        return _throttled(request, "auth/signup.html", context, throttled)
    login(request, user)
    return _redirect_after_login(request, next_url)


# -- password change -------------------------------------------------------------------


async def _set_new_password(db: AsyncSession, user: Any, new1: str, new2: str) -> list[str]:
    """Set ``user``'s password to ``new1`` if it is confirmed and valid.

    Returns:
        The errors to show (empty when the password was set).
    """
    if not new1 or new1 != new2:
        return ["The two new passwords do not match."]
    if len(new1) > _MAX_PASSWORD:
        return [f"Passwords may be at most {_MAX_PASSWORD} characters long."]
    try:
        await set_password(db, user, new1)
    except PasswordValidationError as ex:
        return list(ex.messages)
    return []


@never_cache
@login_required
async def password_change_view(request: Request, db: AsyncSession) -> Response:
    """Change the logged-in user's password; other sessions are logged out."""
    if request.method == "GET":
        return _render(request, "auth/password_change.html", {})
    form = await request.form()
    old = _field(form, "old_password", _MAX_PASSWORD)
    new1 = _field(form, "new_password1", _MAX_PASSWORD)
    new2 = _field(form, "new_password2", _MAX_PASSWORD)
    user = await get_user(db, request.user.id)
    if user is None:  # deleted meanwhile
        logout(request)
        return RedirectResponse(_auth(request).login_url, status_code=303)
    if len(old) > _MAX_PASSWORD or not await run_in_threadpool(user.check_password, old):
        errors = [gettext("Your old password was entered incorrectly. Please enter it again.")]
    else:
        errors = await _set_new_password(db, user, new1, new2)
    if errors:
        return _render(request, "auth/password_change.html", {"errors": errors}, 400)
    update_session_auth_hash(request, user)
    return _render(request, "auth/password_change_done.html", {})


# -- password reset ---------------------------------------------------------------------


def _site_url(request: Request) -> str:
    """Return the site's root URL for links in mails, never from a forged Host.

    Raises:
        HTTPException: 400 when no ``SITE_URL`` is set and the request's
            Host is not in ``ALLOWED_HOSTS`` (Django's ``DisallowedHost``).
    """
    auth = _auth(request)
    if auth.site_url:
        return auth.site_url
    allowed = request.app.settings.ALLOWED_HOSTS
    # SECURITY: a reset link built from an attacker's Host header would send
    # the victim's token to the attacker (password-reset poisoning).
    if allowed and not validate_host(request.host, allowed):
        raise HTTPException(400, "Invalid Host header: not in ALLOWED_HOSTS")
    return str(request.base_url).rstrip("/")


async def _deliver(
    app: Any, throttle: PasswordResetThrottle, asked: str, to: str, subject: str, body: str
) -> None:
    from oakling.mail import send_mail

    try:
        # SECURITY: the lookup may have matched another spelling of the
        # address (see may_mail_recipient); checked here, after the response,
        # so its time does not tell whether the address has an account.
        if not await throttle.may_mail_recipient(to, asked):
            return
        await send_mail(app, subject, body, [to])
    except ServiceUnavailable as ex:
        # NOTE: the throttle store went down after the response: the outage
        # log (oakling.outage) has the details; no traceback per mail.
        logger.warning("a password reset mail was not sent: %s is unavailable", ex.service)
    except Exception:  # noqa: BLE001 - the response is gone; log, do not raise
        logger.exception("could not send the password reset mail")


@never_cache
async def password_reset_view(
    request: Request, db: AsyncSession, background: BackgroundTasks
) -> Response:
    """Ask for a reset link (GET form, POST e-mail); the answer never says if it exists.

    Capped per client IP (``PASSWORD_RESET_THROTTLE_IP``; beyond it 429 with
    ``Retry-After``) and per address (``PASSWORD_RESET_THROTTLE_EMAIL``;
    beyond it the usual answer, and no mail).
    """
    auth = _auth(request)
    if request.method == "GET":
        return _render(request, "auth/password_reset.html", {"email": ""})
    form = await request.form()
    email = _field(form, "email", 320).strip()
    if not email or "@" not in email or len(email) > 320:
        return _render(
            request,
            "auth/password_reset.html",
            {"email": email, "errors": ["Enter a valid e-mail address."]},
            400,
        )
    site = _site_url(request)
    throttled = await auth.reset_throttle.request(_client_ip(request))
    if throttled is not None:
        return _throttled(request, "auth/password_reset.html", {"email": email}, throttled)
    sent = RedirectResponse(request.app.url_path_for("auth:password_reset_sent"), 303)
    # SECURITY: every request for an address counts, with or without an
    # account, and beyond the cap the answer is the same: it tells nothing.
    if not await auth.reset_throttle.may_mail(email):
        return sent
    users = (
        await db.scalars(
            select(User).where(func.lower(User.email) == email.lower(), User.is_active.is_(True))
        )
    ).all()
    templates = request.app.templates
    # NOTE: Django's rule: accounts without a usable password (logging in
    # another way) get no link.
    for user in (user for user in users if user.email and user.has_usable_password()):
        token = make_reset_token(user, auth.secret_keys)
        path = request.app.url_path_for("auth:password_reset_confirm", token=token)
        context = {"user": user, "reset_url": site + path, "site_url": site}
        body = templates.render_string("auth/password_reset_email.txt", context)
        subject = " ".join(
            templates.render_string("auth/password_reset_subject.txt", context).split()
        )
        # SECURITY: sent after the response, so its time does not tell
        # whether the address has an account.
        background.add_task(
            _deliver, request.app, auth.reset_throttle, email, user.email, subject, body
        )
    return sent


@never_cache
async def password_reset_sent_view(request: Request) -> Response:
    """Say that a link was sent if the address has an account."""
    return _render(request, "auth/password_reset_sent.html", {})


async def _user_for_token(request: Request, db: AsyncSession, token: str) -> Any:
    """Return the user a valid ``token`` was made for, else None."""
    auth = _auth(request)
    try:
        user_id = reset_token_user_id(token, auth.secret_keys)
        if not isinstance(user_id, int):
            raise InvalidResetToken("malformed reset token")
        user = await get_user(db, user_id)
        if user is None or not user.is_active:
            raise InvalidResetToken("no such user")
        verify_reset_token(token, user, auth.secret_keys, auth.reset_timeout)
    except InvalidResetToken:
        return None
    return user


@never_cache
async def password_reset_confirm_view(request: Request, token: str, db: AsyncSession) -> Response:
    """Check the link from the mail, then move the token out of the URL."""
    if len(token) > 512 or await _user_for_token(request, db, token) is None:
        return _render(request, "auth/password_reset_invalid.html", {}, 400)
    # SECURITY: the token leaves the address bar (and Referer headers) at
    # once; the form page reads it from the session (Django does the same).
    request.session[_RESET_SESSION_KEY] = token
    return RedirectResponse(request.app.url_path_for("auth:password_reset_set"), 302)


@never_cache
async def password_reset_set_view(request: Request, db: AsyncSession) -> Response:
    """Choose a new password (GET form, POST); the link then stops working."""
    token = request.session.get(_RESET_SESSION_KEY)
    user = await _user_for_token(request, db, token) if isinstance(token, str) else None
    if user is None:
        return _render(request, "auth/password_reset_invalid.html", {}, 400)
    if request.method == "GET":
        return _render(request, "auth/password_reset_set.html", {})
    form = await request.form()
    new1 = _field(form, "new_password1", _MAX_PASSWORD)
    new2 = _field(form, "new_password2", _MAX_PASSWORD)
    errors = await _set_new_password(db, user, new1, new2)
    if errors:
        return _render(request, "auth/password_reset_set.html", {"errors": errors}, 400)
    del request.session[_RESET_SESSION_KEY]
    return _render(request, "auth/password_reset_complete.html", {})


def build_router(auth: Auth) -> Router:
    """Return a new router (named ``auth``) with the auth pages; see the module doc."""
    # NOTE: HTML pages and form posts, not an API: left out of OpenAPI documents.
    router = Router(name="auth", template_folder=TEMPLATES_DIR, include_in_schema=False)
    both = ["GET", "POST"]
    router.add_route("/login", login_view, both, name="login")
    router.add_route("/logout", logout_view, ["POST"], name="logout")
    router.add_route("/logout/all", logout_all_view, ["POST"], name="logout_all")
    if auth.signup:
        router.add_route("/signup", signup_view, both, name="signup")
    router.add_route("/password/change", password_change_view, both, name="password_change")
    router.add_route("/password/reset", password_reset_view, both, name="password_reset")
    router.add_route("/password/reset/sent", password_reset_sent_view, name="password_reset_sent")
    router.add_route(
        "/password/reset/set", password_reset_set_view, both, name="password_reset_set"
    )
    # NOTE: ":str" spelled out: the core infers the slug converter for a plain
    # ``str`` annotation, and tokens hold dots.
    router.add_route(
        "/password/reset/{token:str}", password_reset_confirm_view, name="password_reset_confirm"
    )
    return router
