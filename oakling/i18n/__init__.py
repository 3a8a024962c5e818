"""oakling.i18n: translations, locale negotiation and time zones (``pip install 'oakling[i18n]'``).

Django's names on Babel and the standard library's gettext catalogues::

    from oakling import App
    from oakling.i18n import I18n, gettext as _, gettext_lazy

    app = App(plugins=[I18n(languages=["en", "de", "fr"], default="en")])


    @app.get("/")
    def index() -> str:
        return _("Welcome")  # in the language the request negotiated

Templates get ``{% trans %}``, ``_()`` and Babel's filters
(``{{ when | datetimeformat }}``); ``oakling i18n extract|init|update|compile``
manages the app's ``translations/`` catalogues. See docs/i18n.md.

The translation functions (:mod:`oakling.i18n.translation`) and the time
zone helpers import only the standard library: marking a string costs
nothing and needs no extra; the plugin and the formatters need Babel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .timezones import (
    activate_timezone,
    deactivate_timezone,
    get_current_timezone,
    get_current_timezone_name,
    localtime,
    make_aware,
    now,
    override_timezone,
)
from .translation import (
    LazyString,
    activate,
    add_catalogue,
    deactivate,
    get_language,
    gettext,
    gettext_lazy,
    ngettext,
    ngettext_lazy,
    npgettext,
    npgettext_lazy,
    override,
    pgettext,
    pgettext_lazy,
)

if TYPE_CHECKING:
    from .plugin import I18n

__all__ = [
    "I18n",
    "LazyString",
    "activate",
    "activate_timezone",
    "add_catalogue",
    "deactivate",
    "deactivate_timezone",
    "get_current_timezone",
    "get_current_timezone_name",
    "get_language",
    "gettext",
    "gettext_lazy",
    "localtime",
    "make_aware",
    "ngettext",
    "ngettext_lazy",
    "now",
    "npgettext",
    "npgettext_lazy",
    "override",
    "override_timezone",
    "pgettext",
    "pgettext_lazy",
]

_ = gettext


def __getattr__(name: str) -> Any:
    # PERF: the plugin (and Babel) load only when an app asks for them.
    if name == "I18n":
        from .plugin import I18n

        return I18n
    raise AttributeError(f"module 'oakling.i18n' has no attribute {name!r}")
