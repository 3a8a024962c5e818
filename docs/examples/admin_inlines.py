# docs/examples/admin_inlines.py
from datetime import date

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App
from oakling.admin import Admin, ModelAdmin, SimpleListFilter, TabularInline
from oakling.auth import Auth
from oakling.csrf import CSRF
from oakling.db import Database, Model
from oakling.sessions import Sessions


class Shelf(Model):
    __tablename__ = "docs_shelf"
    __permission_label__ = "library"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    room: Mapped[str] = mapped_column(String(50), default="")

    def __str__(self) -> str:
        return self.name


class Volume(Model):
    __tablename__ = "docs_volume"
    __permission_label__ = "library"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    pages: Mapped[int] = mapped_column(default=0)
    acquired: Mapped[date | None] = mapped_column(default=None)
    shelf_id: Mapped[int] = mapped_column(ForeignKey("docs_shelf.id", ondelete="CASCADE"))

    def __str__(self) -> str:
        return self.title


class ThickFilter(SimpleListFilter):  # a custom filter: its values are the only ones taken
    title = "thickness"
    parameter_name = "thick"

    def lookups(self, request, model_admin):
        return [("yes", "500 pages or more"), ("no", "Under 500 pages")]

    def queryset(self, request, statement):
        if self.value() == "yes":
            return statement.where(Volume.pages >= 500)
        if self.value() == "no":
            return statement.where(Volume.pages < 500)
        return statement


class VolumeInline(TabularInline):  # the shelf's volumes, edited on the shelf's page
    model = Volume
    fields = ("title", "pages", "acquired")
    extra = 2  # blank rows: adding works without JavaScript


admin = Admin()


@admin.register(Shelf)
class ShelfAdmin(ModelAdmin):
    search_fields = ("name",)
    inlines = (VolumeInline,)
    fieldsets = (
        (None, {"fields": ("name",)}),
        ("Where", {"fields": ("room",), "classes": ("collapse",)}),  # a closed <details>
    )


@admin.register(Volume)
class VolumeAdmin(ModelAdmin):
    list_display = ("title", "pages", "acquired")
    list_filter = ("acquired", ThickFilter)  # a date range, and the custom filter
    autocomplete_fields = ("shelf_id",)  # an id input with suggestions, not a <select>


app = App(plugins=[Database(), Sessions(), Auth(), CSRF(), admin])
