"""Registering models: defaults, the decorator, mistakes found at startup."""

from __future__ import annotations

import pytest

from oakling.admin import Admin, AlreadyRegistered, ModelAdmin
from oakling.exceptions import ImproperlyConfigured

from .shop import Author, Book


def test_register_with_defaults_and_with_the_decorator() -> None:
    site = Admin()
    site.register(Author)
    assert type(site.registry[Author]) is ModelAdmin

    @site.register(Book)
    class BookAdmin(ModelAdmin):
        list_display = ("title", "author__name")

    assert type(site.registry[Book]) is BookAdmin
    assert site.model_admin("shop", "book") is site.registry[Book]
    assert site.model_admin("shop", "nope") is None
    with pytest.raises(AlreadyRegistered):
        site.register(Book, BookAdmin)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("list_display", ("nope",), "not a column"),
        ("list_display", ("author__nope",), "no column"),
        ("list_filter", ("title",), "not a boolean"),
        ("list_filter", ("nope",), "no column"),
    ],
)
def test_a_bad_option_fails_at_registration(
    option: str, value: tuple[str, ...], message: str
) -> None:
    admin_class = type("Bad", (ModelAdmin,), {option: value})
    with pytest.raises(TypeError, match=message):
        Admin().register(Book, admin_class)


def test_a_bad_prefix_is_refused() -> None:
    for prefix in ("admin", "/admin/"):
        with pytest.raises(ImproperlyConfigured):
            Admin(prefix=prefix)
