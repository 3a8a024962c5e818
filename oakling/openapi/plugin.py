"""The OpenAPI plugin: ``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``."""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from oakling.requests import Request
from oakling.responses import HTMLResponse, Response
from oakling.routing import Router
from oakling.staticfiles import StaticFiles

from .schema import SecurityScheme, build_document

if TYPE_CHECKING:
    from oakling.applications import App

__all__ = ["OpenAPI"]

STATIC = Path(__file__).parent / "static"

_UNSET: Any = object()

_SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{csrf_meta}<link rel="stylesheet" href="{static}/swagger-ui/swagger-ui.css" nonce="{nonce}">
<link rel="icon" type="image/png" href="{static}/swagger-ui/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script type="application/json" id="oakling-openapi-config">{config}</script>
<script src="{static}/swagger-ui/swagger-ui-bundle.js" nonce="{nonce}"></script>
<script src="{static}/oakling-swagger.js" nonce="{nonce}"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta property="csp-nonce" content="{nonce}">
<title>{title}</title>
</head>
<body>
<redoc spec-url="{openapi_url}"></redoc>
<script src="{static}/redoc/redoc.standalone.js" nonce="{nonce}"></script>
</body>
</html>
"""


# SECURITY: ReDoc's styles are injected <style> elements (styled-components),
# which no nonce reaches, so its page allows inline styles, and its search
# worker starts from a blob: URL. Scripts stay locked to this nonce.
_REDOC_POLICY = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _setting_path(app: App, name: str, given: Any, default: str | None) -> str | None:
    """An argument wins, then the ``OPENAPI_*`` setting; ``""`` or None switches off."""
    value = given if given is not _UNSET else app.settings.get(name, default, cast=str)
    if not value:
        return None
    path = str(value)
    if not path.startswith("/"):
        from oakling.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{name} {path!r} must start with '/'")
    return path.rstrip("/") or "/"


class OpenAPI:
    """Serve the app's OpenAPI 3.1 document and its docs pages (FastAPI's three URLs).

    ``App(plugins=[OpenAPI(title="Tasks")])`` adds ``GET /openapi.json``,
    ``GET /docs`` (Swagger UI, with "Try it out") and ``GET /redoc``
    (ReDoc). Their JavaScript and CSS are files of this package (Swagger UI
    5 and ReDoc 2 from npm, with their licences), served from
    ``static_url``: no page loads anything from another host. The document
    is built once, at startup (or on the first request of an app served
    without lifespan), from the routes as registered then.

    With the auth battery installed the document names its schemes
    (``bearerAuth``; with sessions ``sessionCookie``, and with CSRF
    ``csrfHeader``), and operations whose handler or dependencies need a
    user list them with the token scopes they need. The Swagger UI page
    carries the CSRF token and sends it in the CSRF header on unsafe
    requests, so "Try it out" works signed in through the session as well
    as with a bearer token ("Authorize").

    Args:
        title: ``info.title``; default the ``OPENAPI_TITLE`` setting, else "API".
        version: ``info.version``; default ``OPENAPI_VERSION``, else "0.1.0".
        description: ``info.description``.
        openapi_url: Where the document is served (``OPENAPI_URL``, default
            ``/openapi.json``); None switches off all three pages.
        docs_url: The Swagger UI page (``OPENAPI_DOCS_URL``, ``/docs``); None: off.
        redoc_url: The ReDoc page (``OPENAPI_REDOC_URL``, ``/redoc``); None: off.
        static_url: Where the pages' assets are served (``/openapi-static``).
        servers: The document's ``servers``.
        tags: Tag descriptions, ``[{"name": "api", "description": ...}]``.
        swagger_ui_parameters: Extra Swagger UI options
            (``{"docExpansion": "none"}``), as FastAPI's.
    """

    name = "openapi"

    def __init__(
        self,
        *,
        title: str | None = None,
        version: str | None = None,
        description: str | None = None,
        openapi_url: str | None = _UNSET,
        docs_url: str | None = _UNSET,
        redoc_url: str | None = _UNSET,
        static_url: str = "/openapi-static",
        servers: Sequence[dict[str, Any]] | None = None,
        tags: Sequence[dict[str, Any]] | None = None,
        swagger_ui_parameters: dict[str, Any] | None = None,
    ) -> None:
        self.title = title
        self.version = version
        self.description = description
        self._urls = (openapi_url, docs_url, redoc_url)
        self.openapi_url: str | None = None
        self.docs_url: str | None = None
        self.redoc_url: str | None = None
        self.static_url = static_url.rstrip("/")
        self.servers = list(servers) if servers else None
        self.tags = list(tags) if tags else None
        self.swagger_ui_parameters = dict(swagger_ui_parameters or {})
        self.app: App | None = None
        self._document: dict[str, Any] | None = None
        self._body: bytes | None = None

    def install(self, app: App) -> None:
        """Add the three routes and the assets' mount; build the document at startup."""
        self.app = app
        settings = app.settings
        self.title = self.title or settings.get("OPENAPI_TITLE", "API", cast=str)
        self.version = self.version or settings.get("OPENAPI_VERSION", "0.1.0", cast=str)
        openapi_url, docs_url, redoc_url = self._urls
        self.openapi_url = _setting_path(app, "OPENAPI_URL", openapi_url, "/openapi.json")
        if self.openapi_url is not None:
            self.docs_url = _setting_path(app, "OPENAPI_DOCS_URL", docs_url, "/docs")
            self.redoc_url = _setting_path(app, "OPENAPI_REDOC_URL", redoc_url, "/redoc")
        app.extensions[self.name] = self
        app.cli_commands.append(self._command())
        if self.openapi_url is None:
            return
        router = Router(name=self.name)
        router.add_route(
            self.openapi_url, self.openapi_json, name="openapi", include_in_schema=False
        )
        if self.docs_url is not None:
            router.add_route(self.docs_url, self.swagger_ui, name="docs", include_in_schema=False)
        if self.redoc_url is not None:
            router.add_route(self.redoc_url, self.redoc, name="redoc", include_in_schema=False)
        app.include(router)
        if self.docs_url is not None or self.redoc_url is not None:
            app.mount(self.static_url, StaticFiles(directory=STATIC), name="openapi-static")
        # PERF: the document is built once, when the app starts, not per request.
        app.on_startup(self._build)

    def _command(self) -> Any:
        import click

        @click.command("openapi")
        @click.option(
            "--indent", default=2, show_default=True, help="Spaces per level; 0: one line."
        )
        def openapi_command(indent: int) -> None:
            """Print the app's OpenAPI document (JSON), e.g. for a client generator."""
            click.echo(json.dumps(self.openapi(), indent=indent or None, ensure_ascii=False))

        return openapi_command

    # -- the document -----------------------------------------------------------

    def security_schemes(self) -> list[SecurityScheme]:
        """Return the schemes the installed batteries accept (auth, sessions, CSRF)."""
        assert self.app is not None
        extensions = self.app.extensions
        if "auth" not in extensions:
            return []
        schemes = [
            SecurityScheme(
                "bearerAuth",
                {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token: Authorization: Bearer <token>. "
                    "Operations list the token scopes they need.",
                },
            )
        ]
        sessions = extensions.get("sessions")
        if sessions is not None:
            schemes.append(
                SecurityScheme(
                    "sessionCookie",
                    {
                        "type": "apiKey",
                        "in": "cookie",
                        "name": getattr(sessions, "cookie_name", "session"),
                        "description": "The session of a user logged in through the site.",
                    },
                )
            )
            csrf = extensions.get("csrf")
            if csrf is not None:
                schemes.append(
                    SecurityScheme(
                        "csrfHeader",
                        {
                            "type": "apiKey",
                            "in": "header",
                            "name": getattr(csrf, "header_name", "X-CSRFToken"),
                            "description": "With the session cookie, on POST, PUT, PATCH "
                            "and DELETE: the page's CSRF token.",
                        },
                        unsafe_only=True,
                    )
                )
        return schemes

    def openapi(self) -> dict[str, Any]:
        """Return the document (built on the first call, then kept)."""
        if self._document is None:
            self._build()
        assert self._document is not None
        return self._document

    def _build(self) -> None:
        assert self.app is not None
        self._document = build_document(
            self.app,
            title=str(self.title),
            version=str(self.version),
            description=self.description,
            servers=self.servers,
            security=self.security_schemes(),
            tags=self.tags,
        )
        self._body = msgspec.json.encode(self._document)

    # -- the pages --------------------------------------------------------------

    async def openapi_json(self) -> Response:
        """Serve the document."""
        if self._body is None:
            self._build()
        return Response(self._body, 200, media_type="application/json")

    def _static(self, request: Request) -> str:
        return html.escape(str(request.scope.get("root_path", "")) + self.static_url)

    async def swagger_ui(self, request: Request) -> HTMLResponse:
        """Serve Swagger UI for the document."""
        root = str(request.scope.get("root_path", ""))
        csrf_meta = ""
        csrf_header = None
        assert self.app is not None
        csrf = self.app.extensions.get("csrf")
        if csrf is not None and "sessions" in self.app.extensions:
            from oakling.csrf import get_token

            csrf_header = str(getattr(csrf, "header_name", "X-CSRFToken"))
            csrf_meta = f'<meta name="csrf-token" content="{html.escape(get_token(request))}">\n'
        config = {
            "url": root + str(self.openapi_url),
            "csrfHeader": csrf_header,
            "swagger": self.swagger_ui_parameters,
        }
        # SECURITY: "</" cannot end the data block early.
        config_text = json.dumps(config).replace("</", "<\\/")
        page = _SWAGGER_PAGE.format(
            title=html.escape(f"{self.title} - Swagger UI"),
            csrf_meta=csrf_meta,
            static=self._static(request),
            nonce=html.escape(str(request.scope.get("csp_nonce", ""))),
            config=config_text,
        )
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    async def redoc(self, request: Request) -> HTMLResponse:
        """Serve ReDoc for the document, under a policy of its own (see _REDOC_POLICY)."""
        root = str(request.scope.get("root_path", ""))
        nonce = str(request.scope.get("csp_nonce", "")) or secrets.token_urlsafe(18)
        page = _REDOC_PAGE.format(
            title=html.escape(f"{self.title} - ReDoc"),
            openapi_url=html.escape(root + str(self.openapi_url)),
            static=self._static(request),
            nonce=html.escape(nonce),
        )
        # NOTE: the security battery never replaces a CSP the response has.
        return HTMLResponse(
            page, headers={"content-security-policy": _REDOC_POLICY.format(nonce=nonce)}
        )
