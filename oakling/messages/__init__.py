"""oakling.messages: one-time messages, Flask's ``flash`` and Django's levels.

Install after the sessions battery (``pip install 'oakling[sessions]'``)::

    from oakling import App, RedirectResponse
    from oakling.messages import Messages, flash
    from oakling.sessions import Sessions

    app = App(plugins=[Sessions(), Messages()])


    @app.post("/tasks")
    def add_task() -> RedirectResponse:
        ...
        flash("Task added.", "success")
        return RedirectResponse("/", 303)

and show them in the base template::

    {% for category, message in get_flashed_messages(with_categories=true) %}
      <p class="flash {{ category }}" role="status">{{ message }}</p>
    {% endfor %}

Django's names work too: ``messages.success(request, "Saved.")`` and
``{% for message in messages %}{{ message.tags }}{% endfor %}``.
"""

from __future__ import annotations

from .api import (
    MessageFailure,
    add_message,
    debug,
    error,
    flash,
    get_flashed_messages,
    get_level,
    get_messages,
    info,
    set_level,
    success,
    warning,
)
from .constants import DEBUG, DEFAULT_LEVELS, DEFAULT_TAGS, ERROR, INFO, SUCCESS, WARNING
from .plugin import Messages
from .storage import SESSION_KEY, Message, MessageStorage

__all__ = [
    "DEBUG",
    "DEFAULT_LEVELS",
    "DEFAULT_TAGS",
    "ERROR",
    "INFO",
    "SESSION_KEY",
    "SUCCESS",
    "WARNING",
    "Message",
    "MessageFailure",
    "MessageStorage",
    "Messages",
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
