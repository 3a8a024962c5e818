"""``set_language`` and ``set_timezone``: save a visitor's choice in a cookie."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from oakling.redirects import is_safe_redirect
from oakling.requests import Request
from oakling.responses import JSONResponse, RedirectResponse, Response
from oakling.routing import Router

from . import timezones
from .translation import gettext

if TYPE_CHECKING:
    from .plugin import I18n

__all__ = ["build_router", "is_safe_redirect", "set_language", "set_timezone"]

_MAX_URL = 2048
#: A year, Django's ``LANGUAGE_COOKIE_AGE`` default is the browser session;
#: a language choice is meant to persist.
COOKIE_AGE = 365 * 24 * 3600


def _i18n(request: Request) -> I18n:
    return request.app.extensions["i18n"]  # type: ignore[no-any-return]


def _next_url(request: Request, form_next: str) -> str:
    if is_safe_redirect(form_next):
        return form_next
    referer = request.headers.get("referer", "")
    if referer:
        parts = urlsplit(referer)
        if parts.netloc == request.headers.get("host", "") and is_safe_redirect(parts.path or "/"):
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return str(request.scope.get("root_path", "")) + "/"


def _switch_prefix(i18n: I18n, url: str, language: str) -> str:
    """With URL prefixes, ``/de/tasks`` becomes ``/fr/tasks`` for ``fr``."""
    if not i18n.url_prefix:
        return url
    parts = url.split("/", 2)
    if len(parts) > 1 and parts[1].lower() in {tag.lower() for tag in i18n.languages}:
        rest = parts[2] if len(parts) > 2 else ""
        return f"/{language}/{rest}"
    return url


async def set_language(request: Request) -> Response:
    """Save the posted ``language`` in the language cookie and redirect (Django's view).

    Form fields: ``language`` (a tag from ``LANGUAGES``) and ``next`` (a
    path on this site; else the ``Referer`` when it is this site, else
    ``/``). The answer is a 302 to ``next``, or 204 when the client asked
    for JSON (``Accept: application/json``, a ``fetch`` call). Django's
    ``set_language`` accepts only POST, and so does this; the CSRF battery,
    when installed, checks it as any other form.

    Returns:
        302 (or 204) with ``Set-Cookie``; 400 with the supported languages
        when ``language`` is missing or not supported.
    """
    i18n = _i18n(request)
    form = await request.form()
    raw = form.get("language")
    language = i18n.matcher.supported.get(raw.lower()) if isinstance(raw, str) else None
    if language is None:
        return JSONResponse(
            {
                "detail": gettext("Unsupported language."),
                "languages": list(i18n.languages),
            },
            400,
        )
    raw_next = form.get("next")
    target = _next_url(request, raw_next if isinstance(raw_next, str) else "")
    response: Response
    if "application/json" in request.headers.get("accept", ""):
        response = Response(status_code=204)
    else:
        response = RedirectResponse(_switch_prefix(i18n, target, language), 302)
    response.set_cookie(
        i18n.cookie_name, language, max_age=COOKIE_AGE, httponly=False, samesite="lax"
    )
    return response


async def set_timezone(request: Request) -> Response:
    """Save the posted ``timezone`` (an IANA name) in the zone cookie and redirect.

    Returns:
        302 to ``next`` (or 204 for JSON clients) with ``Set-Cookie``; 400
        when ``timezone`` is missing or not a zone zoneinfo knows.
    """
    i18n = _i18n(request)
    form = await request.form()
    raw = form.get("timezone")
    zone = timezones.get_timezone(raw) if isinstance(raw, str) else None
    if zone is None:
        return JSONResponse({"detail": gettext("Unknown time zone.")}, 400)
    raw_next = form.get("next")
    target = _next_url(request, raw_next if isinstance(raw_next, str) else "")
    response: Response
    if "application/json" in request.headers.get("accept", ""):
        response = Response(status_code=204)
    else:
        response = RedirectResponse(target, 302)
    assert isinstance(raw, str)
    response.set_cookie(
        i18n.timezone_cookie_name, raw, max_age=COOKIE_AGE, httponly=False, samesite="lax"
    )
    return response


def build_router(i18n: I18n) -> Router:
    """Return the router with ``i18n:set_language`` and ``i18n:set_timezone``."""
    router = Router(name="i18n", include_in_schema=False)
    router.add_route("/setlang/", set_language, methods=["POST"], name="set_language")
    router.add_route("/settz/", set_timezone, methods=["POST"], name="set_timezone")
    return router
