"""``list_editable``: columns of the changelist edited in place, saved with one button.

Django's ``list_editable``: the listed columns (plain columns of the model,
shown in ``list_display``, not the first one, which links to the object) are
inputs; "Save" posts ``form-TOTAL_FORMS``, and per row ``form-<n>-id`` and
``form-<n>-<field>`` (Django's formset names). Every row is checked before
anything is saved; each changed object needs the change permission, gets
its own ``LogEntry``, and all of them are saved in one transaction.

SECURITY: a row's id must be one of the rows the user's ``get_queryset``
holds; a forged id is refused, never looked up elsewhere.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .options import FormInvalid

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from oakling.datastructures import FormData
    from oakling.requests import Request

    from .options import ModelAdmin

__all__ = ["EditableRows", "check_list_editable"]

#: Rows one POST may carry.
MAX_ROWS = 1000


def check_list_editable(model_admin: ModelAdmin) -> None:
    """Check ``list_editable`` at registration (Django's admin.E121-E124).

    Raises:
        TypeError: For a name not in ``list_display``, the first column, or
            not a column of the model.
    """
    names = [entry for entry in model_admin.list_display if isinstance(entry, str)]
    for name in model_admin.list_editable:
        if name not in names:
            raise TypeError(
                f"{type(model_admin).__name__}.list_editable: {name!r} not in list_display"
            )
        if model_admin.list_display and model_admin.list_display[0] == name:
            raise TypeError(
                f"{type(model_admin).__name__}.list_editable: {name!r} is the first column, "
                "the link to the object"
            )
        if name not in model_admin.mapper.column_attrs:
            raise TypeError(f"{type(model_admin).__name__}.list_editable: {name!r} is not a column")


def _form_class(model_admin: ModelAdmin) -> tuple[type[Any], dict[str, Any]]:
    cached = model_admin.__dict__.get("_editable_form")
    if cached is None:
        import wtforms  # type: ignore[import-untyped]  # NOTE: WTForms ships no type hints

        from .forms import model_form

        only = copy.copy(model_admin)
        only.fields = tuple(model_admin.list_editable)
        only.fieldsets = None
        only.exclude = ()
        only.readonly_fields = ()
        only.autocomplete_fields = ()
        cached = model_form(only, base=wtforms.Form)
        model_admin.__dict__["_editable_form"] = cached
    return cached


class EditableRows:
    """The row forms of one changelist page, from the objects or from a POST.

    Raises:
        ValueError: From :meth:`read`, for a malformed ``form-TOTAL_FORMS``
            or a forged id (the views answer 400).
    """

    def __init__(self, model_admin: ModelAdmin, request: Request, session: Session) -> None:
        self.model_admin = model_admin
        self.request = request
        self.session = session
        self.form_class, self.specs = _form_class(model_admin)
        self.forms: dict[Any, Any] = {}
        self.index: dict[Any, int] = {}

    def show(self, objects: list[Any]) -> None:
        """Make unbound forms holding the objects' values."""
        from .forms import fill_choices, initial_data

        for index, obj in enumerate(objects):
            pk = getattr(obj, self.model_admin.pk_attr)
            form = self.form_class(None, prefix=f"form-{index}", data=initial_data(obj, self.specs))
            fill_choices(form, self.specs, self.session, self.model_admin.site.label)
            self.forms[pk], self.index[pk] = form, index

    def read(self, form_data: FormData) -> list[Any]:
        """Bind the posted rows; return their objects (in the user's queryset)."""
        from .forms import fill_choices
        from .views import _parse_id

        raw_total = form_data.get("form-TOTAL_FORMS")
        if not isinstance(raw_total, str) or not raw_total.isascii() or not raw_total.isdigit():
            raise ValueError("form-TOTAL_FORMS is missing or not a number")
        total = int(raw_total[:6])
        if total > MAX_ROWS:
            raise ValueError(f"at most {MAX_ROWS} rows at a time")
        model_admin = self.model_admin
        ids: list[Any] = []
        for index in range(total):
            raw = form_data.get(f"form-{index}-id")
            try:
                ids.append(_parse_id(model_admin, raw if isinstance(raw, str) else ""))
            except Exception as ex:  # noqa: BLE001  # NOTE: _Refused(404): a bad id is a 400 here
                raise ValueError("a row's id is not valid") from ex
        if len(set(ids)) != len(ids):
            raise ValueError("a row is given twice")
        pk = getattr(model_admin.model, model_admin.pk_attr)
        statement = model_admin.get_queryset(self.request).where(pk.in_(ids)) if ids else None
        found = (
            list(self.session.scalars(statement).unique().all()) if statement is not None else []
        )
        by_pk = {getattr(obj, model_admin.pk_attr): obj for obj in found}
        if set(by_pk) != set(ids):
            # SECURITY: only rows of the user's queryset can be edited.
            raise ValueError(
                f"a row is not one of the {model_admin.verbose_name_plural} you may change"
            )
        objects = []
        for index, object_id in enumerate(ids):
            form = self.form_class(form_data, prefix=f"form-{index}")
            fill_choices(form, self.specs, self.session, model_admin.site.label)
            self.forms[object_id], self.index[object_id] = form, index
            objects.append(by_pk[object_id])
        return objects

    def save(self, objects: list[Any]) -> bool:
        """Validate every row, then save the changed objects; False when any row is refused."""
        from .changes import field_changes
        from .forms import apply_form, initial_data, unique_errors
        from .models import CHANGE
        from .views import _log

        model_admin = self.model_admin
        if not all([form.validate() for form in self.forms.values()]):
            return False
        try:
            for obj in objects:
                form = self.forms[getattr(obj, model_admin.pk_attr)]
                before = initial_data(obj, self.specs)
                with self.session.no_autoflush:
                    changed = apply_form(form, obj, self.specs, self.session)
                if not changed:
                    continue
                if not model_admin.has_change_permission(self.request, obj):
                    form.form_errors.append(f"You may not change this {model_admin.verbose_name}.")
                    raise FormInvalid()
                errors = unique_errors(obj, self.specs, model_admin, self.session)
                if errors:
                    for name, message in errors.items():
                        form[name].errors = [*form[name].errors, message]
                    raise FormInvalid(errors)
                model_admin.save_model(self.request, self.session, obj, True)
                fields = field_changes(model_admin, self.specs, before, obj, changed)
                _log(
                    self.session,
                    self.request,
                    model_admin,
                    obj,
                    CHANGE,
                    [{"changed": {"fields": fields}}],
                )
            self.session.flush()
        except FormInvalid:
            self.session.rollback()
            return False
        return True

    def cell(self, obj: Any, name: str, label: str) -> Any:
        """Return the input of ``obj``'s ``name`` column (with its row id once), as HTML."""
        from markupsafe import Markup, escape

        pk = getattr(obj, self.model_admin.pk_attr)
        form = self.forms[pk]
        field = form[name]
        text = f"{label} ({self.model_admin.object_repr(obj)})"
        html = Markup(field(**{"aria-label": text}))
        if name == self.model_admin.list_editable[0]:
            index = self.index[pk]
            html = (
                Markup('<input type="hidden" name="form-{0}-id" value="{1}">').format(index, pk)
                + html
            )
            for message in form.form_errors:
                html += Markup('<span class="error">{0}</span>').format(message)
        for error in field.errors:
            html += Markup('<span class="error">{0}</span>').format(escape(error))
        return html
