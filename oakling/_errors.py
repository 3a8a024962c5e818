"""Default error responses, negotiated between HTML (browsers) and JSON (APIs)."""

from __future__ import annotations

import html
import http
import logging
import os
from typing import Any

from oakling.exceptions import HTTPException, RequestValidationError
from oakling.requests import HTTPConnection
from oakling.responses import HTMLResponse, JSONResponse, Response
from oakling.types import Receive, Scope, Send

__all__ = ["STYLESHEET_PATH", "default_http_error", "send_stylesheet", "server_error"]

logger = logging.getLogger("oakling.error")

#: Where every app serves the default error pages' stylesheet (see dispatch).
STYLESHEET_PATH = "/_oakling/error.css"

# SECURITY: no inline <style> or style attribute: an app's Content-Security-Policy
# (the security battery's default-src 'self') would block it without a nonce.
# The look comes from a stylesheet the app itself serves ('self'); the page
# stays readable if a policy or a proxy blocks even that.
_PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{status} {phrase}</title>
<link rel="stylesheet" href="{root}{stylesheet}"></head>
<body><main><h1>{status} {phrase}</h1>{body}
<p><a href="{root}/">{back}</a></p></main></body></html>
"""

_STYLESHEET = b"""\
:root{color-scheme:light dark;--ink:#1f2328;--muted:#59636e;--paper:#fff;--line:#d1d9e0;
--link:#0b57d0}
@media (prefers-color-scheme:dark){:root{--ink:#e6edf3;--muted:#9198a1;--paper:#0d1117;
--line:#3d444d;--link:#7cb1ff}}
html{background:var(--paper);color:var(--ink);
font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
body{margin:0}
main{max-width:40rem;margin:12vh auto 2rem;padding:0 1.25rem}
h1{font-size:1.75rem;line-height:1.2;margin:0 0 1rem;padding-bottom:.75rem;
border-bottom:1px solid var(--line)}
p,li{color:var(--muted)}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--ink)}
a{color:var(--link);font-weight:600}
a:focus-visible{outline:2px solid var(--link);outline-offset:2px}
"""


async def send_stylesheet(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer ``GET`` :data:`STYLESHEET_PATH` with the default pages' CSS."""
    # PERF: a fixed body, cacheable for a day by browsers and shared caches.
    response = Response(
        _STYLESHEET,
        200,
        {"Cache-Control": "public, max-age=86400"},
        media_type="text/css; charset=utf-8",
    )
    await response(scope, receive, send)


_MISSING: Any = object()


def _root(conn: HTTPConnection) -> str:
    return html.escape(conn.scope.get("root_path", ""), quote=True)


def _custom_page(conn: HTTPConnection, status: int, detail: Any) -> Response | None:
    """Render the app's ``<status>.html`` template, or None without one.

    Django's ``404.html``/``500.html`` and Flask's habit of an error template
    per status. Which statuses have a template is looked up once per app.
    A template that fails to render is logged, and the default page is used:
    an error page never becomes a 500 of its own.
    """
    app: Any = conn.scope.get("app")
    cache: dict[int, Any] | None = getattr(app, "_error_templates", None)
    if cache is None:
        return None
    template = cache.get(status, _MISSING)
    if template is _MISSING:
        template = cache[status] = _find_template(app, status)
    if template is None:
        return None
    try:
        context = app.templates.context_for(
            conn,
            {"status_code": status, "detail": detail, "message": detail, "phrase": _phrase(status)},
        )
        return HTMLResponse(template.render(context), status)
    except Exception:  # noqa: BLE001 - fall back to the default page
        logger.exception("The error template %s.html failed; the default page was sent", status)
        return None


def _find_template(app: Any, status: int) -> Any:
    # PERF: no template folder: Jinja2 is not even imported.
    if not any(
        router.template_folder and os.path.isdir(router.template_folder)
        for router in app.iter_routers()
    ):
        return None
    import jinja2

    try:
        return app.templates.get_template(f"{status}.html")
    except jinja2.TemplateNotFound:
        return None
    except Exception:  # noqa: BLE001 - a syntax error: logged, the default page is used
        logger.exception("The error template %s.html cannot be loaded", status)
        return None


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _translate(conn: HTTPConnection) -> tuple[Any, str]:
    """Return the page's ``gettext`` and language tag.

    NOTE: the i18n battery registers its ``gettext`` and ``get_language``
    as ``app.extensions["oakling.translator"]``; the core imports no
    battery, and without it the pages are English.
    """
    app = conn.scope.get("app")
    found = getattr(app, "extensions", {}).get("oakling.translator")
    if found is None:
        return str, "en"
    translate, get_language = found
    return translate, get_language() or "en"


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
        custom = _custom_page(conn, status, detail)
        if custom is not None:
            for name, value in (ex.headers or {}).items():
                custom.headers[name] = value
            return custom
        translate, lang = _translate(conn)
        phrase = _phrase(status)
        if detail == phrase:
            detail = translate(phrase)
        page = _PAGE.format(
            status=status,
            phrase=html.escape(translate(phrase)),
            body=_html_body(detail),
            root=_root(conn),
            stylesheet=STYLESHEET_PATH,
            lang=html.escape(lang),
            back=html.escape(translate("Back to the home page")),
        )
        return HTMLResponse(page, status, ex.headers)
    return JSONResponse({"detail": detail}, status, ex.headers)


def server_error(conn: HTTPConnection) -> Response:
    """Render the plain 500 answer shown outside debug (no detail leaks)."""
    if _wants_html(conn):
        custom = _custom_page(conn, 500, "Internal Server Error")
        if custom is not None:
            return custom
        translate, lang = _translate(conn)
        message = translate("The server met an error and could not finish the request.")
        return HTMLResponse(
            _PAGE.format(
                status=500,
                phrase=html.escape(translate("Internal Server Error")),
                body=f"<p>{html.escape(message)}</p>",
                root=_root(conn),
                stylesheet=STYLESHEET_PATH,
                lang=html.escape(lang),
                back=html.escape(translate("Back to the home page")),
            ),
            500,
        )
    return JSONResponse({"detail": "Internal Server Error"}, 500)
