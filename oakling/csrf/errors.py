"""The CSRF failure: a 403 that says why, as an HTML page or JSON."""

from __future__ import annotations

import html

from oakling.exceptions import HTTPException
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
    "CSRFError",
    "csrf_failure",
]

# Django's wording where Django has the check (django/middleware/csrf.py).
REASON_CROSS_SITE = "Cross-site request refused (Sec-Fetch-Site: cross-site)."
REASON_BAD_ORIGIN = "Origin checking failed - {} does not match any trusted origins."
REASON_NO_REFERER = "Referer checking failed - no Referer."
REASON_MALFORMED_REFERER = "Referer checking failed - Referer is malformed."
REASON_INSECURE_REFERER = "Referer checking failed - Referer is insecure while host is secure."
REASON_BAD_REFERER = "Referer checking failed - {} does not match any trusted origins."
REASON_NO_SECRET = "CSRF token missing or session expired."
REASON_NO_TOKEN = "CSRF token missing."
REASON_BAD_TOKEN = "CSRF token incorrect."

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>403 Forbidden</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;
padding:0 1rem;color:#222}}h1{{font-size:1.5rem}}</style></head>
<body><h1>403 Forbidden</h1>
<p>CSRF verification failed. Request aborted.</p>
<p><strong>Reason:</strong> {reason}</p>
<p>This site checks that forms are sent from its own pages. If you came here
by submitting a form, go back, reload the page and try again; your session may
have expired, or your browser may be blocking cookies for this site.</p>
</body></html>
"""


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
        return HTMLResponse(_PAGE.format(reason=html.escape(ex.reason)), 403, ex.headers)
    return JSONResponse({"detail": ex.reason}, 403, ex.headers)
