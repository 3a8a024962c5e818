"""oakling: as small as Flask, grows into everything Django ships, typed like FastAPI.

The names most apps need are importable from here::

    from oakling import App, Router, Query, Body, JSONResponse
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oakling.applications import App, Plugin
from oakling.background import BackgroundTask, BackgroundTasks
from oakling.config import Settings, load_settings
from oakling.datastructures import URL, FormData, Headers, QueryParams, State, UploadFile
from oakling.exceptions import (
    HTTPException,
    ImproperlyConfigured,
    RequestValidationError,
    ServiceUnavailable,
    WebSocketDisconnect,
    WebSocketException,
    abort,
)
from oakling.params import Body, Cookie, Depends, File, Form, Header, Query
from oakling.requests import Request
from oakling.responses import (
    EventSourceResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    ServerSentEvent,
    StreamingResponse,
)
from oakling.routing import Mount, NoMatchFound, Route, Router, View, WebSocketRoute
from oakling.websockets import WebSocket

if TYPE_CHECKING:
    from oakling.responses import FileResponse
    from oakling.templating import render

__version__ = "0.1.0"

__all__ = [
    "URL",
    "App",
    "BackgroundTask",
    "BackgroundTasks",
    "Body",
    "Cookie",
    "Depends",
    "EventSourceResponse",
    "File",
    "FileResponse",
    "Form",
    "FormData",
    "HTMLResponse",
    "HTTPException",
    "Header",
    "Headers",
    "ImproperlyConfigured",
    "JSONResponse",
    "Mount",
    "NoMatchFound",
    "PlainTextResponse",
    "Plugin",
    "Query",
    "QueryParams",
    "RedirectResponse",
    "Request",
    "RequestValidationError",
    "Response",
    "Route",
    "Router",
    "ServerSentEvent",
    "ServiceUnavailable",
    "Settings",
    "State",
    "StreamingResponse",
    "UploadFile",
    "View",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketRoute",
    "abort",
    "load_settings",
    "render",
    "__version__",
]


def __getattr__(name: str) -> object:
    # PERF: Jinja2 is imported only by apps that render templates, the file
    # machinery (email, secrets, asyncio) only by apps that send files.
    if name == "render":
        from oakling.templating import render

        return render
    if name == "FileResponse":
        from oakling.responses import FileResponse

        return FileResponse
    raise AttributeError(f"module 'oakling' has no attribute {name!r}")
