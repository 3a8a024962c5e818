"""Jinja2 templates: one environment per app, ``url_for``, ``static`` and ``render``.

The Flask-like surface::

    @app.get("/")
    def index(request: Request) -> HTMLResponse:
        return render(request, "index.html", tasks=load_tasks())

Templates are looked up in the app's ``template_folder`` first, then in each
router's ``template_folder`` in the order the routers were included (Flask
searches blueprint folders after the app's the same way). This module is
imported lazily: ``import oakling`` does not import Jinja2.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jinja2

from oakling.responses import HTMLResponse
from oakling.signals import template_rendered

if TYPE_CHECKING:
    import jinja2.ext
    from jinja2.runtime import Context

    from oakling.applications import App
    from oakling.requests import HTTPConnection

__all__ = ["DEFAULT_AUTOESCAPE_EXTENSIONS", "Templates", "render"]

DEFAULT_AUTOESCAPE_EXTENSIONS: tuple[str, ...] = (
    "html",
    "htm",
    "xml",
    "xhtml",
    "svg",
    "jinja",
    "j2",
)
"""Template name endings rendered with HTML escaping on.

Flask's list (``.html``, ``.htm``, ``.xml``, ``.xhtml``, ``.svg``) plus the
Jinja-specific ``.jinja`` and ``.j2`` (so ``page.html.j2`` is escaped too):
in a web app's template folder those are nearly always markup, and a stray
``&amp;`` in a text file is a visible, harmless bug where a missing escape
is a cross-site scripting hole.
"""


class Templates:
    """A Jinja2 environment over template folders, wired to an app.

    Args:
        directories: Folders searched in order for a template name; missing
            folders are skipped.
        app: The app whose ``url_for``, ``template_globals``,
            ``template_filters`` and ``context_processors`` templates see;
            its ``debug`` turns template auto-reload on.
        autoescape_extensions: Template names ending in ``.<ext>`` for one of
            these are HTML-escaped; others (``.txt``, ``.md``, ``.css``)
            render values as they are. Templates built from strings
            (``env.from_string``) are escaped.
        undefined: Jinja2's ``Undefined`` class. The default renders a
            missing variable as empty text (Flask's and Django's behaviour,
            so ``{% if error %}`` works when ``error`` was not passed); pass
            ``jinja2.StrictUndefined`` to make any use of one an error.
        auto_reload: Check templates' modification times on each lookup and
            reload changed ones; None means ``app.debug``.
        extensions: Jinja2 extensions to load (``"jinja2.ext.i18n"``).

    Attributes:
        env: The ``jinja2.Environment``; ``env.globals`` and ``env.filters``
            may be extended directly.
        app: The app given, or None.
    """

    def __init__(
        self,
        directories: Sequence[str | os.PathLike[str]],
        *,
        app: App | None = None,
        autoescape_extensions: Sequence[str] = DEFAULT_AUTOESCAPE_EXTENSIONS,
        undefined: type[jinja2.Undefined] = jinja2.Undefined,
        auto_reload: bool | None = None,
        extensions: Sequence[str | type[jinja2.ext.Extension]] = (),
    ) -> None:
        self.app = app
        if auto_reload is None:
            auto_reload = bool(app is not None and app.debug)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([os.fspath(folder) for folder in directories]),
            # SECURITY: values are HTML-escaped in .html/.xml/... templates and
            # in templates made from strings; .txt and other names are not,
            # so a .txt template must never be served as text/html.
            autoescape=jinja2.select_autoescape(
                enabled_extensions=tuple(autoescape_extensions),
                disabled_extensions=(),
                default_for_string=True,
                default=False,
            ),
            undefined=undefined,
            # PERF: outside debug, a cached template is used without a stat()
            # of its file on every render.
            auto_reload=auto_reload,
            # NOTE: {% trans %} and _() always parse; untranslated until the
            # i18n battery puts its gettext callables in the globals.
            extensions=[
                "jinja2.ext.i18n",
                *[ext for ext in extensions if ext != "jinja2.ext.i18n"],
            ],
        )
        self.env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
        self.env.globals["url_for"] = self._url_for
        self.env.globals["static"] = self._static
        if app is not None:
            self.env.globals.update(app.template_globals)
            self.env.filters.update(app.template_filters)
        # PERF: whether each context processor takes the request, found once.
        self._takes_request: dict[Callable[..., Any], bool] = {}

    # -- template globals -------------------------------------------------------

    def _app_for(self, context: Context) -> tuple[App, str]:
        request = context.get("request")
        if request is not None:
            return request.app, request.scope.get("root_path", "")
        if self.app is None:
            raise RuntimeError(
                "url_for() in a template needs 'request' in the context or Templates(app=...)"
            )
        return self.app, ""

    @jinja2.pass_context
    def _url_for(
        self,
        context: Context,
        name: str,
        /,
        *,
        _external: bool = False,
        _anchor: str | None = None,
        _scheme: str | None = None,
        **params: Any,
    ) -> str:
        """Return the path of route ``name`` (Flask's ``url_for`` in templates).

        A path, as in Flask; with a ``request`` in the context it starts
        with the request's ``root_path`` (the prefix the app is mounted
        under). ``_external=True`` returns the absolute URL
        (``https://host/...``) from the request, or from ``SERVER_NAME``
        when rendering without one; ``_anchor`` adds a ``#fragment``.

        Raises:
            NoMatchFound: For an unknown name or params that don't fit.
            RuntimeError: For ``_external=True`` with neither a request nor
                ``SERVER_NAME``.
        """
        request = context.get("request")
        if _external and request is not None:
            return str(
                request.url_for(name, _external=True, _anchor=_anchor, _scheme=_scheme, **params)
            )
        app, root_path = self._app_for(context)
        if _external:
            return app.url_for(name, _external=True, _anchor=_anchor, _scheme=_scheme, **params)
        return root_path + app.url_for(name, _anchor=_anchor, **params)

    @jinja2.pass_context
    def _static(self, context: Context, filename: str, /) -> str:
        """Return the URL of a static file: ``url_for("static", filename=filename)``."""
        app, root_path = self._app_for(context)
        return root_path + app.url_path_for("static", filename=filename)

    # -- rendering --------------------------------------------------------------

    def get_template(self, name: str) -> jinja2.Template:
        """Return the compiled template ``name`` (cached after the first load).

        Raises:
            jinja2.TemplateNotFound: If no folder holds it.
        """
        return self.env.get_template(name)

    def render_string(self, name: str, context: Mapping[str, Any] | None = None) -> str:
        """Render template ``name`` with ``context`` to a string.

        No ``request`` or context processor output is added; ``url_for``
        then builds paths from ``app`` without a ``root_path``.

        Raises:
            jinja2.TemplateNotFound: If no folder holds it.
            jinja2.TemplateError: On a syntax or rendering error.
        """
        template = self.env.get_template(name)
        values = dict(context or {})
        body = template.render(values)
        if template_rendered.on:
            template_rendered.send(self.app, template=template, context=values)
        return body

    def context_for(
        self, request: HTTPConnection, context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Return the full template context for ``request``.

        It holds ``request``, then what each of the app's context processors
        returns (``func(request)`` or Flask's ``func()``, in registration
        order), then ``context``: the values passed for this render win, as in
        Flask's ``render_template``.

        Raises:
            TypeError: If a context processor returns an awaitable (rendering
                is synchronous) or something that is not a mapping.
        """
        full: dict[str, Any] = {"request": request}
        app = self.app if self.app is not None else request.app
        for processor in getattr(app, "context_processors", ()):
            full.update(self._run_processor(processor, request))
        if context:
            full.update(context)
        return full

    def _run_processor(
        self, processor: Callable[..., Any], request: HTTPConnection
    ) -> Mapping[str, Any]:
        try:
            takes_request = self._takes_request.get(processor)
        except TypeError:  # NOTE: an unhashable callable object is not cached.
            takes_request = _takes_argument(processor)
        if takes_request is None:
            takes_request = self._takes_request[processor] = _takes_argument(processor)
        result = processor(request) if takes_request else processor()
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # NOTE: no "never awaited" warning on top of the error.
            raise TypeError(
                f"context processor {processor!r} returned an awaitable; template "
                "rendering is synchronous, so context processors must be plain functions"
            )
        if not isinstance(result, Mapping):
            raise TypeError(
                f"context processor {processor!r} returned {type(result).__name__}, not a dict"
            )
        return result

    def response(
        self,
        request: HTTPConnection,
        name: str,
        context: Mapping[str, Any] | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> HTMLResponse:
        """Render template ``name`` for ``request`` into an HTML response.

        The context is built by :meth:`context_for`. Rendering happens now,
        synchronously: from an async handler it runs on the event loop, which
        is fine for ordinary pages (Jinja2 compiles templates to Python and
        caches them).

        Args:
            request: The current request, available as ``request`` in the template.
            name: The template name, relative to the template folders.
            context: Template variables.
            status_code: The response status.
            headers: Extra response headers.
            media_type: Overrides ``text/html`` (``text/plain`` for a
                ``.txt`` template, which is not escaped).

        Raises:
            jinja2.TemplateNotFound: If no folder holds the template (the app
                answers 500: a missing template is a programming error).
            jinja2.TemplateError: On a syntax or rendering error.
            TypeError: If a context processor is async or returns no mapping.
        """
        template = self.env.get_template(name)
        full = self.context_for(request, context)
        body = template.render(full)
        if template_rendered.on:
            template_rendered.send(self.app or request.app, template=template, context=full)
        return HTMLResponse(body, status_code, headers, media_type)


def _takes_argument(func: Callable[..., Any]) -> bool:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return True
    for param in signature.parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD, param.VAR_POSITIONAL):
            return True
    return False


def render(
    request: HTTPConnection, name: str, context: Mapping[str, Any] | None = None, /, **kwargs: Any
) -> HTMLResponse:
    """Render template ``name`` into an HTML response (Flask's ``render_template``).

    ``context`` and ``kwargs`` are the template's variables (``kwargs`` win);
    ``request`` and the app's context processors' values are added (see
    :meth:`Templates.context_for`). The templates are ``request.app.templates``.
    Set ``status_code`` or ``headers`` on the returned response, or use
    ``app.templates.response(...)`` to pass them::

        return render(request, "tasks.html", tasks=tasks)

    Returns:
        A 200 ``text/html`` response with the rendered page.

    Raises:
        jinja2.TemplateNotFound: If no template folder holds ``name``.
        jinja2.TemplateError: On a syntax or rendering error.
    """
    values = dict(context) if context else {}
    values.update(kwargs)
    return request.app.templates.response(request, name, values)
