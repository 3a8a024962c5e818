"""Templates: Jinja2's i18n extension and Babel filters wired to the request's locale.

The core's environment always loads ``jinja2.ext.i18n`` with untranslated
("null") callables, so ``{% trans %}`` and ``_()`` in battery templates
render English without this battery. Installing it swaps in callables that
translate into the active language, with Jinja2's "new style" semantics:
``{{ _("Hello %(name)s", name=user) }}`` formats and escapes, ``{% trans
count=n %}...{% pluralize %}...{% endtrans %}`` picks the catalogue's plural
form, and ``{% trans %}`` with a ``context`` uses ``pgettext``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from . import formatting, timezones, translation

if TYPE_CHECKING:
    from oakling.applications import App

    from .plugin import I18n

__all__ = ["install_templates"]


def _finish(context: jinja2.runtime.Context, text: str, variables: dict[str, Any]) -> str:
    if context.eval_ctx.autoescape:
        text = Markup(text)
    # NOTE: new-style gettext always %-formats (Jinja2's documented rule).
    return text % variables


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str, /, **variables: Any) -> str:
    return _finish(context, translation.gettext(message), variables)


@jinja2.pass_context
def _ngettext(
    context: jinja2.runtime.Context, singular: str, plural: str, num: int, /, **variables: Any
) -> str:
    variables.setdefault("num", num)
    return _finish(context, translation.ngettext(singular, plural, num), variables)


@jinja2.pass_context
def _pgettext(
    context: jinja2.runtime.Context, msgctxt: str, message: str, /, **variables: Any
) -> str:
    return _finish(context, translation.pgettext(msgctxt, message), variables)


@jinja2.pass_context
def _npgettext(
    context: jinja2.runtime.Context,
    msgctxt: str,
    singular: str,
    plural: str,
    num: int,
    /,
    **variables: Any,
) -> str:
    variables.setdefault("num", num)
    return _finish(context, translation.npgettext(msgctxt, singular, plural, num), variables)


def _per_render(func: Callable[..., str]) -> Callable[..., str]:
    """Wrap a formatter so Jinja2 never folds it at compile time.

    NOTE: Jinja2's optimizer evaluates filters on constants when it compiles
    a template (``{{ 1234.5 | numberformat }}``), which would freeze the
    first request's locale into the cached template; a context filter is
    always called at render time.
    """

    @jinja2.pass_context
    def render_time(_context: Any, *args: Any, **kwargs: Any) -> str:
        return func(*args, **kwargs)

    render_time.__name__ = func.__name__
    render_time.__doc__ = func.__doc__
    return render_time


def install_templates(app: App, i18n: I18n) -> None:
    """Add the translating callables, the Babel filters and the language names."""
    formatting.set_default_language(i18n.default)
    app.add_template_global("gettext", _gettext)
    app.add_template_global("ngettext", _ngettext)
    app.add_template_global("pgettext", _pgettext)
    app.add_template_global("npgettext", _npgettext)
    app.add_template_global("get_language", lambda: translation.get_language() or i18n.default)
    app.add_template_global("get_current_timezone_name", timezones.get_current_timezone_name)
    app.add_template_global("localtime", timezones.localtime)
    app.add_template_global(
        "LANGUAGES", [(tag, i18n.language_names[tag]) for tag in i18n.languages]
    )
    for name, func in formatting.FILTERS.items():
        app.template_filter(name)(_per_render(func))
    for name in formatting.__all__:
        app.add_template_global(name, getattr(formatting, name))
