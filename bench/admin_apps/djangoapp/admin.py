"""The same ``ModelAdmin`` options as bench/admin_apps/oakling_app.py."""

from django.contrib import admin

from .models import Item, Owner


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner__name", "done", "created")
    search_fields = ("title",)
    list_filter = ("done", "owner")
    list_per_page = 100
    # NOTE: Django joins a foreign key shown as "owner", not as "owner__name":
    # without this it runs one query per row (105 per page). oakling joins it
    # by itself; Django is given the option its docs name for this.
    list_select_related = ("owner",)


admin.site.register(Owner)
