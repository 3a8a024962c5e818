"""Translation in code: ``gettext``, ``ngettext``, ``pgettext``, lazy variants.

The names and behaviour are Django's ``django.utils.translation``: the
functions translate into the language *active in the current context*, which
the :class:`~oakling.i18n.I18n` plugin's middleware sets per request (a
:mod:`contextvars` variable, so async code, sync handlers in the thread pool
and everything they call see it). With no active language (an app without the
battery, a script, a test) every function returns the English source text, so
batteries can mark their strings at no cost to apps that never translate::

    from oakling.i18n.translation import gettext as _, gettext_lazy

    TITLE = gettext_lazy("Tasks")  # resolved each time it is rendered


    def greet(count: int) -> str:
        return ngettext("%(num)d task", "%(num)d tasks", count) % {"num": count}

This module imports only the standard library (catalogues are loaded with
Babel's ``Translations`` when a language is first activated), so marking a
string never needs ``pip install 'oakling[i18n]'``.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from pathlib import Path
from typing import Any, Protocol

from oakling.globals import _context as _request_context

__all__ = [
    "LazyString",
    "Translator",
    "activate",
    "add_catalogue",
    "deactivate",
    "get_language",
    "get_translations",
    "gettext",
    "gettext_lazy",
    "gettext_noop",
    "ngettext",
    "ngettext_lazy",
    "npgettext",
    "npgettext_lazy",
    "override",
    "pgettext",
    "pgettext_lazy",
    "reset_catalogues",
]

#: The gettext domain of oakling's own catalogues (core pages and batteries).
DOMAIN = "oakling"

_PACKAGE = Path(__file__).resolve().parent.parent


class Translator(Protocol):
    """What an active translation provides: the stdlib ``GNUTranslations`` methods."""

    def gettext(self, message: str) -> str:
        """Return the translation of ``message``."""

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Return the plural form of ``singular``/``plural`` for ``n``."""

    def pgettext(self, context: str, message: str) -> str:
        """Return the translation of ``message`` in ``context``."""

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        """Return the plural form in ``context``."""


class _Active:
    """The language of one context: a tag and, on first use, its catalogue.

    ``resolve`` (set by the middleware) picks the language when something
    first asks for it, so a request that translates nothing negotiates
    nothing, and selectors that read ``request.user`` run after the auth
    middleware has set it.
    """

    __slots__ = (
        "__weakref__",
        "_messages",
        "_resolve",
        "_scope",
        "_selector",
        "_tag",
        "_translations",
        "_zone",
        "prefixed",
    )

    def __init__(
        self,
        tag: str | None,
        resolve: Callable[[], str] | None = None,
        selector: Any = None,
        scope: Any = None,
        prefixed: bool = False,
    ) -> None:
        self._tag = tag
        # NOTE: chosen by the URL prefix: the response varies on no header.
        self.prefixed = prefixed
        self._resolve = resolve
        # PERF: the middleware passes the plugin and the scope instead of two
        # partials: the zone is resolved from the same object, on demand.
        self._selector = selector
        self._scope = scope
        self._translations: Translator | None = None
        # PERF: the loaded catalogue's own dict, read directly by gettext.
        self._messages: dict[Any, str] | None = None
        self._zone: Any = None

    @property
    def tag(self) -> str:
        tag = self._tag
        if tag is None:
            tag = self._tag = self._select()
        return tag

    def _select(self) -> str:
        if self._selector is not None:
            return self._selector.select_language(self._scope)  # type: ignore[no-any-return]
        assert self._resolve is not None
        return self._resolve()

    def zone(self) -> Any:
        """Return the request's zone (the plugin's chain), or None outside a request."""
        zone = self._zone
        if zone is None and self._selector is not None and self._scope is not None:
            zone = self._zone = self._selector.select_timezone(self._scope)
        return zone

    @property
    def translations(self) -> Translator:
        return self._translations or self.load()

    def load(self) -> Translator:
        """Resolve the language if needed and return (and keep) its catalogue."""
        tag = self._tag
        if tag is None:
            tag = self._tag = self._select()
        translations = self._translations = _loaded.get(tag) or get_translations(tag)
        self._messages = getattr(translations, "_catalog", None)
        return translations


#: Not activated here: the request's language (if any) applies.
_UNSET: Any = object()
#: An explicit activation (``activate``, ``override``, the URL prefix);
#: None means "untranslated". Unset, the request being handled decides.
_active: ContextVar[_Active | None] = ContextVar("oakling.i18n.language", default=_UNSET)
#: The scope key of a request's lazily made language (see _current).
_SCOPE_KEY = "oakling.i18n.active"


def _current() -> _Active | None:
    """Return the active language object: explicit, else the request's, else None.

    PERF: a request costs no activation of its own: the app's request
    context (``install_request_context``, one ``ContextVar`` the core sets)
    leads to the scope, where the request's object is made on first use.
    """
    active = _active.get()
    if active is not _UNSET:
        return active
    ctx = _request_context.get(None)
    if ctx is None:
        return None
    scope = ctx[0] if type(ctx) is tuple else ctx.scope  # type: ignore[union-attr]
    found: _Active | None = scope.get(_SCOPE_KEY)
    return found if found is not None else _of_scope(scope)


def _request_scope() -> Any:
    """Return the scope of the request being handled here, or None."""
    ctx = _request_context.get(None)
    if ctx is None:
        return None
    return ctx[0] if type(ctx) is tuple else ctx.scope  # type: ignore[union-attr]


def _of_scope(scope: Any) -> _Active | None:
    """Return the language object of a request's scope, negotiating on first use.

    PERF: the object is the plugin's shared one for the negotiated language
    (its catalogue already loaded), so a request makes none of its own.
    """
    active: _Active | None = scope.get(_SCOPE_KEY)
    if active is None:
        app = scope.get("app")
        i18n = app.extensions.get("i18n") if app is not None else None
        if i18n is None:
            return None
        active = scope[_SCOPE_KEY] = i18n._language_objects[i18n.select_language(scope)]
    return active


# -- catalogues ------------------------------------------------------------------

# NOTE: (domain, folder) pairs searched in order: an app's own catalogues are
# added in front, so an app can reword a battery's message.
_catalogues: list[tuple[str, str]] = []
_loaded: dict[str, Translator] = {}
#: The plugins' shared language objects, whose catalogues are dropped with _loaded's.
_shared: weakref.WeakSet[_Active] = weakref.WeakSet()


def _drop_loaded() -> None:
    _loaded.clear()
    for active in list(_shared):
        active._translations = None
        active._messages = None


_lock = threading.Lock()


def _builtin_catalogues() -> list[tuple[str, str]]:
    folders = sorted(str(path) for path in _PACKAGE.glob("*/locale") if path.is_dir())
    # NOTE: the i18n battery's folder holds the core's pages, searched last.
    return [(DOMAIN, folder) for folder in folders]


def add_catalogue(directory: str | os.PathLike[str], domain: str = "messages") -> None:
    """Search ``directory`` for ``<locale>/LC_MESSAGES/<domain>.mo`` first.

    The folder layout is gettext's (what ``oakling i18n init/compile`` make,
    Flask-Babel's ``translations/``); catalogues added later win over earlier
    ones, and all of them win over oakling's own. Loaded catalogues are
    dropped so the next activation sees the new folder.
    """
    entry = (domain, os.fspath(directory))
    with _lock:
        if entry in _catalogues:
            _catalogues.remove(entry)
        _catalogues.insert(0, entry)
        _drop_loaded()


def reset_catalogues() -> None:
    """Forget added catalogue folders and every loaded catalogue (tests use it)."""
    with _lock:
        _catalogues.clear()
        _drop_loaded()


def _locale_names(tag: str) -> list[str]:
    # NOTE: "pt-BR" is looked up as pt_BR then pt, gettext's folder names.
    parts = tag.replace("-", "_").split("_")
    names = []
    if len(parts) > 1:
        names.append(parts[0].lower() + "_" + "_".join(parts[1:]).upper())
    names.append(parts[0].lower())
    return names


def get_translations(tag: str) -> Translator:
    """Return the merged catalogue for language ``tag`` (``"de"``, ``"pt-BR"``).

    The app's folders (:func:`add_catalogue`) are merged over oakling's own
    catalogues; a message missing everywhere is returned untranslated. Built
    once per tag and kept.

    Raises:
        ImportError: If Babel is not installed (``pip install 'oakling[i18n]'``).
    """
    translations = _loaded.get(tag)
    if translations is not None:
        return translations
    try:
        from babel.support import NullTranslations, Translations
    except ImportError as ex:  # pragma: no cover - the extra names the fix
        raise ImportError(
            "loading message catalogues needs Babel: pip install 'oakling[i18n]'"
        ) from ex
    merged: Any = None
    names = _locale_names(tag)
    with _lock:
        for domain, folder in [*_catalogues, *_builtin_catalogues()]:
            found = Translations.load(folder, names, domain)
            if not isinstance(found, Translations):
                continue
            if merged is None:
                merged = found
            else:
                # NOTE: merge() lets the later catalogue win; earlier folders
                # must win, so the earlier one is merged over the later.
                found.merge(merged)
                merged = found
        result: Translator = merged if merged is not None else NullTranslations()  # type: ignore[assignment]  # NOTE: Babel's NullTranslations has the gettext methods, untyped.
        _loaded[tag] = result
    return result


# -- activation ------------------------------------------------------------------


def activate(language: str) -> Token[_Active | None]:
    """Make ``language`` active in the current context (Django's ``activate``).

    Returns:
        The token :func:`deactivate` takes to restore the previous language.
    """
    return _active.set(_Active(language))


def deactivate(token: Token[_Active | None] | None = None) -> None:
    """Restore the language before ``token``'s activation, or the default one.

    Without a token, as Django's ``deactivate``: no activation is left here,
    so a request's own language applies again (English outside requests).
    """
    if token is None:
        _active.set(_UNSET)
    else:
        _active.reset(token)


@contextmanager
def override(language: str | None) -> Iterator[None]:
    """Run the block with ``language`` active (None: untranslated); Django's name."""
    current = _current()
    # NOTE: the request's zone stays active inside the block.
    replacement = (
        None
        if language is None
        else _Active(
            language,
            None,
            current and current._selector,
            (current and current._scope) or _request_scope(),
        )
    )
    token = _active.set(replacement)
    try:
        yield
    finally:
        _active.reset(token)


def get_language() -> str | None:
    """Return the active language tag (``"de"``), or None when none is active."""
    active = _current()
    return None if active is None else active.tag


# -- translation -----------------------------------------------------------------


def gettext(message: str) -> str:
    """Translate ``message`` into the active language (``_`` by convention)."""
    active = _current()
    if active is None:
        return message
    # PERF: a translated message is one dict lookup in the loaded catalogue
    # (GNUTranslations' own first lookup); anything else takes its gettext.
    messages = active._messages
    if messages is not None:
        found = messages.get(message)
        if found is not None:
            return found
    return (active._translations or active.load()).gettext(message)


def ngettext(singular: str, plural: str, number: int) -> str:
    """Return the plural form for ``number`` (the catalogue's ``Plural-Forms``).

    Polish and Russian have three forms, Arabic six: the catalogue decides
    which one ``number`` takes; without a translation English's rule applies
    (``singular`` for 1, else ``plural``).
    """
    active = _current()
    if active is None:
        return singular if number == 1 else plural
    return active.translations.ngettext(singular, plural, number)


def pgettext(context: str, message: str) -> str:
    """Translate ``message`` told apart by ``context`` (``msgctxt``)."""
    active = _current()
    if active is None:
        return message
    return active.translations.pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, number: int) -> str:
    """Return the plural form for ``number`` of a message with a context."""
    active = _current()
    if active is None:
        return singular if number == 1 else plural
    return active.translations.npgettext(context, singular, plural, number)


def gettext_noop(message: str) -> str:
    """Mark ``message`` for extraction and return it as is (Django's ``gettext_noop``).

    For constants that must stay English (a log line, a public constant tests
    compare with) and are translated where shown: ``gettext(CONSTANT)``.
    """
    return message


class LazyString:
    """A message translated each time it is used as a string.

    Made by the ``*_lazy`` functions for strings defined at import time (form
    labels, validator messages, model verbose names), when no request is
    active yet; Django's ``gettext_lazy`` proxy. It formats with ``%`` and
    ``format``, concatenates, compares and hashes as its current text, and
    renders in Jinja2 (``__html__`` escapes it). Without an active language it
    is the English source text.
    """

    __slots__ = ("_args", "_func")

    def __init__(self, func: Callable[..., str], *args: Any) -> None:
        self._func = func
        self._args = args

    def __str__(self) -> str:
        return self._func(*self._args)

    def __repr__(self) -> str:
        return f"l{str(self)!r}"

    def __html__(self) -> str:
        from markupsafe import escape

        return str(escape(str(self)))

    def __len__(self) -> int:
        return len(str(self))

    def __contains__(self, item: str) -> bool:
        return item in str(self)

    def __iter__(self) -> Iterator[str]:
        return iter(str(self))

    def __getitem__(self, key: Any) -> str:
        return str(self)[key]

    def __add__(self, other: Any) -> str:
        return str(self) + str(other)

    def __radd__(self, other: Any) -> str:
        return str(other) + str(self)

    def __mod__(self, other: Any) -> str:
        return str(self) % other  # type: ignore[no-any-return]  # NOTE: str % Any is typed Any.

    def __rmod__(self, other: Any) -> str:
        return str(other) % str(self)

    def __mul__(self, count: int) -> str:
        return str(self) * count

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        return str(self) == (str(other) if isinstance(other, LazyString) else other)

    def __lt__(self, other: Any) -> bool:
        return str(self) < str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __bool__(self) -> bool:
        return bool(str(self))

    def __getattr__(self, name: str) -> Any:
        # NOTE: str methods (upper, format, split...) on the current text.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(str(self), name)

    def __reduce__(self) -> tuple[Any, ...]:
        # NOTE: a pickled lazy string is its text in the language of the moment.
        return (str, (str(self),))


def gettext_lazy(message: str) -> LazyString:
    """Return ``message`` translated when used (Django's ``gettext_lazy``)."""
    return LazyString(gettext, message)


def ngettext_lazy(singular: str, plural: str, number: int) -> LazyString:
    """Return the plural form for ``number``, chosen when used."""
    return LazyString(ngettext, singular, plural, number)


def pgettext_lazy(context: str, message: str) -> LazyString:
    """Return ``message`` in ``context``, translated when used."""
    return LazyString(pgettext, context, message)


def npgettext_lazy(context: str, singular: str, plural: str, number: int) -> LazyString:
    """Return the plural form in ``context`` for ``number``, chosen when used."""
    return LazyString(npgettext, context, singular, plural, number)
