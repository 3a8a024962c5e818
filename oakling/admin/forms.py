"""Add and change forms generated from a model's columns (WTForms).

:func:`model_form` maps each editable column to a WTForms field: strings
(with their length), text, integers, decimals, floats, booleans, dates,
times, datetimes, enums (a select), foreign keys (a select of the related
rows) and many-to-many relationships (a multi-select). A column that is not
nullable and has no default is required. Every form is a
:class:`~oakling.csrf.forms.CSRFForm`, so its token is checked again by the
form itself.

The auth battery's ``User`` gets its own forms: :class:`UserCreationForm`
(two password fields, hashed on save, validated by the auth battery's
validators), :class:`UserChangeForm` (never shows the hash) and
:class:`AdminPasswordChangeForm`.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import wtforms  # type: ignore[import-untyped]  # NOTE: WTForms ships no type hints
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    Text,
    Time,
    inspect,
    select,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import RelationshipDirection
from sqlalchemy.types import TypeDecorator
from wtforms import validators as wv

from oakling.csrf.forms import CSRFForm
from oakling.rest.schemas import column_help_text

try:
    from wtforms.fields.choices import (  # type: ignore[import-untyped]  # NOTE: untyped
        SelectChoice,
    )
except ImportError:  # pragma: no cover - WTForms < 3.3 takes (value, label) tuples
    SelectChoice = None

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .options import ModelAdmin

__all__ = [
    "AdminPasswordChangeForm",
    "FormField",
    "UserChangeForm",
    "UserCreationForm",
    "model_form",
]

#: Related rows offered in a foreign-key or many-to-many select.
MAX_CHOICES = 1000


@dataclass
class FormField:
    """How one form field maps to the model."""

    name: str
    kind: str  # "column", "fk", "fk_id" (autocomplete), "m2m", "enum", "datetime"
    python_type: type[Any] = str
    target: Any = None  # related model for fk/m2m
    nullable: bool = True
    aware: bool = False  # a timezone-aware datetime column
    target_admin: Callable[[], Any] | None = None  # "fk_id": the related ModelAdmin


def choice(value: Any, label: str) -> Any:
    """Return one select option: WTForms 3.3's ``SelectChoice``, else a tuple."""
    return (value, label) if SelectChoice is None else SelectChoice(value, label)


def _impl(sql_type: Any) -> Any:
    return sql_type.impl if isinstance(sql_type, TypeDecorator) else sql_type


def _label(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def editable_names(model_admin: ModelAdmin) -> list[str]:
    """Return the form's field names: ``fields``, else every editable column."""
    mapper = model_admin.mapper
    if model_admin.fields is not None:
        names = list(model_admin.fields)
    elif model_admin.fieldsets is not None:
        names = fieldset_names(model_admin.fieldsets)
    else:
        names = []
        fk_columns: dict[str, str] = {}
        for rel in mapper.relationships:
            if rel.direction is RelationshipDirection.MANYTOONE and len(rel.local_columns) == 1:
                local = next(iter(rel.local_columns))
                fk_columns[mapper.get_property_by_column(local).key] = rel.key
        for attr in mapper.column_attrs:
            column = attr.columns[0]
            if column.primary_key and isinstance(_impl(column.type), Integer):
                continue  # NOTE: an autoincrement id is the database's to choose
            names.append(attr.key)
        for rel in mapper.relationships:
            if rel.secondary is not None:
                names.append(rel.key)
    return [
        name
        for name in names
        if name not in model_admin.exclude and name not in model_admin.readonly_fields
    ]


def fieldset_names(fieldsets: Any) -> list[str]:
    """Return the field names of Django-style ``fieldsets``, in order.

    ``fieldsets`` is ``[(title or None, {"fields": (name, (name, name), ...),
    "classes": (...), "description": "..."}), ...]``; a tuple in ``fields``
    is one line of several fields.

    Raises:
        TypeError: When an entry is not a ``(title, options)`` pair with ``fields``.
    """
    names: list[str] = []
    for entry in fieldsets:
        if not (isinstance(entry, tuple | list) and len(entry) == 2 and "fields" in entry[1]):
            raise TypeError(f"fieldsets: {entry!r} is not (title, {{'fields': (...)}})")
        for line in entry[1]["fields"]:
            names.extend([line] if isinstance(line, str) else list(line))
    return names


def model_form(
    model_admin: ModelAdmin, base: type[Any] = CSRFForm
) -> tuple[type[Any], dict[str, FormField]]:
    """Return a WTForms form class for ``model_admin`` and how each field maps back.

    ``base`` is the form's base class: a CSRF-checked form for a page, a
    plain ``wtforms.Form`` for the rows of an inline.

    Raises:
        TypeError: For a name in ``fields`` that is not a column or a
            many-to-many relationship of the model, or a column of a type no
            field is made for.
    """
    mapper = model_admin.mapper
    attrs: dict[str, Any] = {}
    specs: dict[str, FormField] = {}
    for name in editable_names(model_admin):
        rel = mapper.relationships.get(name)
        if rel is not None and rel.secondary is not None:
            target = rel.mapper.class_
            pk_type = inspect(target).primary_key[0].type.python_type
            attrs[name] = wtforms.SelectMultipleField(
                _label(name), coerce=pk_type, choices=[], validate_choice=True
            )
            specs[name] = FormField(name, "m2m", pk_type, target)
            continue
        if name not in mapper.column_attrs:
            raise TypeError(
                f"{type(model_admin).__name__}.fields: {name!r} is not a column or a "
                f"many-to-many relationship of {model_admin.model.__name__}"
            )
        column = mapper.column_attrs[name].columns[0]
        field, spec = _column_field(model_admin, name, column)
        help_text = column_help_text(column, mapper.column_attrs[name])
        if help_text:
            # NOTE: WTForms' description, shown under the field.
            field.kwargs.setdefault("description", help_text)
        attrs[name] = field
        specs[name] = spec
    form_class = type(f"{model_admin.model.__name__}AdminForm", (base,), attrs)
    return form_class, specs


def _has_default(column: Any) -> bool:
    return column.default is not None or column.server_default is not None


def _column_field(model_admin: ModelAdmin, name: str, column: Any) -> tuple[Any, FormField]:
    sql_type = _impl(column.type)
    nullable = bool(column.nullable)
    required = not nullable and not _has_default(column)
    default = None
    if column.default is not None and getattr(column.default, "is_scalar", False):
        default = column.default.arg
    checks: list[Any] = [wv.InputRequired()] if required else [wv.Optional()]
    label = _label(name)
    if column.foreign_keys and _autocompleted(model_admin, name) is not None:
        from .autocomplete import related_admin

        listed = _autocompleted(model_admin, name) or name
        site = model_admin.site
        url = site.url("autocomplete") + (
            f"?app_label={model_admin.app_label}&model_name={model_admin.model_name}"
            f"&field_name={listed}"
        )
        rel = model_admin.mapper.relationships.get(listed)
        field = wtforms.StringField(
            _label(rel.key if rel is not None else name),
            validators=[wv.InputRequired()] if not nullable else [wv.Optional()],
            render_kw={"data-autocomplete": url, "autocomplete": "off", "maxlength": 40},
        )
        spec = FormField(
            name,
            "fk_id",
            _python_type(column),
            None,
            nullable,
            target_admin=lambda: related_admin(site, model_admin, listed),
        )
        return field, spec
    if column.foreign_keys:
        target = None
        for rel in model_admin.mapper.relationships:
            if column in rel.local_columns and rel.direction is RelationshipDirection.MANYTOONE:
                target = rel.mapper.class_
                label = _label(rel.key)
                break
        python_type = _python_type(column)
        field = wtforms.SelectField(
            label,
            coerce=_optional(python_type),
            choices=[],
            validators=[wv.InputRequired()] if not nullable else [wv.Optional()],
            validate_choice=True,
        )
        return field, FormField(name, "fk", python_type, target, nullable)
    if isinstance(sql_type, SAEnum):
        if sql_type.enum_class is not None:
            members: dict[str, Any] = {member.name: member for member in sql_type.enum_class}
            choices = [choice(key, str(member.value)) for key, member in members.items()]
        else:
            members = {value: value for value in sql_type.enums}
            choices = [choice(value, value) for value in sql_type.enums]
        if nullable:
            choices = [choice("", "---------"), *choices]
        field = wtforms.SelectField(
            label,
            choices=choices,
            default=getattr(default, "name", default),
            validators=[wv.InputRequired()] if not nullable else [wv.Optional()],
        )
        return field, FormField(name, "enum", str, members, nullable)
    if isinstance(sql_type, Boolean):
        field = wtforms.BooleanField(label, default=bool(default), validators=[wv.Optional()])
        return field, FormField(name, "column", bool, None, nullable)
    if isinstance(sql_type, DateTime):
        field = wtforms.DateTimeLocalField(
            label,
            format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
            validators=checks,
        )
        aware = bool(getattr(sql_type, "timezone", False))
        return field, FormField(name, "datetime", dt.datetime, None, nullable, aware)
    if isinstance(sql_type, Date):
        return wtforms.DateField(label, default=default, validators=checks), FormField(
            name, "column", dt.date, None, nullable
        )
    if isinstance(sql_type, Time):
        return wtforms.TimeField(label, default=default, validators=checks), FormField(
            name, "column", dt.time, None, nullable
        )
    if isinstance(sql_type, Integer):
        return wtforms.IntegerField(label, default=default, validators=checks), FormField(
            name, "column", int, None, nullable
        )
    if isinstance(sql_type, Float):
        return wtforms.FloatField(label, default=default, validators=checks), FormField(
            name, "column", float, None, nullable
        )
    if isinstance(sql_type, Numeric):
        places = sql_type.scale if sql_type.scale is not None else 2
        return wtforms.DecimalField(
            label, default=default, places=places, validators=checks
        ), FormField(name, "column", decimal.Decimal, None, nullable)
    if isinstance(sql_type, String | Text):
        length = getattr(sql_type, "length", None)
        string_checks = [*checks] if not required else [wv.DataRequired()]
        if length:
            string_checks.append(wv.Length(max=length))
        cls = (
            wtforms.StringField
            if isinstance(sql_type, String) and length
            else wtforms.TextAreaField
        )
        return cls(label, default=default, validators=string_checks), FormField(
            name, "column", str, None, nullable
        )
    raise TypeError(
        f"{type(model_admin).__name__}: no form field for column {name!r} of type "
        f"{column.type!r}: list it in readonly_fields or exclude"
    )


def _autocompleted(model_admin: ModelAdmin, column_key: str) -> str | None:
    """Return the ``autocomplete_fields`` entry naming this FK column, or None."""
    for entry in model_admin.autocomplete_fields:
        if entry == column_key:
            return entry
        rel = model_admin.mapper.relationships.get(entry)
        if rel is not None and any(
            model_admin.mapper.get_property_by_column(local).key == column_key
            for local in rel.local_columns
        ):
            return entry
    return None


def autocomplete_errors(
    request: Any, session: Session, model_admin: ModelAdmin, form: Any, specs: dict[str, FormField]
) -> dict[str, str]:
    """Check the ids typed in autocomplete inputs; return ``{field: message}`` for bad ones.

    SECURITY: an id must be a row of the related ``ModelAdmin``'s
    ``get_queryset`` for this user, the rows the suggestions come from.
    """
    errors: dict[str, str] = {}
    for name, spec in specs.items():
        if spec.kind != "fk_id":
            continue
        raw = (form[name].data or "").strip()
        if not raw:
            form[name].data = None
            continue
        assert spec.target_admin is not None  # NOTE: set for every "fk_id" field
        target = spec.target_admin()
        try:
            value = _optional(spec.python_type)(raw)
        except (TypeError, ValueError):
            value = None
        found = target.get_object(request, session, value) if value is not None else None
        if found is None:
            errors[name] = (
                f"Select a valid choice: no {target.verbose_name} has the id {raw[:40]!r}."
            )
            continue
        form[name].data = value
    return errors


def autocomplete_labels(
    request: Any, session: Session, form: Any, specs: dict[str, FormField]
) -> None:
    """Describe each autocomplete input with the name of the row its id points to."""
    for name, spec in specs.items():
        if spec.kind != "fk_id" or form[name].errors:
            continue
        raw = form[name].data
        if raw in (None, ""):
            continue
        assert spec.target_admin is not None  # NOTE: set for every "fk_id" field
        target = spec.target_admin()
        try:
            value = _optional(spec.python_type)(raw)
        except (TypeError, ValueError):
            continue
        found = target.get_object(request, session, value)
        if found is not None:
            form[name].description = target.object_repr(found)


def _python_type(column: Any) -> type[Any]:
    try:
        return column.type.python_type  # type: ignore[no-any-return]
    except NotImplementedError:
        return str


def _optional(python_type: type[Any]) -> Any:
    def coerce(value: Any) -> Any:
        if value in ("", None):
            return None
        if isinstance(value, python_type):
            return value
        if python_type is int and not (str(value).isascii() and str(value).isdigit()):
            raise ValueError(value)
        return python_type(value)

    return coerce


def layout(
    model_admin: ModelAdmin, form: Any, readonly: dict[str, tuple[str, Any]]
) -> tuple[list[dict[str, Any]], set[str]]:
    """Return the form's groups for the page, and the read-only names placed in them.

    Each group is ``{"name": title or None, "description": str, "collapse":
    bool, "lines": [[item, ...], ...]}``, an item ``{"field": bound field}``
    or ``{"readonly": (label, html)}``. Without ``fieldsets``, one group of
    every field, one per line.
    """
    if model_admin.fieldsets is None:
        lines = [[{"field": field}] for field in form if field.name != "csrf_token"]
        return [{"name": None, "description": "", "collapse": False, "lines": lines}], set()
    groups: list[dict[str, Any]] = []
    placed: set[str] = set()
    for title, options in model_admin.fieldsets:
        lines = []
        for line in options["fields"]:
            items = []
            for name in [line] if isinstance(line, str) else line:
                if name in readonly:
                    items.append({"readonly": readonly[name]})
                    placed.add(name)
                elif name in form:
                    items.append({"field": form[name]})
            if items:
                lines.append(items)
        groups.append(
            {
                "name": title,
                "description": options.get("description", ""),
                "collapse": "collapse" in options.get("classes", ()),
                "lines": lines,
            }
        )
    return groups, placed


# -- between the form and the object ----------------------------------------------


def fill_choices(
    form: Any,
    specs: dict[str, FormField],
    session: Session,
    label: Callable[[Any], str] = str,
) -> None:
    """Load the choices of the foreign-key and many-to-many selects (named by ``label``)."""
    for name, spec in specs.items():
        if spec.kind not in ("fk", "m2m") or spec.target is None:
            continue
        mapper = inspect(spec.target)
        pk_key = mapper.get_property_by_column(mapper.primary_key[0]).key
        objects = session.scalars(
            select(spec.target).order_by(getattr(spec.target, pk_key)).limit(MAX_CHOICES)
        ).all()
        choices = [choice(getattr(obj, pk_key), label(obj)) for obj in objects]
        if spec.kind == "fk" and spec.nullable:
            choices = [choice("", "---------"), *choices]
        form[name].choices = choices


def initial_data(obj: Any, specs: dict[str, FormField]) -> dict[str, Any]:
    """Return the form's values for ``obj`` (what the change page shows)."""
    data: dict[str, Any] = {}
    for name, spec in specs.items():
        value = getattr(obj, name)
        if spec.kind == "m2m":
            mapper = inspect(spec.target)
            pk_key = mapper.get_property_by_column(mapper.primary_key[0]).key
            value = [getattr(item, pk_key) for item in value]
        elif spec.kind == "enum":
            value = getattr(value, "name", value) if value is not None else ""
        elif spec.kind == "datetime" and value is not None and value.tzinfo is not None:
            # NOTE: shown and read back in UTC.
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        data[name] = value
    return data


def apply_form(form: Any, obj: Any, specs: dict[str, FormField], session: Session) -> list[str]:
    """Set the form's values on ``obj``; return the names of fields that changed."""
    changed: list[str] = []
    for name, spec in specs.items():
        value = form[name].data
        if spec.kind == "m2m":
            ids = list(value or [])
            mapper = inspect(spec.target)
            pk = getattr(spec.target, mapper.get_property_by_column(mapper.primary_key[0]).key)
            value = (
                list(session.scalars(select(spec.target).where(pk.in_(ids))).all()) if ids else []
            )
            before = {id(item) for item in getattr(obj, name)}
            if before != {id(item) for item in value}:
                changed.append(name)
            setattr(obj, name, value)
            continue
        if spec.kind == "enum":
            value = spec.target.get(value) if value else None
        elif spec.kind == "datetime" and value is not None and spec.aware:
            value = value.replace(tzinfo=dt.UTC)
        elif spec.kind == "column" and spec.python_type is str and value == "" and spec.nullable:
            value = None
        if value is None and not spec.nullable and spec.python_type is not bool:
            continue  # NOTE: left to the column's default
        if getattr(obj, name, None) != value:
            changed.append(name)
        setattr(obj, name, value)
    return changed


def unique_errors(
    obj: Any, specs: dict[str, FormField], model_admin: ModelAdmin, session: Session
) -> dict[str, str]:
    """Return ``{field: message}`` for unique columns whose new value is taken."""
    errors: dict[str, str] = {}
    pk_attr = getattr(model_admin.model, model_admin.pk_attr)
    own_id = getattr(obj, model_admin.pk_attr, None)
    for name, spec in specs.items():
        if spec.kind not in ("column", "fk", "fk_id", "enum", "datetime"):
            continue
        column = model_admin.mapper.column_attrs[name].columns[0]
        if not column.unique:
            continue
        value = getattr(obj, name)
        if value is None:
            continue
        statement = select(pk_attr).where(getattr(model_admin.model, name) == value)
        if own_id is not None:
            statement = statement.where(pk_attr != own_id)
        with session.no_autoflush:
            taken = session.scalar(statement.limit(1))
        if taken is not None:
            errors[name] = (
                f"{model_admin.verbose_name.capitalize()} with this {_label(name).lower()} "
                "already exists."
            )
    return errors


# -- the auth battery's User --------------------------------------------------------


class UserCreationForm(CSRFForm):
    """Add a user: the password is typed twice, validated, then hashed (Django's)."""

    username = wtforms.StringField("Username", validators=[wv.DataRequired(), wv.Length(max=150)])
    email = wtforms.EmailField("Email", validators=[wv.Optional(), wv.Length(max=254)])
    password1 = wtforms.PasswordField(
        "Password", validators=[wv.DataRequired(), wv.Length(max=4096)]
    )
    password2 = wtforms.PasswordField(
        "Password confirmation",
        validators=[wv.DataRequired(), wv.EqualTo("password1", "The two passwords do not match.")],
    )
    is_active = wtforms.BooleanField("Active", default=True)
    is_staff = wtforms.BooleanField("Staff status")
    is_superuser = wtforms.BooleanField("Superuser status")


class UserChangeForm(CSRFForm):
    """Change a user; the password is not a field (see :class:`AdminPasswordChangeForm`)."""

    username = wtforms.StringField("Username", validators=[wv.DataRequired(), wv.Length(max=150)])
    email = wtforms.EmailField("Email", validators=[wv.Optional(), wv.Length(max=254)])
    is_active = wtforms.BooleanField("Active")
    is_staff = wtforms.BooleanField("Staff status")
    is_superuser = wtforms.BooleanField("Superuser status")
    groups = wtforms.SelectMultipleField("Groups", coerce=int, choices=[])
    user_permissions = wtforms.SelectMultipleField("User permissions", coerce=int, choices=[])


class AdminPasswordChangeForm(CSRFForm):
    """Set a user's password from the admin (Django's ``AdminPasswordChangeForm``)."""

    password1 = wtforms.PasswordField(
        "New password", validators=[wv.DataRequired(), wv.Length(max=4096)]
    )
    password2 = wtforms.PasswordField(
        "New password confirmation",
        validators=[wv.DataRequired(), wv.EqualTo("password1", "The two passwords do not match.")],
    )
