"""The core's user-facing strings, for extraction into the i18n battery's catalogue.

The core (``oakling/_errors.py``) imports no battery: its error pages look up
``app.extensions["oakling.translator"]``, which the i18n plugin sets. pybabel cannot
see strings built at run time (``HTTPStatus(404).phrase``), so they are
listed here with the no-op marker ``N_``; a test checks the list is complete.
"""

from __future__ import annotations

__all__ = ["CORE_MESSAGES"]


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name
    """Mark ``message`` for extraction and return it unchanged."""
    return message


CORE_MESSAGES: tuple[str, ...] = (
    N_("Back to the home page"),
    N_("The server met an error and could not finish the request."),
    N_("Error"),
    N_("Bad Request"),
    N_("Unauthorized"),
    N_("Payment Required"),
    N_("Forbidden"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Not Acceptable"),
    N_("Proxy Authentication Required"),
    N_("Request Timeout"),
    N_("Conflict"),
    N_("Gone"),
    N_("Length Required"),
    N_("Precondition Failed"),
    N_("Request Entity Too Large"),
    N_("Request-URI Too Long"),
    N_("Unsupported Media Type"),
    N_("Requested Range Not Satisfiable"),
    N_("Expectation Failed"),
    N_("I'm a Teapot"),
    N_("Misdirected Request"),
    N_("Unprocessable Entity"),
    N_("Locked"),
    N_("Failed Dependency"),
    N_("Too Early"),
    N_("Upgrade Required"),
    N_("Precondition Required"),
    N_("Too Many Requests"),
    N_("Request Header Fields Too Large"),
    N_("Unavailable For Legal Reasons"),
    N_("Internal Server Error"),
    N_("Not Implemented"),
    N_("Bad Gateway"),
    N_("Service Unavailable"),
    N_("Gateway Timeout"),
    N_("HTTP Version Not Supported"),
    N_("Variant Also Negotiates"),
    N_("Insufficient Storage"),
    N_("Loop Detected"),
    N_("Not Extended"),
    N_("Network Authentication Required"),
)
