"""Inlines: one-to-many children edited on their parent's change page.

Django's ``TabularInline`` and ``StackedInline``::

    class BookInline(TabularInline):
        model = Book            # has a foreign key to Author
        fields = ("title", "pages")
        extra = 3               # blank rows for new children (no JavaScript needed)

    class AuthorAdmin(ModelAdmin):
        inlines = (BookInline,)

The rows post as ``<prefix>-TOTAL_FORMS`` and ``<prefix>-<n>-<field>``, with
``<prefix>-<n>-id`` for an existing child and ``<prefix>-<n>-DELETE`` to
delete it (Django's formset names; the prefix is ``<model>_set``). The
parent and every child are saved in one transaction with one ``LogEntry``
on the parent naming what changed ("Added book “Dune”.").

An inline's ``readonly_fields`` are shown as text in its rows (columns,
properties, or methods of the inline taking the child). Its
``autocomplete_fields`` are id inputs with suggestions, like the parent's;
a typed id must be a row of the related admin's ``get_queryset``. "Add
another" is a submit button (``_addrow=<prefix>``): the page comes back,
nothing saved, with the posted rows and one more blank row; with JavaScript
on, ``inlines.js`` adds the row in place from a ``<template>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .options import FormInvalid, ModelAdmin

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from oakling.datastructures import FormData
    from oakling.requests import Request

__all__ = ["InlineFormSet", "InlineModelAdmin", "StackedInline", "TabularInline"]

#: Rows one POST may carry for one inline (Django's ``absolute_max``).
ABSOLUTE_MAX = 1000


class InlineModelAdmin(ModelAdmin):
    """Options of the children of one model shown on its parent's page.

    Attributes:
        model: The child model (class attribute, required).
        fk_name: The child's foreign-key column to the parent, when it has
            several; found by itself otherwise.
        extra: Blank rows offered for new children, 3.
        max_num: At most this many children on the page and in total, 100.
        can_delete: Rows have a "Delete?" box (with the delete permission).
        template: The template of the group (``admin/edit_inline/tabular.html``
            or ``stacked.html``).

    ``fields``, ``exclude``, ``readonly_fields``, ``ordering``,
    ``get_queryset`` and the ``has_*_permission`` hooks are the
    ``ModelAdmin``'s, on the child model's permissions (Django's).

    Raises:
        TypeError: When the child has no foreign key to the parent, or
            several and no ``fk_name``.
    """

    model: type[Any]
    fk_name: str | None = None
    extra: int = 3
    max_num: int = 100
    can_delete: bool = True
    template: str = "admin/edit_inline/tabular.html"

    def __init__(self, parent: ModelAdmin) -> None:
        model = getattr(type(self), "model", None)
        if model is None:
            raise TypeError(f"{type(self).__name__} needs a model")
        super().__init__(model, parent.site)
        self.parent = parent
        parent_table = parent.mapper.local_table
        candidates = [
            attr.key
            for attr in self.mapper.column_attrs
            if any(key.column.table is parent_table for key in attr.columns[0].foreign_keys)
        ]
        if self.fk_name is not None:
            if self.fk_name not in candidates:
                raise TypeError(
                    f"{type(self).__name__}.fk_name {self.fk_name!r} is not a foreign key "
                    f"of {model.__name__} to {parent.model.__name__}"
                )
            candidates = [self.fk_name]
        if len(candidates) != 1:
            raise TypeError(
                f"{type(self).__name__}: {model.__name__} has {len(candidates)} foreign keys to "
                f"{parent.model.__name__}; name one with fk_name"
            )
        self.fk_attr = candidates[0]
        # NOTE: the parent is set by the view, never by the posted data.
        self.exclude = (*type(self).exclude, self.fk_attr)
        self.prefix = f"{self.model_name}_set"

    def children(self, request: Request, session: Session, parent_obj: Any) -> list[Any]:
        """Return ``parent_obj``'s children in ``get_queryset``, at most ``max_num``."""
        fk = getattr(self.model, self.fk_attr)
        parent_pk = getattr(parent_obj, self.parent.pk_attr)
        statement = self.get_queryset(request).where(fk == parent_pk)
        order = [
            getattr(self.model, name.lstrip("-")).desc()
            if name.startswith("-")
            else getattr(self.model, name).asc()
            for name in self.ordering
        ]
        pk = getattr(self.model, self.pk_attr)
        statement = statement.order_by(*order, pk).limit(self.max_num)
        return list(session.scalars(statement).unique().all())


class TabularInline(InlineModelAdmin):
    """Children as the rows of a table (Django's ``TabularInline``)."""

    template = "admin/edit_inline/tabular.html"


class StackedInline(InlineModelAdmin):
    """Children as stacked groups of labelled fields (Django's ``StackedInline``)."""

    template = "admin/edit_inline/stacked.html"


@dataclass
class InlineRow:
    """One row of an inline: its form, and the child it edits (None for a new one)."""

    index: int | str  # "__prefix__" for the row inlines.js copies
    form: Any
    obj: Any = None
    pk: Any = None
    delete: bool = False
    errors: list[str] = field(default_factory=list)
    skip: bool = False  # a blank extra row, or a row the user may only see


class InlineFormSet:
    """The rows of one inline on one parent's page, read from a POST or from the database.

    Args:
        inline: The inline's options.
        request: The request (for permissions).
        session: The request's session.
        parent_obj: The parent, or None on the add page.
        form_data: The POST, or None to show the children.

    Without ``<prefix>-TOTAL_FORMS`` in a POST the children are left as they
    are.

    Raises:
        ValueError: From the constructor, when ``TOTAL_FORMS`` is not a
            number up to :data:`ABSOLUTE_MAX` (the views answer 400).
    """

    def __init__(
        self,
        inline: InlineModelAdmin,
        request: Request,
        session: Session,
        parent_obj: Any,
        form_data: FormData | None,
    ) -> None:
        import wtforms  # type: ignore[import-untyped]  # NOTE: WTForms ships no type hints

        from .forms import fill_choices, initial_data, model_form

        self.inline = inline
        self.request = request
        self.session = session
        self.prefix = inline.prefix
        self.row_class, self.specs = model_form(inline, base=wtforms.Form)
        self.errors: list[str] = []
        self.can_add = inline.has_add_permission(request)
        self.can_change = inline.has_change_permission(request)
        self.can_delete = inline.can_delete and inline.has_delete_permission(request)
        existing = inline.children(request, session, parent_obj) if parent_obj is not None else []
        self.rows: list[InlineRow] = []
        if form_data is None:
            for index, obj in enumerate(existing):
                data = initial_data(obj, self.specs)
                row = self._row(index, None, data)
                row.obj, row.pk = obj, getattr(obj, inline.pk_attr)
                self.rows.append(row)
            if self.can_add:
                room = max(0, inline.max_num - len(existing))
                for index in range(len(existing), len(existing) + min(inline.extra, room)):
                    self.rows.append(self._row(index, None, None))
        else:
            self._read(form_data, existing)
        for row in self.rows:
            fill_choices(row.form, self.specs, session, inline.site.label)
        self._label_autocomplete()

    @property
    def room(self) -> int:
        """How many more children may be added on this page (``max_num`` minus the rows)."""
        if not self.can_add:
            return 0
        return max(0, self.inline.max_num - len(self.rows))

    def add_blank_row(self) -> bool:
        """Append one blank row (the "Add another" button); return False when there is no room."""
        if self.room <= 0:
            return False
        from .forms import fill_choices

        row = self._row(len(self.rows), None, None)
        fill_choices(row.form, self.specs, self.session, self.inline.site.label)
        self.rows.append(row)
        return True

    def empty_row(self) -> InlineRow:
        """Return the blank row ``inlines.js`` copies, numbered ``__prefix__`` (Django's)."""
        from .forms import fill_choices

        row = self._row("__prefix__", None, None)
        fill_choices(row.form, self.specs, self.session, self.inline.site.label)
        return row

    def _label_autocomplete(self) -> None:
        """Name the row each autocomplete id points to: one query per field, not per row."""
        for name, spec in self.specs.items():
            if spec.kind != "fk_id":
                continue
            assert spec.target_admin is not None  # NOTE: set for every "fk_id" field
            target = spec.target_admin()
            wanted: dict[Any, list[Any]] = {}
            for row in self.rows:
                bound = row.form[name]
                raw = bound.data
                if raw in (None, "") or bound.errors:
                    continue
                text = str(raw).strip()
                if target.pk_column.type.python_type is int:
                    if not (text.isascii() and text.isdigit() and len(text) <= 18):
                        continue
                    key: Any = int(text)
                else:
                    key = text
                wanted.setdefault(key, []).append(bound)
            if not wanted:
                continue
            pk = getattr(target.model, target.pk_attr)
            statement = target.get_queryset(self.request).where(pk.in_(list(wanted)))
            for found in self.session.scalars(statement).unique():
                for bound in wanted.get(getattr(found, target.pk_attr), []):
                    bound.description = target.object_repr(found)

    def readonly_labels(self) -> list[str]:
        """The headings of the inline's ``readonly_fields``."""
        return [label for label, _ in _readonly_of(self.inline, None)]

    def readonly(self, row: InlineRow) -> list[tuple[str, Any]]:
        """Return ``[(label, escaped value)]`` of ``readonly_fields`` for a row (blank if new)."""
        return _readonly_of(self.inline, row.obj)

    def _row(self, index: int | str, form_data: Any, data: Any) -> InlineRow:
        form = self.row_class(form_data, prefix=f"{self.prefix}-{index}-", data=data)
        return InlineRow(index, form)

    def _read(self, form_data: FormData, existing: list[Any]) -> None:
        raw_total = form_data.get(f"{self.prefix}-TOTAL_FORMS")
        if raw_total is None:
            # NOTE: a POST without this inline's rows (a script, an older page)
            # leaves the children as they are.
            self.rows = []
            return
        if not isinstance(raw_total, str) or not raw_total.isascii() or not raw_total.isdigit():
            raise ValueError(f"{self.prefix}-TOTAL_FORMS is not a number")
        total = int(raw_total[:6])
        if total > ABSOLUTE_MAX:
            raise ValueError(f"{self.prefix}: at most {ABSOLUTE_MAX} rows at a time")
        by_id = {str(getattr(obj, self.inline.pk_attr)): obj for obj in existing}
        seen: set[str] = set()
        blank = self.row_class(None, prefix=f"{self.prefix}-blank")
        for index in range(total):
            row = self._row(index, form_data, None)
            raw_id = form_data.get(f"{self.prefix}-{index}-id")
            if isinstance(raw_id, str) and raw_id:
                obj = by_id.get(raw_id)
                if obj is None or raw_id in seen:
                    # SECURITY: a row may only edit a child of this parent in the
                    # inline's queryset; a forged or repeated id is refused, never
                    # looked up elsewhere.
                    self.errors.append(
                        f"A {self.inline.verbose_name} in these rows does not belong to this "
                        f"object (or was deleted): reload the page."
                    )
                    row.skip = True
                    self.rows.append(row)
                    continue
                seen.add(raw_id)
                row.obj, row.pk = obj, getattr(obj, self.inline.pk_attr)
                row.delete = f"{self.prefix}-{index}-DELETE" in form_data
                if not row.delete and not self.can_change:
                    row.skip = True  # NOTE: shown read-only; its (absent) values change nothing
            elif _unchanged(row.form, blank):
                row.skip = True  # NOTE: a blank extra row adds nothing (Django's has_changed)
            self.rows.append(row)
        added = sum(1 for row in self.rows if row.obj is None and not row.skip)
        if len(existing) + added > self.inline.max_num:
            self.errors.append(
                f"Please submit at most {self.inline.max_num} {self.inline.verbose_name_plural}."
            )

    def is_valid(self) -> bool:
        """Validate every row that adds, changes or deletes a child; set errors."""
        valid = not self.errors
        for row in self.rows:
            if row.skip:
                continue
            if row.delete:
                if not self.can_delete or not self.inline.has_delete_permission(
                    self.request, row.obj
                ):
                    row.errors.append(f"You may not delete {self.inline.verbose_name_plural}.")
                    valid = False
                continue
            if row.obj is None and not self.can_add:
                row.errors.append(f"You may not add {self.inline.verbose_name_plural}.")
                valid = False
                continue
            if not row.form.validate():
                valid = False
        return valid

    def save(self, parent_obj: Any) -> list[dict[str, Any]]:
        """Add, change and delete the children; return the change messages.

        Raises:
            FormInvalid: When a row's values are refused (the row has the
                errors; the caller rolls back).
        """
        from .forms import apply_form, autocomplete_errors, initial_data, unique_errors

        inline = self.inline
        messages: list[dict[str, Any]] = []
        parent_pk = getattr(parent_obj, inline.parent.pk_attr)
        name = inline.verbose_name
        for row in self.rows:
            if row.skip:
                continue
            if row.delete:
                messages.append({"deleted": {"name": name, "object": inline.object_repr(row.obj)}})
                inline.delete_model(self.request, self.session, row.obj)
                continue
            adding = row.obj is None
            # SECURITY: a typed related id must be in the related admin's queryset.
            wrong = autocomplete_errors(self.request, self.session, inline, row.form, self.specs)
            if wrong:
                for field_name, message in wrong.items():
                    row.form[field_name].errors = [*row.form[field_name].errors, message]
                raise FormInvalid(message="; ".join(wrong.values()))
            obj = inline.model() if adding else row.obj
            before = {} if adding else initial_data(obj, self.specs)
            with self.session.no_autoflush:
                try:
                    changed = apply_form(row.form, obj, self.specs, self.session)
                except ValueError as ex:
                    row.errors.append(str(ex))
                    raise FormInvalid(message=str(ex)) from ex
                setattr(obj, inline.fk_attr, parent_pk)
            if not adding and not changed:
                continue
            if not adding and not inline.has_change_permission(self.request, obj):
                row.errors.append(f"You may not change {inline.verbose_name_plural}.")
                raise FormInvalid(message=row.errors[-1])
            errors = unique_errors(obj, self.specs, inline, self.session)
            if errors:
                for field_name, message in errors.items():
                    row.form[field_name].errors = [*row.form[field_name].errors, message]
                raise FormInvalid(message="; ".join(errors.values()))
            inline.save_model(self.request, self.session, obj, not adding)
            if adding:
                self.session.flush()
                messages.append({"added": {"name": name, "object": inline.object_repr(obj)}})
            else:
                from .changes import field_changes

                fields = field_changes(inline, self.specs, before, obj, changed)
                messages.append(
                    {
                        "changed": {
                            "name": name,
                            "object": inline.object_repr(obj),
                            "fields": fields,
                        }
                    }
                )
        return messages

    # -- what the templates read ------------------------------------------------------

    @property
    def title(self) -> str:
        """The group's heading, ``inline.title_plural``."""
        return self.inline.title_plural

    @property
    def labels(self) -> list[str]:
        """The column headings of a tabular inline."""
        blank = self.row_class(None, prefix=f"{self.prefix}-labels")
        return [str(field.label.text) for field in blank]

    def __repr__(self) -> str:
        return f"<InlineFormSet {self.prefix} rows={len(self.rows)}>"


def _readonly_of(inline: InlineModelAdmin, obj: Any) -> list[tuple[str, Any]]:
    """Return ``[(label, escaped value)]`` for ``inline.readonly_fields`` of ``obj`` (or blanks)."""
    from markupsafe import Markup

    from .views import display

    rows: list[tuple[str, Any]] = []
    for name in inline.readonly_fields:
        method = getattr(type(inline), name, None)
        if callable(method):
            label = str(getattr(method, "short_description", name.replace("_", " ").capitalize()))
            value = getattr(inline, name)(obj) if obj is not None else None
        else:
            label = name.replace("_", " ").capitalize()
            value = getattr(obj, name, None) if obj is not None else None
        rows.append((label, display(value) if obj is not None else Markup("")))
    return rows


def _unchanged(form: Any, blank: Any) -> bool:
    for bound, default in zip(form, blank, strict=True):
        if bound.type == "BooleanField":
            if bool(bound.raw_data) != bool(default.data):
                return False
            continue
        raw = bound.raw_data[0] if bound.raw_data else ""
        if bound.type == "SelectMultipleField":
            if bound.raw_data:
                return False
            continue
        initial = default._value() if hasattr(default, "_value") else default.data
        if str(raw).strip() != str(initial if initial is not None else "").strip():
            return False
    return True


def formsets_of(
    model_admin: ModelAdmin,
    request: Request,
    session: Session,
    parent_obj: Any,
    form_data: FormData | None,
) -> list[InlineFormSet]:
    """Return the inlines the user may see on ``parent_obj``'s page, as formsets.

    Raises:
        ValueError: For a POST whose rows are malformed (see :class:`InlineFormSet`).
    """
    formsets = []
    for inline_class in model_admin.inlines:
        inline = model_admin.site.inline(model_admin, inline_class)
        if not (inline.has_view_permission(request) or inline.has_add_permission(request)):
            continue
        formsets.append(InlineFormSet(inline, request, session, parent_obj, form_data))
    return formsets
