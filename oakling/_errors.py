"""Default error responses, negotiated between HTML (browsers) and JSON (APIs)."""

from __future__ import annotations

import html
import http
from typing import Any

from oakling.exceptions import HTTPException, RequestValidationError
from oakling.requests import HTTPConnection
from oakling.responses import HTMLResponse, JSONResponse, Response

__all__ = ["default_http_error", "server_error"]

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{status} {phrase}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;
padding:0 1rem;color:#222}}
h1{{font-size:1.5rem}}code,li{{font-size:.95rem}}</style></head>
<body><h1>{status} {phrase}</h1>{body}</body></html>
"""


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _wants_html(conn: HTTPConnection) -> bool:
    # NOTE: browsers list text/html first; API clients and curl send */* or
    # application/json, and get JSON (the first offer wins on a tie).
    try:
        return conn.accepts("application/json", "text/html") == "text/html"
    except Exception:  # noqa: BLE001 - a broken Accept header must not break the error page
        return False


def _html_body(detail: Any) -> str:
    if isinstance(detail, list):
        items = "".join(
            f"<li><code>{html.escape('.'.join(map(str, error.get('loc', []))))}</code>: "
            f"{html.escape(str(error.get('msg', '')))}</li>"
            if isinstance(error, dict)
            else f"<li>{html.escape(str(error))}</li>"
            for error in detail
        )
        return f"<ul>{items}</ul>"
    return f"<p>{html.escape(str(detail))}</p>"


def default_http_error(conn: HTTPConnection, ex: HTTPException) -> Response:
    """Render an HTTPException: ``{"detail": ...}`` JSON, or an HTML page for browsers.

    A 422 lists each validation error (``loc``, ``msg``, ``type``), the
    shape FastAPI answers with. ``ex.headers`` are kept (``Allow`` on 405).
    """
    status = ex.status_code
    if status in (204, 304) or status < 200:
        return Response(None, status, ex.headers)
    detail = ex.errors if isinstance(ex, RequestValidationError) else ex.detail
    if _wants_html(conn):
        page = _PAGE.format(
            status=status, phrase=html.escape(_phrase(status)), body=_html_body(detail)
        )
        return HTMLResponse(page, status, ex.headers)
    return JSONResponse({"detail": detail}, status, ex.headers)


def server_error(conn: HTTPConnection) -> Response:
    """Render the plain 500 answer shown outside debug (no detail leaks)."""
    if _wants_html(conn):
        body = "<p>The server met an error and could not finish the request.</p>"
        return HTMLResponse(
            _PAGE.format(status=500, phrase="Internal Server Error", body=body), 500
        )
    return JSONResponse({"detail": "Internal Server Error"}, 500)
