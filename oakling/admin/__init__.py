"""oakling.admin: Django's admin for SQLAlchemy models.

Install with ``pip install 'oakling[admin]'`` and add the plugin after the
database, sessions, auth and CSRF batteries::

    from oakling import App
    from oakling.admin import Admin, ModelAdmin, action
    from oakling.auth import Auth
    from oakling.csrf import CSRF
    from oakling.db import Database
    from oakling.sessions import Sessions

    admin = Admin()

    @admin.register(Task)
    class TaskAdmin(ModelAdmin):
        list_display = ("title", "owner__username", "done")
        search_fields = ("title", "^owner__username")
        list_filter = ("done", "owner")

    app = App(plugins=[Database(), Sessions(), Auth(), CSRF(), admin])

The site is served at ``/admin`` to active staff users; see ``docs/admin.md``.
"""

from __future__ import annotations

from .accounts import APITokenAdmin, GroupAdmin, UserAdmin
from .changelist import BadQuery
from .filters import SimpleListFilter
from .inlines import InlineModelAdmin, StackedInline, TabularInline
from .models import ADDITION, CHANGE, DELETION, LogEntry
from .options import FormInvalid, ModelAdmin, action
from .sites import Admin, AlreadyRegistered

__all__ = [
    "ADDITION",
    "CHANGE",
    "DELETION",
    "APITokenAdmin",
    "Admin",
    "AlreadyRegistered",
    "BadQuery",
    "FormInvalid",
    "GroupAdmin",
    "InlineModelAdmin",
    "LogEntry",
    "ModelAdmin",
    "SimpleListFilter",
    "StackedInline",
    "TabularInline",
    "UserAdmin",
    "action",
]
