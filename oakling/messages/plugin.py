"""The Messages plugin: settings, template globals and the request context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jinja2

from oakling.exceptions import ImproperlyConfigured
from oakling.requests import HTTPConnection

from .api import get_flashed_messages, get_messages
from .constants import DEFAULT_LEVELS, DEFAULT_TAGS, INFO

if TYPE_CHECKING:
    from oakling.applications import App

__all__ = ["Messages"]


class Messages:
    """One-time messages for an app: the ``oakling.messages`` plugin.

    Installed after the sessions battery, ``App(plugins=[Sessions(),
    Messages()])``, it is ``app.extensions["messages"]``. Messages live in
    the session (any backend), so they survive the redirect of a
    post/redirect/get and are shown once. Templates get
    ``get_flashed_messages()``, ``get_messages()``, ``messages`` and
    ``DEFAULT_MESSAGE_LEVELS``.

    Args:
        level: The minimum level recorded; default the ``MESSAGE_LEVEL``
            setting, else INFO (20), as in Django.
        tags: Level -> tag overrides merged over the defaults (Django's
            ``MESSAGE_TAGS``; e.g. ``{messages.ERROR: "danger"}``).

    Raises:
        ImproperlyConfigured: From ``install`` when the sessions battery is
            not installed before it.
    """

    name = "messages"

    def __init__(self, *, level: int | None = None, tags: dict[int, str] | None = None) -> None:
        self._level_arg = level
        self.level = INFO if level is None else level
        self.tags: dict[int, str] = {**DEFAULT_TAGS, **(tags or {})}

    def install(self, app: App) -> None:
        """Register the extension, the request context and the template names."""
        if "sessions" not in app.extensions:
            raise ImproperlyConfigured(
                "Messages are kept in the session: install the sessions battery first, "
                "App(plugins=[Sessions(), Messages()])"
            )
        if self._level_arg is None:
            self.level = int(app.settings.get("MESSAGE_LEVEL", INFO, cast=int))
        app.extensions[self.name] = self
        # PERF: flash() takes no request: it finds the one being handled on the
        # call stack when called (oakling.globals.request_on_stack), so an app
        # pays nothing per request for it.
        app.add_template_global("get_flashed_messages", _template_flashed)
        app.add_template_global("get_messages", _template_messages)
        app.add_template_global("DEFAULT_MESSAGE_LEVELS", DEFAULT_LEVELS)
        app.context_processor(_messages_context)

    def __repr__(self) -> str:
        return f"<Messages level={self.level}>"


def _messages_context(request: HTTPConnection) -> dict[str, Any]:
    # PERF: the storage is lazy: nothing is read unless the page iterates it.
    return {"messages": get_messages(request)}


def _request_of(context: jinja2.runtime.Context) -> HTTPConnection | None:
    request = context.get("request")
    return request if isinstance(request, HTTPConnection) else None


@jinja2.pass_context
def _template_flashed(
    context: jinja2.runtime.Context, with_categories: bool = False, category_filter: Any = ()
) -> list[Any]:
    return get_flashed_messages(with_categories, category_filter, request=_request_of(context))


@jinja2.pass_context
def _template_messages(context: jinja2.runtime.Context) -> Any:
    request = _request_of(context)
    if request is None:
        from .api import _current_request

        request = _current_request(None, "get_messages")
    return get_messages(request)
