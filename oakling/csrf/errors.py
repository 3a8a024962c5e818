"""The CSRF failure: a 403 that says why, as an HTML page or JSON."""

from __future__ import annotations

import html

from oakling.exceptions import HTTPException
from oakling.i18n.translation import get_language, gettext
from oakling.i18n.translation import gettext_noop as N_
from oakling.requests import HTTPConnection
from oakling.responses import HTMLResponse, JSONResponse, Response

__all__ = [
    "REASON_BAD_ORIGIN",
    "REASON_BAD_REFERER",
    "REASON_BAD_TOKEN",
    "REASON_CROSS_SITE",
    "REASON_INSECURE_REFERER",
    "REASON_MALFORMED_REFERER",
    "REASON_NO_REFERER",
    "REASON_NO_SECRET",
    "REASON_NO_TOKEN",
    "REASON_FIELD_TOKEN_CHARACTERS",
    "REASON_FIELD_TOKEN_LENGTH",
    "REASON_HEADER_TOKEN_CHARACTERS",
    "REASON_HEADER_TOKEN_LENGTH",
    "CSRFError",
    "csrf_failure",
]


# Django's wording where Django has the check (django/middleware/csrf.py).
# NOTE: the reasons stay English in the exception and the JSON body (logs and
# API clients match on them); the HTML page translates them.
REASON_CROSS_SITE = N_("Cross-site request refused (Sec-Fetch-Site: cross-site).")
REASON_BAD_ORIGIN = N_("Origin checking failed - {} does not match any trusted origins.")
REASON_NO_REFERER = N_("Referer checking failed - no Referer.")
REASON_MALFORMED_REFERER = N_("Referer checking failed - Referer is malformed.")
REASON_INSECURE_REFERER = N_("Referer checking failed - Referer is insecure while host is secure.")
REASON_BAD_REFERER = N_("Referer checking failed - {} does not match any trusted origins.")
REASON_NO_SECRET = N_("CSRF token missing or session expired.")
REASON_NO_TOKEN = N_("CSRF token missing.")
REASON_BAD_TOKEN = N_("CSRF token incorrect.")
REASON_HEADER_TOKEN_LENGTH = N_("CSRF token from the {} header has incorrect length.")
REASON_HEADER_TOKEN_CHARACTERS = N_("CSRF token from the {} header has invalid characters.")
REASON_FIELD_TOKEN_LENGTH = N_("CSRF token from the {} form field has incorrect length.")
REASON_FIELD_TOKEN_CHARACTERS = N_("CSRF token from the {} form field has invalid characters.")

_PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>403 {forbidden}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;
padding:0 1rem;color:#222}}h1{{font-size:1.5rem}}</style></head>
<body><h1>403 {forbidden}</h1>
<p>{failed}</p>
<p><strong>{reason_label}</strong> {reason}</p>
<p>{advice}</p>
</body></html>
"""

_TEMPLATES = (
    REASON_BAD_ORIGIN,
    REASON_BAD_REFERER,
    REASON_HEADER_TOKEN_LENGTH,
    REASON_HEADER_TOKEN_CHARACTERS,
    REASON_FIELD_TOKEN_LENGTH,
    REASON_FIELD_TOKEN_CHARACTERS,
)


def _translated_reason(reason: str) -> str:
    """Return ``reason`` in the active language, its quoted origin kept."""
    for template in _TEMPLATES:
        head, _, tail = template.partition("{}")
        if reason.startswith(head) and reason.endswith(tail) and len(reason) > len(template) - 2:
            return gettext(template).format(reason[len(head) : len(reason) - len(tail)])
    return gettext(reason)


class CSRFError(HTTPException):
    """A request refused by the CSRF check: always a 403.

    Catch it, or register an error handler for it (or for 403) to render
    your own page, as Django's ``CSRF_FAILURE_VIEW``.

    Args:
        reason: Why the request was refused; also the response's ``detail``.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(403, reason)


def _wants_html(conn: HTTPConnection) -> bool:
    # NOTE: the core's rule for error pages: HTML only when the client ranks
    # text/html above JSON (browsers); APIs and curl get JSON.
    try:
        return conn.accepts("application/json", "text/html") == "text/html"
    except Exception:  # noqa: BLE001 - a broken Accept header must not break the error page
        return False


def csrf_failure(conn: HTTPConnection, ex: CSRFError) -> Response:
    """Render a CSRF refusal: an HTML page for browsers, ``{"detail": reason}`` else.

    Registered by the ``CSRF`` plugin as the error handler for
    :class:`CSRFError`; a handler registered for status 403 takes
    precedence over it.

    Returns:
        A 403 response naming the reason.
    """
    if _wants_html(conn):
        page = _PAGE.format(
            lang=html.escape(get_language() or "en"),
            forbidden=html.escape(gettext("Forbidden")),
            failed=html.escape(gettext("CSRF verification failed. Request aborted.")),
            reason_label=html.escape(gettext("Reason:")),
            reason=html.escape(_translated_reason(ex.reason)),
            advice=html.escape(
                gettext(
                    "This site checks that forms are sent from its own pages. If you came "
                    "here by submitting a form, go back, reload the page and try again; your "
                    "session may have expired, or your browser may be blocking cookies for "
                    "this site."
                )
            ),
        )
        return HTMLResponse(page, 403, ex.headers)
    return JSONResponse({"detail": ex.reason}, 403, ex.headers)
