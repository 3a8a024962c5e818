"""HTTP errors raised by handlers and by the framework itself."""

from __future__ import annotations

import http
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

__all__ = [
    "ClientDisconnect",
    "HTTPException",
    "ImproperlyConfigured",
    "RequestValidationError",
    "ResponseValidationError",
    "ServiceUnavailable",
    "WebSocketDisconnect",
    "WebSocketException",
    "abort",
]


class HTTPException(Exception):
    """An error answered with an HTTP status, like Werkzeug's and Starlette's.

    Raise it (or call :func:`abort`) anywhere below a handler; the app turns it
    into a response negotiated between HTML and JSON, or hands it to an error
    handler registered for its status code.

    Args:
        status_code: The HTTP status, 400..599.
        detail: A human-readable message, or any JSON-serialisable value for
            APIs. Defaults to the status phrase (``"Not Found"``).
        headers: Extra response headers, e.g. ``{"Allow": "GET"}`` on a 405.
    """

    def __init__(
        self,
        status_code: int,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if detail is None:
            detail = http.HTTPStatus(status_code).phrase
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers) if headers else None
        super().__init__(status_code, detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, detail={self.detail!r})"


class RequestValidationError(HTTPException):
    """Input that failed validation; answered with 422 and a list of errors.

    Args:
        errors: One mapping per error, each with ``loc`` (a list such as
            ``["query", "page"]``), ``msg`` (a sentence) and ``type`` (a short
            machine-readable kind such as ``"missing"`` or ``"type_error"``).
            This is the shape FastAPI users already parse.
    """

    def __init__(self, errors: Sequence[Mapping[str, Any]]) -> None:
        self.errors = [dict(error) for error in errors]
        super().__init__(422, self.errors)


class ResponseValidationError(Exception):
    """A handler returned what its return annotation forbids: a bug, answered 500.

    Raised by the response model check (a handler annotated ``-> UserOut``
    returning something that does not convert to ``UserOut``); logged with
    the handler and the field, never sent to the client.
    """


class ServiceUnavailable(HTTPException):
    """A backing service (database, Redis, broker) is down, slow or exhausted.

    Answered with 503 and ``Retry-After`` (RFC 9110 section 15.6.4 and
    section 10.2.3) through the app's negotiated error pages, so a browser
    gets a page and an API client ``{"detail": ...}``. Batteries raise it
    instead of letting a driver error become a 500.

    Args:
        service: What is unavailable, in words (``"Redis"``, ``"the database"``);
            it names the service in the default detail.
        retry_after: Seconds the client should wait, sent as ``Retry-After``.
        detail: The message; defaults to ``"<service> unavailable; try again
            in a few seconds"``.
    """

    def __init__(self, service: str, retry_after: int = 5, detail: Any = None) -> None:
        self.service = service
        self.retry_after = retry_after
        if detail is None:
            detail = f"{service[:1].upper()}{service[1:]} unavailable; try again in a few seconds"
        super().__init__(503, detail, {"Retry-After": str(retry_after)})


class ClientDisconnect(Exception):
    """The client went away before the request body was read whole."""


class WebSocketDisconnect(Exception):
    """The peer closed the WebSocket.

    Args:
        code: The close code (RFC 6455 section 7.4), 1000 for a normal close.
        reason: The close reason the peer gave, possibly empty.
    """

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)


class WebSocketException(Exception):
    """Raise in a WebSocket handler to close the connection with a code.

    Args:
        code: An RFC 6455 close code, e.g. 1008 (policy violation).
        reason: Up to 123 bytes of UTF-8 text sent with the close frame.
    """

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)


class ImproperlyConfigured(Exception):
    """The application's settings or wiring are wrong; raised at startup."""


def abort(
    status_code: int, detail: Any = None, headers: Mapping[str, str] | None = None
) -> NoReturn:
    """Stop handling the request and answer with ``status_code`` (Flask's ``abort``).

    Raises:
        HTTPException: Always.
    """
    raise HTTPException(status_code, detail, headers)
