"""``ModelAdmin``: how one model shows in the admin, and the ``@action`` decorator.

The names are Django's (``django.contrib.admin.options.ModelAdmin``):
``list_display``, ``search_fields``, ``list_filter``, ``ordering``,
``list_per_page``, ``fields``, ``exclude``, ``readonly_fields``, ``actions``,
``get_queryset`` and the ``has_*_permission`` hooks. A subclass overrides any
of them; the defaults are inferred from the SQLAlchemy model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from sqlalchemy import Select, inspect, select

from oakling.auth.models import permission_label
from oakling.i18n.translation import gettext

if TYPE_CHECKING:
    from sqlalchemy.orm import Mapper, Session

    from oakling.requests import Request

    from .sites import Admin

__all__ = ["FormInvalid", "ModelAdmin", "action"]

_F = TypeVar("_F", bound=Callable[..., Any])


class FormInvalid(Exception):
    """Raised by a ``ModelAdmin``'s save hooks: the form is shown again with these errors.

    Args:
        errors: ``{field name: message}``.
        message: An error of the whole form.
    """

    def __init__(self, errors: dict[str, str] | None = None, message: str = "") -> None:
        super().__init__(message or "; ".join((errors or {}).values()))
        self.errors = errors or {}
        self.message = message


@overload
def action(function: _F) -> _F: ...


@overload
def action(
    function: None = None,
    *,
    description: str | None = None,
    permissions: Sequence[str] = ("change",),
    form: type[Any] | None = None,
) -> Callable[[_F], _F]: ...


def action(
    function: _F | None = None,
    *,
    description: str | None = None,
    permissions: Sequence[str] = ("change",),
    form: type[Any] | None = None,
) -> _F | Callable[[_F], _F]:
    """Mark a ``ModelAdmin`` method as an action of the changelist (Django's ``@admin.action``).

    The method is called as ``method(request, session, objects)`` with the
    selected objects (only those in the user's ``get_queryset``); it may
    return a response, else the list is shown again. The user needs every
    permission in ``permissions`` (``"view"``, ``"add"``, ``"change"``,
    ``"delete"``) on the model and, through the ``has_*_permission(request,
    obj)`` hooks, on every selected object, checked on every POST.

    An action that asks for input (Django's ``action_form``, "set status
    to ...") names a form: a :class:`~oakling.csrf.forms.CSRFForm`
    subclass. Choosing the action then shows a page with the form and the
    selected objects (no JavaScript needed); once the form validates, the
    method is called as ``method(request, session, objects, form)``. An
    invalid form is shown again with its errors (400) and nothing runs.

    Args:
        function: The method (when used without parentheses).
        description: The label in the actions menu; default the method's
            name with spaces.
        permissions: The permissions the action needs, ``("change",)``.
        form: A ``CSRFForm`` subclass asking for the action's input, or None.

    Returns:
        The method, marked; or a decorator when called with options.
    """
    if form is not None:
        from oakling.csrf.forms import CSRFForm

        if not (isinstance(form, type) and issubclass(form, CSRFForm)):
            # SECURITY: the action's form checks its own CSRF token too.
            raise TypeError("@action(form=...) takes a subclass of oakling.csrf.forms.CSRFForm")

    def mark(func: _F) -> _F:
        func.admin_action = True  # type: ignore[attr-defined]  # NOTE: a marker attribute
        func.short_description = description or func.__name__.replace("_", " ")  # type: ignore[attr-defined]  # NOTE: idem
        func.allowed_permissions = tuple(permissions)  # type: ignore[attr-defined]  # NOTE: idem
        func.action_form = form  # type: ignore[attr-defined]  # NOTE: idem
        return func

    if function is not None:
        return mark(function)
    return mark


class ModelAdmin:
    """Options and hooks for one model in an :class:`~oakling.admin.Admin` site.

    Attributes:
        list_display: Columns of the changelist: column names, ``rel__field``
            through a many-to-one relationship (joined, never one query per
            row), names of properties or methods of the model or of this
            class, or callables taking the object. ``"__str__"`` is the
            object's ``str()``.
        search_fields: Fields searched by ``?q=``; prefix ``^`` (starts
            with), ``=`` (equals, case-insensitive) or ``@`` (full text on
            PostgreSQL, contains elsewhere); plain is "contains". Case
            is ignored on every backend.
        list_filter: Filters in the sidebar: names of boolean, enum,
            foreign-key, date and datetime columns (dates as ranges), or
            :class:`~oakling.admin.SimpleListFilter` subclasses.
        ordering: Default order, like ``("-created", "id")``.
        list_per_page: Rows per page, 100.
        count_threshold: Above this many rows the changelist stops counting:
            PostgreSQL shows the planner's estimate, other backends "more
            than N" (Django's ``show_full_result_count`` made automatic).
        fields: The form's fields in order (default: every editable column).
        fieldsets: Django's ``fieldsets``: ``[(title or None, {"fields":
            (...), "classes": ("collapse",), "description": "..."})]``, the
            form in titled groups (a tuple of names is one line); a
            ``collapse`` group is a closed ``<details>``, no JavaScript.
        autocomplete_fields: Foreign keys (relationship or column names)
            shown as an id input with suggestions from a JSON search
            instead of a select (the related model needs ``search_fields``):
            see :mod:`oakling.admin.autocomplete`.
        inlines: :class:`~oakling.admin.TabularInline` or
            :class:`~oakling.admin.StackedInline` subclasses: one-to-many
            children edited on the parent's page, in its transaction.
        exclude: Fields left out of the form.
        readonly_fields: Fields shown on the change page but not editable.
        actions: Names of methods marked with :func:`action`, besides the
            built-in ``delete_selected``.
        list_editable: Columns of ``list_display`` edited in the list
            itself (not the first), saved with one "Save" button:
            see :mod:`oakling.admin.editable`.
        date_hierarchy: A date or datetime column to drill the list down
            by year, month and day (Django's): see :mod:`oakling.admin.hierarchy`.
        list_export: Offer the filtered list as a CSV file (an "Export CSV"
            link, checked by :meth:`has_export_permission`).
        list_max_export: At most this many rows in one file, 10,000; a
            bigger list is refused (400): filter it first.
        change_list_template: A template name replacing the changelist's
            (likewise ``change_form_template``, ``delete_confirmation_template``,
            ``delete_selected_confirmation_template``,
            ``object_history_template``, ``action_form_template``). Without one, the first found of
            ``admin/<app>/<model>/<page>.html``, ``admin/<app>/<page>.html``
            and ``admin/<page>.html`` is used, as in Django.
        verbose_name: The model's name in pages, default from the class name
            (``"api token"``); ``verbose_name_plural`` adds an "s".
    """

    list_display: Sequence[str | Callable[..., Any]] = ("__str__",)
    search_fields: Sequence[str] = ()
    list_filter: Sequence[str | type[Any]] = ()
    ordering: Sequence[str] = ()
    list_per_page: int = 100
    count_threshold: int = 10_000
    fields: Sequence[str] | None = None
    fieldsets: Sequence[tuple[str | None, dict[str, Any]]] | None = None
    inlines: Sequence[type[Any]] = ()
    autocomplete_fields: Sequence[str] = ()
    exclude: Sequence[str] = ()
    readonly_fields: Sequence[str] = ()
    actions: Sequence[str] = ()
    list_editable: Sequence[str] = ()
    date_hierarchy: str | None = None
    list_export: bool = True
    change_list_template: str | None = None
    change_form_template: str | None = None
    delete_confirmation_template: str | None = None
    delete_selected_confirmation_template: str | None = None
    object_history_template: str | None = None
    action_form_template: str | None = None
    list_max_export: int = 10_000
    verbose_name: str = ""
    verbose_name_plural: str = ""

    def __init__(self, model: type[Any], site: Admin) -> None:
        self.model = model
        self.site = site
        self.mapper: Mapper[Any] = inspect(model)
        self.app_label = permission_label(model)
        self.model_name = model.__name__.lower()
        self.verbose_name = type(self).verbose_name or _spaced(model.__name__)
        self.verbose_name_plural = type(self).verbose_name_plural or f"{self.verbose_name}s"
        pk_columns = self.mapper.primary_key
        if len(pk_columns) != 1:
            raise TypeError(f"{model.__name__}: the admin needs a single-column primary key")
        self.pk_column = pk_columns[0]
        self.pk_attr = self.mapper.get_property_by_column(self.pk_column).key

    # -- permissions (Django's hooks) -------------------------------------------

    def _perm(self, action_name: str) -> str:
        return f"{self.app_label}.{action_name}_{self.model_name}"

    def has_view_permission(self, request: Request, obj: Any = None) -> bool:
        """Return whether the user may see the list and the objects (or change them)."""
        user = request.user
        return bool(user.has_perm(self._perm("view")) or self.has_change_permission(request, obj))

    def has_add_permission(self, request: Request) -> bool:
        """Return whether the user may add objects."""
        return bool(request.user.has_perm(self._perm("add")))

    def has_change_permission(self, request: Request, obj: Any = None) -> bool:
        """Return whether the user may change objects (``obj`` one of them, or any)."""
        return bool(request.user.has_perm(self._perm("change")))

    def has_delete_permission(self, request: Request, obj: Any = None) -> bool:
        """Return whether the user may delete objects (``obj`` one of them, or any)."""
        return bool(request.user.has_perm(self._perm("delete")))

    def has_export_permission(self, request: Request) -> bool:
        """Return whether the user may download the list as CSV (default: may view it)."""
        return self.list_export and self.has_view_permission(request)

    def has_module_permission(self, request: Request) -> bool:
        """Return whether the model is listed on the index for the user."""
        return self.has_view_permission(request) or self.has_add_permission(request)

    def has_permission(self, request: Request, name: str, obj: Any = None) -> bool:
        """Dispatch ``name`` (``"view"``, ``"add"``, ``"change"``, ``"delete"``) to its hook.

        Raises:
            ValueError: For another name.
        """
        if name == "view":
            return self.has_view_permission(request, obj)
        if name == "add":
            return self.has_add_permission(request)
        if name == "change":
            return self.has_change_permission(request, obj)
        if name == "delete":
            return self.has_delete_permission(request, obj)
        raise ValueError(f"unknown admin permission {name!r}")

    # -- data --------------------------------------------------------------------

    def get_queryset(self, request: Request) -> Select[Any]:
        """Return the statement every page starts from (scope it per user here).

        An object outside it is answered like one that does not exist.
        """
        return select(self.model)

    def get_object(self, request: Request, session: Session, object_id: Any) -> Any:
        """Return the object with primary key ``object_id`` in ``get_queryset``, or None."""
        statement = self.get_queryset(request).where(self.pk_column == object_id)
        return session.scalars(statement).unique().first()

    def get_form(self, request: Request, obj: Any = None) -> tuple[type[Any], dict[str, Any]]:
        """Return the form class for adding (``obj`` None) or changing ``obj``, and its field map.

        The map is ``{name: FormField}`` (:mod:`oakling.admin.forms`),
        telling :meth:`construct` how each value goes back on the object.
        """
        return self.site.form(self)

    def construct(
        self, request: Request, session: Session, form: Any, specs: dict[str, Any], obj: Any
    ) -> tuple[Any, list[str]]:
        """Put the valid form's values on ``obj`` (a new object when None).

        Returns:
            ``(obj, names of the changed fields)``.

        Raises:
            FormInvalid: When a unique value is taken, or the model refuses
                a value (its ``@validates`` raised ValueError).
        """
        from .forms import apply_form, autocomplete_errors, unique_errors

        if obj is None:
            obj = self.model()
        errors = autocomplete_errors(request, session, self, form, specs)
        if errors:
            raise FormInvalid(errors)
        try:
            with session.no_autoflush:
                changed = apply_form(form, obj, specs, session)
        except ValueError as ex:
            raise FormInvalid(message=str(ex)) from ex
        errors = unique_errors(obj, specs, self, session)
        if errors:
            raise FormInvalid(errors)
        return obj, changed

    def save_model(self, request: Request, session: Session, obj: Any, change: bool) -> None:
        """Add ``obj`` to the session (the form's values are already set on it)."""
        session.add(obj)

    def delete_model(self, request: Request, session: Session, obj: Any) -> None:
        """Delete ``obj``."""
        session.delete(obj)

    def get_actions(self, request: Request) -> dict[str, tuple[Callable[..., Any], str]]:
        """Return the actions the user may run: ``{name: (callable, description)}``."""
        found: dict[str, tuple[Callable[..., Any], str]] = {}
        if self.has_delete_permission(request):
            found["delete_selected"] = (
                self.delete_selected,
                gettext("Delete selected %(name)s") % {"name": self.verbose_name_plural},
            )
        for name in self.actions:
            method = getattr(self, name, None)
            if method is None or not getattr(method, "admin_action", False):
                raise TypeError(f"{type(self).__name__}.{name} is not an @action method")
            needed = getattr(method, "allowed_permissions", ("change",))
            if all(self.has_permission(request, perm) for perm in needed):
                found[name] = (method, str(method.short_description))
        return found

    def delete_selected(self, request: Request, session: Session, objects: list[Any]) -> Any:
        """Stand for the built-in action; the views ask for confirmation first."""
        raise NotImplementedError  # pragma: no cover - handled by the changelist view

    def get_urls(self) -> list[tuple[str, Callable[..., Any], list[str], str]]:
        """Return extra views under this model's URL (Django's ``get_urls``).

        Each entry is ``(path, view, methods, name)``: ``path`` below
        ``/<prefix>/<app>/<model>`` (``"/stats"``), ``view`` called as
        ``view(request)`` (sync or async; a sync one runs on the event loop,
        so keep it short or make it async), returning a response;
        ``name`` makes the route ``<site name>:<app>_<model>_<name>``. The
        site checks, before calling it, that the user is active staff with
        the view permission, and adds the admin's no-cache and no-framing
        headers.
        """
        return []

    def object_repr(self, obj: Any) -> str:
        """Return the text naming ``obj`` in lists and the log (``str(obj)``)."""
        return str(obj)

    @property
    def title_plural(self) -> str:
        """``verbose_name_plural`` with a capital first letter (``"API tokens"``)."""
        return self.verbose_name_plural[:1].upper() + self.verbose_name_plural[1:]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.app_label}.{self.model_name}>"


def _spaced(name: str) -> str:
    # Django's camel_case_to_spaces: "TaskList" -> "task list", "APIToken" -> "api token".
    return re.sub(r"(((?<=[a-z])[A-Z])|([A-Z](?![A-Z]|$)))", r" \1", name).strip().lower()
