"""The ``Admin`` plugin: a site of registered models under a URL prefix.

Django's ``AdminSite`` as an oakling plugin::

    admin = Admin()                 # the site at /admin
    admin.register(Task)            # defaults inferred from the model

    @admin.register(Project)        # or with options
    class ProjectAdmin(ModelAdmin):
        list_display = ("name", "owner__username")

    app = App(plugins=[Database(), Sessions(), Auth(), CSRF(), admin])

Several sites can live in one app: give each its own ``name`` and ``prefix``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from oakling.exceptions import ImproperlyConfigured

from .options import ModelAdmin

if TYPE_CHECKING:
    from oakling.applications import App

    from .changelist import Column, FilterSpec
    from .forms import FormField

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "Admin", "AlreadyRegistered"]

TEMPLATES_DIR = str(Path(__file__).parent / "templates")
STATIC_DIR = str(Path(__file__).parent / "static")

_A = TypeVar("_A", bound=type[ModelAdmin])
_NEEDED = (("db", "Database()"), ("sessions", "Sessions()"), ("auth", "Auth()"), ("csrf", "CSRF()"))


class AlreadyRegistered(ImproperlyConfigured):
    """A model registered twice on one site with two different ``ModelAdmin`` classes."""


class Admin:
    """An admin site: the ``oakling.admin`` plugin (Django's ``AdminSite``).

    Args:
        prefix: Where the site is served, ``/admin``.
        name: The plugin's name: its ``app.extensions`` key and its routes'
            namespace (``admin:index``); two sites need two names.
        site_title: The title of every page.
        register_auth: Register the auth battery's User, Group and APIToken
            (with forms that hash passwords), as Django's auth app does.

    Raises:
        ImproperlyConfigured: From ``install``, when a battery it needs
            (db, sessions, auth, csrf) is not installed before it, for a bad
            prefix, or when the name is taken.
    """

    def __init__(
        self,
        *,
        prefix: str = "/admin",
        name: str = "admin",
        site_title: str = "oakling administration",
        register_auth: bool = True,
    ) -> None:
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ImproperlyConfigured(
                f"Admin prefix {prefix!r} must start with '/' and not end with '/'"
            )
        self.prefix = prefix
        self.name = name
        self.site_title = site_title
        self.register_auth = register_auth
        self.app: App | None = None
        self._registry: dict[type[Any], ModelAdmin] = {}
        self._columns: dict[int, list[Column]] = {}
        self._filters: dict[int, list[FilterSpec]] = {}
        self._forms: dict[int, tuple[type[Any], dict[str, FormField]]] = {}
        self._inlines: dict[tuple[int, type[Any]], Any] = {}

    # -- registration -------------------------------------------------------------

    def register(
        self, model: type[Any], admin_class: type[ModelAdmin] | None = None
    ) -> Callable[[_A], _A]:
        """Register ``model`` with ``admin_class`` (default :class:`ModelAdmin`).

        Also a decorator for the ``ModelAdmin`` subclass:
        ``@admin.register(Task)`` over ``class TaskAdmin(ModelAdmin)``.

        Returns:
            A decorator registering the class it decorates for ``model``.

        Raises:
            AlreadyRegistered: If ``model`` is already registered with a
                ``ModelAdmin`` subclass (Django's ``AlreadyRegistered``).
            TypeError: If the model has no single-column primary key, or an
                option names nothing on the model.
        """
        existing = self._registry.get(model)
        if existing is not None and type(existing) is not ModelAdmin:
            raise AlreadyRegistered(f"{model.__name__} is already registered on {self.name!r}")
        self._add(model, admin_class or ModelAdmin)

        def decorate(cls: _A) -> _A:
            self._add(model, cls)
            return cls

        return decorate

    def _add(self, model: type[Any], admin_class: type[ModelAdmin]) -> None:
        from .changelist import columns_of, filters_of

        model_admin = admin_class(model, self)
        # NOTE: checked now, at import, so a typo fails at startup, not on a page.
        self._columns[id(model_admin)] = columns_of(model_admin)
        self._filters[id(model_admin)] = filters_of(model_admin)
        from .editable import check_list_editable

        check_list_editable(model_admin)
        if model_admin.date_hierarchy:
            from .hierarchy import DateHierarchy

            DateHierarchy(model_admin)  # NOTE: raises TypeError for a bad field, now
        for inline_class in model_admin.inlines:
            self._inlines[id(model_admin), inline_class] = inline_class(model_admin)
        old = self._registry.get(model)
        if old is not None:
            self._columns.pop(id(old), None)
            self._filters.pop(id(old), None)
            self._forms.pop(id(old), None)
        self._registry[model] = model_admin

    def unregister(self, model: type[Any]) -> None:
        """Remove ``model`` from the site.

        Raises:
            KeyError: If it is not registered.
        """
        del self._registry[model]

    def is_registered(self, model: type[Any]) -> bool:
        """Return whether ``model`` is on this site."""
        return model in self._registry

    @property
    def registry(self) -> dict[type[Any], ModelAdmin]:
        """``{model: ModelAdmin}`` of this site (a copy)."""
        return dict(self._registry)

    def model_admin(self, app_label: str, model_name: str) -> ModelAdmin | None:
        """Return the ``ModelAdmin`` at ``/<app_label>/<model_name>``, or None."""
        for model_admin in self._registry.values():
            if model_admin.app_label == app_label and model_admin.model_name == model_name:
                return model_admin
        return None

    def columns(self, model_admin: ModelAdmin) -> list[Column]:
        """Return the changelist columns of ``model_admin``."""
        return self._columns[id(model_admin)]

    def filters(self, model_admin: ModelAdmin) -> list[FilterSpec]:
        """Return the ``list_filter`` specs of ``model_admin``."""
        return self._filters[id(model_admin)]

    def form(self, model_admin: ModelAdmin) -> tuple[type[Any], dict[str, FormField]]:
        """Return the generated form class of ``model_admin`` and its field map."""
        found = self._forms.get(id(model_admin))
        if found is None:
            from .forms import model_form

            found = model_form(model_admin)
            self._forms[id(model_admin)] = found
        return found

    def inline(self, model_admin: ModelAdmin, inline_class: type[Any]) -> Any:
        """Return the instance of ``inline_class`` for ``model_admin`` (made at registration)."""
        return self._inlines[id(model_admin), inline_class]

    def inlines(self) -> list[ModelAdmin]:
        """Return the inline instances (``InlineModelAdmin``) of every registered ``ModelAdmin``."""
        return [
            inline
            for inline in self._inlines.values()
            if self._registry.get(inline.parent.model) is inline.parent
        ]

    def label(self, obj: Any) -> str:
        """Return the text naming ``obj`` in selects and filters.

        Its ``ModelAdmin``'s ``object_repr`` when its model is on this site
        (a user is its username, not ``<User 'walker'>``), else ``str(obj)``.
        """
        model_admin = self._registry.get(type(obj))
        return model_admin.object_repr(obj) if model_admin is not None else str(obj)

    def url(self, *parts: Any) -> str:
        """Return the site's path for ``parts`` (``url("tasks", "task", 3, "change")``)."""
        if not parts:
            return f"{self.prefix}/"
        return self.prefix + "/" + "/".join(str(part) for part in parts)

    # -- plugin -------------------------------------------------------------------

    def install(self, app: App) -> None:
        """Serve the site under ``prefix``: its pages and its stylesheet.

        Raises:
            ImproperlyConfigured: See the class doc.
        """
        for needed, plugin in _NEEDED:
            if needed not in app.extensions:
                raise ImproperlyConfigured(
                    f"Admin needs the {needed!r} battery installed before it: App(plugins="
                    f"[Database(), Sessions(), Auth(), CSRF(), Admin()]) (missing {plugin})"
                )
        existing = app.extensions.get(self.name)
        if existing is not None and existing is not self:
            raise ImproperlyConfigured(
                f"the app already has a plugin named {self.name!r}: give this Admin another name"
            )
        try:
            import wtforms  # type: ignore[import-untyped]  # noqa: F401  # NOTE: untyped
        except ImportError as ex:  # pragma: no cover - depends on the environment
            raise ImproperlyConfigured(
                f"oakling.admin needs WTForms ({ex}): pip install 'oakling[admin]'"
            ) from ex
        from oakling.staticfiles import StaticFiles

        from . import models  # noqa: F401  # NOTE: LogEntry's table joins Model.metadata
        from .views import build_router

        if self.register_auth:
            from .accounts import register_auth_models

            register_auth_models(self)
        from .autocomplete import related_admin

        # NOTE: checked once every model is registered (Django's admin.E039/E040).
        for model_admin in self._registry.values():
            for field_name in model_admin.autocomplete_fields:
                related_admin(self, model_admin, field_name)
        self.app = app
        app.extensions[self.name] = self
        app.mount(
            f"{self.prefix}/static", StaticFiles(directory=STATIC_DIR), name=f"{self.name}-static"
        )
        app.include(build_router(self), prefix=self.prefix)

    def __repr__(self) -> str:
        return f"<Admin {self.name!r} prefix={self.prefix!r} models={len(self._registry)}>"
