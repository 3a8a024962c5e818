"""``model_form(Task)``: a WTForms form for HTML pages, from the model's columns.

The admin's column-to-field mapping (:func:`oakling.admin.forms.model_form`)
made available outside the admin, so an HTML page, the admin, the REST
router and the OpenAPI schema share one definition of each field: its type,
``String(n)`` length, nullability, default and help text (the column's
``info["help_text"]``, ``doc`` or ``comment``, shown as the field's
``description``). wtforms-sqlalchemy's ``model_form`` and Django's
``modelform_factory`` are the equivalents.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["model_form"]


def model_form(
    model: type[Any],
    *,
    fields: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    read_only_fields: Sequence[str] = (),
) -> type[Any]:
    """Return a WTForms form class (``<Model>Form``) for ``model``'s editable columns.

    The form is a :class:`~oakling.csrf.forms.CSRFForm` (its token is
    checked by the form too), with one field per column: strings with a
    ``Length(max=n)`` check, integers, decimals, floats, booleans, dates,
    times, datetimes, enums (a select) and foreign keys (a select: fill its
    ``choices`` before rendering). A column that is not nullable and has no
    default is required; the database-numbered primary key is left out.

    Args:
        model: A mapped SQLAlchemy class.
        fields: The fields in order (default: every editable column).
        exclude: Fields left out.
        read_only_fields: Fields left out too (the user never edits them).

    Returns:
        The form class; ``form_class.field_specs`` maps each field name to
        its :class:`~oakling.admin.forms.FormField` (how its value goes back
        on the object).

    Raises:
        TypeError: For a name that is not a column, or a column of a type
            no field is made for.
    """
    try:
        from oakling.admin.forms import model_form as admin_model_form
        from oakling.admin.options import ModelAdmin
    except ImportError as ex:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"model_form needs WTForms and the admin's forms ({ex}); "
            "install them with: pip install 'oakling[admin]'"
        ) from ex

    options = type(
        f"{model.__name__}FormOptions",
        (ModelAdmin,),
        {
            "fields": tuple(fields) if fields is not None else None,
            "exclude": tuple(exclude),
            "readonly_fields": tuple(read_only_fields),
        },
    )
    # NOTE: no site: get_form is never called, only the column mapping.
    form_class, specs = admin_model_form(options(model, None))
    form_class.__name__ = form_class.__qualname__ = f"{model.__name__}Form"
    form_class.__module__ = model.__module__
    form_class.field_specs = specs
    return form_class
