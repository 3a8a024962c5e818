"""Adding and reading messages: Django's levels API and Flask's ``flash``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from oakling.requests import HTTPConnection

from .constants import DEBUG, ERROR, INFO, SUCCESS, WARNING
from .storage import Message, MessageStorage, storage_for

if TYPE_CHECKING:
    from .plugin import Messages

__all__ = [
    "MessageFailure",
    "add_message",
    "debug",
    "error",
    "flash",
    "get_flashed_messages",
    "get_level",
    "get_messages",
    "info",
    "set_level",
    "success",
    "warning",
]


class MessageFailure(RuntimeError):
    """A message was added to an app without the Messages plugin (Django's)."""


#: Flask categories -> levels; any other category is recorded at INFO.
_CATEGORY_LEVELS = {
    "message": INFO,
    "debug": DEBUG,
    "info": INFO,
    "success": SUCCESS,
    "warning": WARNING,
    "error": ERROR,
    "danger": ERROR,
}


def _plugin(conn: HTTPConnection) -> Messages | None:
    return conn.scope["app"].extensions.get("messages")  # type: ignore[no-any-return]


def _storage(conn: HTTPConnection) -> MessageStorage | None:
    plugin = _plugin(conn)
    if plugin is None:
        return None
    return storage_for(conn.scope, plugin.level, plugin.tags)


def get_messages(request: HTTPConnection) -> MessageStorage | list[Message]:
    """Return the request's messages: iterate to show them (and clear them).

    Django's ``get_messages(request)``; templates get it as ``messages``.
    Without the plugin it is an empty list.
    """
    storage = _storage(request)
    return storage if storage is not None else []


def add_message(
    request: HTTPConnection,
    level: int,
    message: str,
    extra_tags: str = "",
    fail_silently: bool = False,
) -> None:
    """Record ``message`` at ``level`` for the next page (Django's ``add_message``).

    Args:
        request: The current request (its session stores the message).
        level: ``messages.INFO`` and so on, or any int; under
            ``MESSAGE_LEVEL`` (default INFO) it is dropped.
        message: The text, escaped when shown unless it is a
            :class:`markupsafe.Markup`.
        extra_tags: Space-separated tags added to ``message.tags``.
        fail_silently: Do nothing, instead of raising, when the app has no
            Messages plugin (for reusable code, as in Django).

    Raises:
        MessageFailure: If the app has no Messages plugin and not ``fail_silently``.
        TypeError: If ``message`` is not a string.
    """
    storage = _storage(request)
    if storage is None:
        if fail_silently:
            return
        raise MessageFailure(
            "messages need the Messages plugin: App(plugins=[Sessions(), Messages()]) "
            "with `from oakling.messages import Messages`"
        )
    storage.add(level, message, extra_tags)


def debug(
    request: HTTPConnection, message: str, extra_tags: str = "", fail_silently: bool = False
) -> None:
    """Add a DEBUG message (dropped unless ``MESSAGE_LEVEL`` allows it)."""
    add_message(request, DEBUG, message, extra_tags, fail_silently)


def info(
    request: HTTPConnection, message: str, extra_tags: str = "", fail_silently: bool = False
) -> None:
    """Add an INFO message."""
    add_message(request, INFO, message, extra_tags, fail_silently)


def success(
    request: HTTPConnection, message: str, extra_tags: str = "", fail_silently: bool = False
) -> None:
    """Add a SUCCESS message."""
    add_message(request, SUCCESS, message, extra_tags, fail_silently)


def warning(
    request: HTTPConnection, message: str, extra_tags: str = "", fail_silently: bool = False
) -> None:
    """Add a WARNING message."""
    add_message(request, WARNING, message, extra_tags, fail_silently)


def error(
    request: HTTPConnection, message: str, extra_tags: str = "", fail_silently: bool = False
) -> None:
    """Add an ERROR message."""
    add_message(request, ERROR, message, extra_tags, fail_silently)


def get_level(request: HTTPConnection) -> int:
    """Return the minimum level recorded for this request (Django's ``get_level``)."""
    storage = _storage(request)
    return storage.level if storage is not None else INFO


def set_level(request: HTTPConnection, level: int) -> bool:
    """Set the minimum level recorded for this request only; return True if set."""
    storage = _storage(request)
    if storage is None:
        return False
    storage.level = level
    return True


def _current_request(request: HTTPConnection | None, name: str) -> HTTPConnection:
    if request is not None:
        return request
    from oakling.globals import _context, _get_request, request_on_stack

    # NOTE: RequestGlobals' context first (it reaches tasks a handler starts);
    # else the route frame on the call stack, which costs nothing per request.
    if _context.get(None) is not None:
        return _get_request()
    found = request_on_stack()
    if found is None:
        raise RuntimeError(
            f"{name}() outside a request: call it while a route is handled, pass "
            f"request=, or install RequestGlobals() (its context reaches middleware "
            f"and tasks the handler starts)"
        )
    return found


def flash(
    message: str, category: str = "message", *, request: HTTPConnection | None = None
) -> None:
    """Show ``message`` on the next page the user sees (Flask's ``flash``).

    Args:
        message: The text; escaped when shown unless it is a
            :class:`markupsafe.Markup`.
        category: Flask's category, ``"message"`` by default; ``"error"``,
            ``"info"``, ``"warning"``, ``"success"`` and ``"debug"`` map to
            Django's levels of the same name (others are INFO). It is the
            message's ``level_tag`` (``message.tags`` in a CSS class).
        request: The request; by default the one being handled.

    Raises:
        RuntimeError: Outside a request, or without the sessions battery.
        MessageFailure: If the app has no Messages plugin.
    """
    conn = _current_request(request, "flash")
    storage = _storage(conn)
    if storage is None:
        add_message(conn, INFO, message)  # raises MessageFailure
        return
    storage.add(_CATEGORY_LEVELS.get(category, INFO), message, "", category)


def get_flashed_messages(
    with_categories: bool = False,
    category_filter: Iterable[str] = (),
    *,
    request: HTTPConnection | None = None,
) -> list[Any]:
    """Return the messages flashed for this page, and clear them (Flask's).

    All pending messages are cleared, even those ``category_filter`` leaves
    out, as in Flask; calling it again in the same request returns them again.

    Args:
        with_categories: Return ``(category, message)`` pairs instead of texts.
        category_filter: Only these categories (all when empty).
        request: The request; by default the one being handled.

    Returns:
        The texts (``str``, or ``Markup`` for safe ones), or pairs.
    """
    conn = _current_request(request, "get_flashed_messages")
    wanted = set(category_filter)
    found = [message for message in get_messages(conn) if not wanted or message.level_tag in wanted]
    if with_categories:
        return [(message.level_tag, message.message) for message in found]
    return [message.message for message in found]
