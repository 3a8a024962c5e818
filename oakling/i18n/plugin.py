"""The I18n plugin: settings, negotiation chain, middleware, views and templates."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from oakling.exceptions import ImproperlyConfigured
from oakling.requests import HTTPConnection
from oakling.types import Scope

from . import timezones, translation
from .middleware import _add_vary
from .negotiation import LanguageMatcher
from .translation import _SCOPE_KEY, _UNSET, _active

if TYPE_CHECKING:
    from oakling.applications import App

__all__ = ["CHAIN", "I18n"]

#: The default negotiation chain, in order (Django's ``LocaleMiddleware`` order).
CHAIN: tuple[str, ...] = ("url", "user", "cookie", "header")
_STEPS = frozenset(CHAIN)

LocaleSelector = Callable[[HTTPConnection], "str | None"]
TimezoneSelector = Callable[[HTTPConnection], "str | dt.tzinfo | None"]


def _settings_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value)


class I18n:
    """Translations, locale negotiation and time zones: the ``oakling.i18n`` plugin.

    ``App(plugins=[I18n()])`` with ``OAKLING_LANGUAGES=en,de,fr`` (Django's
    ``LANGUAGES``), ``OAKLING_LANGUAGE_CODE=en`` (the default language) and
    ``OAKLING_TIME_ZONE=Europe/Berlin`` (the default zone). Each request's
    language comes from the first step of ``chain`` that names a supported
    one, else ``LANGUAGE_CODE``:

    - ``"url"``: a path prefix (``/de/tasks``), only with ``url_prefix=True``;
    - ``"user"``: ``locale_selector(request)``, the user's saved preference
      (Flask-Babel's ``locale_selector``);
    - ``"cookie"``: the ``LANGUAGE_COOKIE_NAME`` cookie that :func:`set_language` sets;
    - ``"header"``: ``Accept-Language`` with q-values, wildcards and
      base-language fallback (``de-AT`` → ``de``).

    The zone comes from ``timezone_selector(request)``, then the
    ``TIMEZONE_COOKIE_NAME`` cookie, then ``TIME_ZONE``. Install it before
    the sessions and auth batteries, ``App(plugins=[I18n(), Sessions(),
    Auth()])``... its middleware is then the innermost of them; the choice is
    made when first needed, so a selector reading ``request.user`` works in
    any order.

    Args:
        languages: Supported language tags (``["en", "de"]``), or Django's
            ``(tag, name)`` pairs; default the ``LANGUAGES`` setting, else
            just ``LANGUAGE_CODE``.
        default: The default language; default ``LANGUAGE_CODE``, else ``"en"``.
        time_zone: The default zone name; default ``TIME_ZONE``, else ``"UTC"``.
        chain: The negotiation steps, a subset of :data:`CHAIN` in any order.
        url_prefix: Serve ``/<language>/...`` paths (Django's ``i18n_patterns``).
        locale_selector: ``func(request) -> tag | None``.
        timezone_selector: ``func(request) -> zone name | tzinfo | None``.
        translations_dir: The app's catalogue folder(s) (Flask-Babel's
            ``translations``), domain ``messages``; default the
            ``TRANSLATIONS_DIR`` setting, else ``translations``.
        views_prefix: Where ``set_language`` and ``set_timezone`` are served.

    Raises:
        ImproperlyConfigured: From ``install`` for a tag Babel cannot parse,
            a default outside the languages, an unknown step or zone.
    """

    name = "i18n"

    def __init__(
        self,
        *,
        languages: Sequence[str | tuple[str, str]] | None = None,
        default: str | None = None,
        time_zone: str | None = None,
        chain: Sequence[str] = CHAIN,
        url_prefix: bool = False,
        locale_selector: LocaleSelector | None = None,
        timezone_selector: TimezoneSelector | None = None,
        translations_dir: str | os.PathLike[str] | Sequence[str] | None = None,
        views_prefix: str = "/i18n",
    ) -> None:
        unknown = [step for step in chain if step not in _STEPS]
        if unknown:
            raise ImproperlyConfigured(
                f"unknown i18n chain steps {unknown}; the steps are {', '.join(CHAIN)}"
            )
        self._languages_arg = languages
        self._default_arg = default
        self._time_zone_arg = time_zone
        self.chain = tuple(chain)
        self.url_prefix = url_prefix
        self._locale_selector = locale_selector
        self._steps = self._chain_steps()
        self.timezone_selector = timezone_selector
        self._translations_arg = translations_dir
        self.views_prefix = views_prefix.rstrip("/")
        self.languages: tuple[str, ...] = ()
        self.language_names: dict[str, str] = {}
        self.default = "en"
        self.time_zone: dt.tzinfo = dt.UTC
        self.cookie_name = "oakling_language"
        self._cookie_bytes = b"oakling_language"
        self.timezone_cookie_name = "oakling_timezone"
        self.vary_header = ""
        self.matcher = LanguageMatcher((), "en")
        self._header_cache: dict[bytes, str] = {}

    # -- installation ---------------------------------------------------------------

    def install(self, app: App) -> None:
        """Read the settings, add the middleware, views, template names and filters."""
        settings = app.settings
        default = self._default_arg or settings.get("LANGUAGE_CODE") or "en"
        raw = self._languages_arg
        if raw is None:
            raw = _settings_list(settings.get("LANGUAGES") or [default])
        tags: list[str] = []
        names: dict[str, str] = {}
        for item in raw:
            tag, label = (item, None) if isinstance(item, str) else (item[0], item[1])
            tags.append(tag)
            names[tag] = label or _display_name(tag)
        if default not in tags:
            raise ImproperlyConfigured(
                f"LANGUAGE_CODE {default!r} is not one of LANGUAGES {tags}: "
                "the default must be a supported language"
            )
        zone_name = self._time_zone_arg or settings.get("TIME_ZONE") or "UTC"
        zone = timezones.get_timezone(str(zone_name))
        if zone is None:
            raise ImproperlyConfigured(
                f"TIME_ZONE {zone_name!r} is not a zoneinfo name (e.g. 'Europe/Berlin')"
            )
        self.languages = tuple(tags)
        self.language_names = names
        self.default = default
        self.time_zone = zone
        self.cookie_name = str(settings.get("LANGUAGE_COOKIE_NAME") or "oakling_language")
        self._cookie_bytes = self.cookie_name.encode("latin-1")
        self.timezone_cookie_name = str(settings.get("TIMEZONE_COOKIE_NAME") or "oakling_timezone")
        self.matcher = LanguageMatcher(tags, default)
        # PERF: one shared object per language; requests point at them.
        self._language_objects = {tag: translation._Active(tag, None, self) for tag in tags}
        translation._shared.update(self._language_objects.values())
        self._header_cache = {}
        vary = []
        if "header" in self.chain:
            vary.append("Accept-Language")
        if "cookie" in self.chain:
            vary.append("Cookie")
        self.vary_header = ", ".join(vary)
        # PERF: header bytes built once.
        self._vary = self.vary_header.encode("latin-1")
        self._content_language = {
            tag: (b"content-language", tag.encode("latin-1")) for tag in self.languages
        }
        self._language_fields = {
            tag: (self._content_language[tag], (b"vary", self._vary)) for tag in self.languages
        }
        timezones.set_default_timezone(zone)
        folders = self._translations_arg
        if folders is None:
            folders = settings.get("TRANSLATIONS_DIR") or "translations"
        for folder in [folders] if isinstance(folders, str | os.PathLike) else folders:
            if os.path.isdir(folder):
                translation.add_catalogue(folder, "messages")
        app.extensions[self.name] = self

        from oakling.globals import install_request_context

        from .middleware import LocaleMiddleware
        from .templating import install_templates
        from .views import build_router

        # PERF: no middleware unless URL prefixes are on: the language is made
        # on first use from the core's request context (a ContextVar the app
        # sets), and the headers come from a start hook, not a send wrapper.
        install_request_context(app)
        app.extensions["oakling.translator"] = (translation.gettext, translation.get_language)
        app.add_response_start_hook(self.add_response_headers)
        if self.url_prefix:
            app.add_middleware(LocaleMiddleware, i18n=self)
        app.include(build_router(self), prefix=self.views_prefix)
        install_templates(app, self)

    @property
    def locale_selector(self) -> LocaleSelector | None:
        """``func(request) -> tag | None``: the ``"user"`` step of the chain."""
        return self._locale_selector

    @locale_selector.setter
    def locale_selector(self, func: LocaleSelector | None) -> None:
        self._locale_selector = func
        self._steps = self._chain_steps()

    def _chain_steps(self) -> tuple[str, ...]:
        # NOTE: "url" is the middleware's step, done before the app runs; "user"
        # without a selector does nothing.
        skip = {"url"} if self._locale_selector is not None else {"url", "user"}
        steps = tuple(step for step in self.chain if step not in skip)
        self._header_only = steps == ("header",)
        self._cookie_then_header = steps == ("cookie", "header")
        return steps

    def add_response_headers(self, scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
        """Append ``Content-Language`` and merge ``Vary`` (a response start hook).

        ``Vary`` names the request headers the choice depended on
        (``Accept-Language``, ``Cookie``; RFC 9110 section 12.5.5), unless the
        URL prefix chose the language. Negotiates now if nothing translated.
        """
        active = _active.get()
        if active is _UNSET:
            active = scope.get(_SCOPE_KEY)
        if active is None:
            # PERF: nothing translated: negotiate, with no language object.
            language = self.select_language(scope)
        else:
            language = active._tag or active.tag
            if active.prefixed:
                headers.append(self._content_language[language])
                return
        if not self._vary:
            headers.append(self._content_language[language])
        elif b"vary" in dict(headers):
            headers.append(self._content_language[language])
            _add_vary(headers, self._vary)
        else:
            # PERF: most responses have no Vary: one C call finds that, and both
            # fields (built once per language) are added in one call. A "Vary"
            # spelled in capitals gets a second field, which RFC 9110 section
            # 5.3 reads as one list.
            headers += self._language_fields[language]

    # -- negotiation ------------------------------------------------------------------

    def select_language(self, scope: Scope) -> str:
        """Return the language for a request's scope by the chain; never raises.

        A selector's error is not caught: it is the app's bug and shows as one.
        """
        conn: HTTPConnection | None = None
        match = self.matcher.match_tag
        # PERF: one pass over the headers; cookies are parsed only when the
        # Cookie header holds the language cookie's name.
        # PERF: dict() over the header pairs is one C call, not a Python loop;
        # a repeated header keeps its last value, as the loop did.
        found_headers = dict(scope.get("headers", ()))
        accept = found_headers.get(b"accept-language", b"")
        cookie = found_headers.get(b"cookie", b"")
        if self._header_only or (
            self._cookie_then_header and not (cookie and self._cookie_bytes in cookie)
        ):
            # PERF: the default chain with no language cookie (the usual
            # request): the Accept-Language header's cached answer, no loop.
            if accept:
                found = self._header_cache.get(accept)
                if found:
                    return found
                if found is None:
                    found = self._header_language(accept)
                    if found:
                        return found
            return self.default
        for step in self._steps:
            if step == "header":
                if accept:
                    # PERF: the usual browser header is one dict lookup, by bytes.
                    found = self._header_cache.get(accept)
                    if found is None:
                        found = self._header_language(accept)
                    if found:
                        return found
            elif step == "cookie":
                if cookie and self._cookie_bytes in cookie:
                    conn = conn or HTTPConnection(scope)
                    value = conn.cookies.get(self.cookie_name)
                    if value and len(value) <= 35:
                        exact = self.matcher.supported.get(value.lower())
                        if exact is not None:
                            return exact
            elif step == "user" and self._locale_selector is not None:
                conn = conn or HTTPConnection(scope)
                chosen = self._locale_selector(conn)
                if chosen:
                    found = match(chosen)
                    if found is not None:
                        return found
            # NOTE: "url" was handled by the middleware before the app ran.
        return self.default

    def _header_language(self, accept: bytes) -> str:
        """Negotiate an ``Accept-Language`` value ("" for none), kept in a bounded cache."""
        found = self.matcher.from_header(accept.decode("latin-1")) or ""
        if len(accept) <= 256:
            if len(self._header_cache) >= 512:
                self._header_cache.clear()  # SECURITY: bounded memory.
            self._header_cache[accept] = found
        return found

    def select_timezone(self, scope: Scope) -> dt.tzinfo:
        """Return the zone for a request: user setting, cookie, then ``TIME_ZONE``."""
        conn = HTTPConnection(scope)
        if self.timezone_selector is not None:
            chosen = self.timezone_selector(conn)
            if isinstance(chosen, dt.tzinfo):
                return chosen
            if chosen:
                zone = timezones.get_timezone(chosen)
                if zone is not None:
                    return zone
        value = conn.cookies.get(self.timezone_cookie_name)
        if value:
            zone = timezones.get_timezone(value)
            if zone is not None:
                return zone
        return self.time_zone

    def __repr__(self) -> str:
        return f"<I18n languages={list(self.languages)} default={self.default!r}>"


def _display_name(tag: str) -> str:
    """Return a language's name in itself (``"Deutsch"``) via Babel.

    Raises:
        ImproperlyConfigured: If Babel cannot parse ``tag``.
    """
    try:
        from babel import Locale, UnknownLocaleError
    except ImportError as ex:  # pragma: no cover - the extra names the fix
        raise ImproperlyConfigured(
            "the i18n battery needs Babel: pip install 'oakling[i18n]'"
        ) from ex
    try:
        locale = Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError) as ex:
        raise ImproperlyConfigured(
            f"LANGUAGES holds {tag!r}, which is not a language tag Babel knows "
            "(use BCP 47 tags such as 'de', 'de-AT', 'pt-BR')"
        ) from ex
    name = locale.get_display_name(locale) or tag
    return name[:1].upper() + name[1:]
