"""The demo's admin site: tasks with their owners, and the auth battery's models.

``/admin`` (after ``oakling createsuperuser``): tasks searched by title or by
the owner's username, filtered by completion and owner, sorted by any column,
and two actions besides "delete selected".
"""

from __future__ import annotations

from typing import Any

from examples.tasks.models import Task
from oakling.admin import Admin, ModelAdmin, action

__all__ = ["TaskAdmin", "build_admin"]


class TaskAdmin(ModelAdmin):
    """Tasks in the admin."""

    list_display = ("title", "owner__username", "completed")
    search_fields = ("title", "^owner__username")
    list_filter = ("completed", "owner")
    ordering = ("-id",)
    list_per_page = 50
    actions = ("mark_completed", "mark_not_completed")

    @action(description="Mark selected tasks as completed")
    def mark_completed(self, request: Any, session: Any, objects: list[Task]) -> None:
        for task in objects:
            task.completed = True

    @action(description="Mark selected tasks as not completed")
    def mark_not_completed(self, request: Any, session: Any, objects: list[Task]) -> None:
        for task in objects:
            task.completed = False


def build_admin() -> Admin:
    """Return the demo's admin site (one per app: a site keeps its registry)."""
    site = Admin(site_title="Tasks administration")
    site.register(Task, TaskAdmin)
    return site
