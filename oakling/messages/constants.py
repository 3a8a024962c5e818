"""Message levels and their tags: Django's ``django.contrib.messages.constants``."""

from __future__ import annotations

__all__ = ["DEBUG", "DEFAULT_LEVELS", "DEFAULT_TAGS", "ERROR", "INFO", "SUCCESS", "WARNING"]

DEBUG = 10
INFO = 20
SUCCESS = 25
WARNING = 30
ERROR = 40

#: Level -> tag, as Django's ``DEFAULT_TAGS`` (override with ``MESSAGE_TAGS``).
DEFAULT_TAGS: dict[int, str] = {
    DEBUG: "debug",
    INFO: "info",
    SUCCESS: "success",
    WARNING: "warning",
    ERROR: "error",
}

#: Name -> level, as Django's ``DEFAULT_MESSAGE_LEVELS`` (in every template context).
DEFAULT_LEVELS: dict[str, int] = {
    "DEBUG": DEBUG,
    "INFO": INFO,
    "SUCCESS": SUCCESS,
    "WARNING": WARNING,
    "ERROR": ERROR,
}
