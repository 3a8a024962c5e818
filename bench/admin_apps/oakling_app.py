"""oakling's admin over the bench tables.

Serve with ``uvicorn --factory bench.admin_apps.oakling_app:create_app``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from oakling import App
from oakling.admin import Admin, ModelAdmin
from oakling.auth import Auth
from oakling.config import Settings
from oakling.csrf import CSRF
from oakling.db import Database, Model
from oakling.sessions import Sessions

from . import DATABASE_URL, SECRET_KEY, QueryCounter


class Owner(Model):
    __tablename__ = "bench_owner"
    __permission_label__ = "bench"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)

    def __str__(self) -> str:
        return self.name


class Item(Model):
    __tablename__ = "bench_item"
    __permission_label__ = "bench"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    done: Mapped[bool] = mapped_column(default=False)
    created: Mapped[datetime]
    owner_id: Mapped[int] = mapped_column(ForeignKey("bench_owner.id"), index=True)
    owner: Mapped[Owner] = relationship()

    def __str__(self) -> str:
        return self.title


class ItemAdmin(ModelAdmin):
    # The same options as bench/admin_apps/djangoapp/admin.py.
    list_display = ("id", "title", "owner__name", "done", "created")
    search_fields = ("title",)
    list_filter = ("done", "owner")
    list_per_page = 100


def create_app() -> Any:
    """Return the oakling app, wrapped in the query counter."""
    site = Admin()
    site.register(Item, ItemAdmin)
    site.register(Owner)
    database = Database(DATABASE_URL)
    app = App(
        settings=Settings(SECRET_KEY=SECRET_KEY),
        plugins=[database, Sessions(), Auth(), CSRF(), site],
    )
    counter = QueryCounter(app)
    event.listen(database.async_engine().sync_engine, "before_cursor_execute", counter.hit)
    return counter
