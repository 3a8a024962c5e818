"""msgspec Structs derived from a SQLAlchemy model's columns: read, create, update.

One model definition gives each field's type, length, nullability, default
and help text; :func:`model_fields` reads them once, and
:func:`model_schemas` turns them into three Structs (DRF's model
serializer, Litestar's DTOs, FastAPI's ``TaskPublic``/``TaskCreate``/
``TaskUpdate`` pattern):

- ``Task`` (read): every field, as the API shows it;
- ``TaskCreate``: the writable fields; required when the column is not
  nullable and has no default, defaulted otherwise;
- ``TaskUpdate``: the writable fields, all optional (a PATCH body).

Read-only fields are the primary key the database numbers, server-generated
columns (``Identity``, ``Computed``, ``onupdate``/``server_onupdate``) and
those named in ``read_only_fields``. Help text is the column's
``info["help_text"]``, else its ``doc``, else its ``comment``.

Constraints the database would enforce with an error become validation
errors instead (a 422 naming the field, never a driver error): string
lengths, the ranges of 16-, 32- and 64-bit integer columns, finite floats,
no NUL character in text (PostgreSQL refuses it), and naive or aware
datetimes as the column stores them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, NamedTuple

import msgspec
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Interval,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Time,
    Uuid,
    inspect,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ModelField",
    "ModelSchemas",
    "column_help_text",
    "model_fields",
    "model_schemas",
]

_INT_RANGES: tuple[tuple[type, int], ...] = ((SmallInteger, 15), (BigInteger, 63), (Integer, 31))
_FLOAT_MAX = 1.7976931348623157e308
# SECURITY: PostgreSQL refuses NUL in text with an error; refuse it in validation.
_NO_NUL = r"^[^\x00]*$"


@dataclasses.dataclass(frozen=True)
class ModelField:
    """One column of a model, as the schemas, the forms and the admin see it.

    Attributes:
        name: The attribute name on the model.
        python_type: The annotation for values (``str``, ``int``, an enum
            class ...), constraints included (``Annotated[str, Meta(...)]``),
            without ``None``.
        read_type: The annotation the read Struct uses: the type and the
            help text, without the input constraints.
        nullable: Whether the column accepts NULL.
        max_length: The length of a ``String(n)`` column, else None.
        default: The column's scalar Python default, or ``msgspec.UNSET``
            when it has none or a callable or server-side one.
        has_default: Whether the database or SQLAlchemy fills the value in
            when it is left out.
        read_only: Whether clients can never write it.
        primary_key: Whether it is (part of) the primary key.
        help_text: Free text for documentation and form labels, or None.
        sortable: Whether its values have an order (numbers, strings,
            dates), so it can be filtered by range and ordered by.
    """

    name: str
    python_type: Any
    read_type: Any
    nullable: bool
    max_length: int | None
    default: Any
    has_default: bool
    read_only: bool
    primary_key: bool
    help_text: str | None
    sortable: bool


class ModelSchemas(NamedTuple):
    """The three Structs of a model (see :func:`model_schemas`)."""

    read: type[msgspec.Struct]
    create: type[msgspec.Struct]
    update: type[msgspec.Struct]


def _impl(sql_type: Any) -> Any:
    return sql_type.impl if isinstance(sql_type, TypeDecorator) else sql_type


def column_help_text(column: Any, attr: Any = None) -> str | None:
    """Return a column's help text: ``info["help_text"]``, else ``doc``, else ``comment``.

    The one place the REST schemas, the OpenAPI document, the admin and
    :func:`~oakling.rest.model_form` read it from (Django's ``help_text``).
    """
    text = column.info.get("help_text") or getattr(attr, "doc", None) or column.doc
    return str(text or column.comment or "") or None


def _annotation(column: Any, help_text: str | None) -> tuple[Any, Any, bool]:
    """Return (annotation with constraints, annotation without, sortable) for ``column``.

    The read Struct takes the one without: a stored value is shown as it is
    (a naive datetime from SQLite, a row older than a length change), never
    a 500.
    """
    sql_type = _impl(column.type)
    meta: dict[str, Any] = {}
    if help_text:
        meta["description"] = help_text
    python_type: Any
    sortable = True
    if isinstance(sql_type, SAEnum):
        python_type = sql_type.enum_class or str
        if sql_type.enum_class is None:
            import typing

            python_type = typing.Literal[tuple(sql_type.enums)]
        sortable = False
    elif isinstance(sql_type, Boolean):
        python_type, sortable = bool, False
    elif isinstance(sql_type, Integer):
        python_type = int
        bits = next(bits for kind, bits in _INT_RANGES if isinstance(sql_type, kind))
        meta.update(ge=-(2**bits), le=2**bits - 1)
    elif isinstance(sql_type, Float):
        python_type = float
        # NOTE: also refuses inf and NaN, which MariaDB cannot store.
        meta.update(ge=-_FLOAT_MAX, le=_FLOAT_MAX)
    elif isinstance(sql_type, Numeric):
        python_type = decimal.Decimal
    elif isinstance(sql_type, DateTime):
        python_type = dt.datetime
        meta["tz"] = bool(sql_type.timezone)
    elif isinstance(sql_type, Date):
        python_type = dt.date
    elif isinstance(sql_type, Time):
        python_type = dt.time
    elif isinstance(sql_type, Interval):
        python_type = dt.timedelta
    elif isinstance(sql_type, Uuid):
        python_type, sortable = uuid.UUID, False
    elif isinstance(sql_type, LargeBinary):
        python_type, sortable = bytes, False
    elif isinstance(sql_type, JSON):
        python_type, sortable = Any, False
    elif isinstance(sql_type, String):
        python_type = str
        meta["pattern"] = _NO_NUL
        if sql_type.length:
            meta["max_length"] = sql_type.length
    else:
        try:
            python_type = column.type.python_type
        except NotImplementedError:
            python_type = Any
        sortable = False
    plain = python_type
    if help_text:
        plain = Annotated[python_type, msgspec.Meta(description=help_text)]
    if meta:
        constrained: Any = Annotated[python_type, msgspec.Meta(**meta)]
        if python_type is int:
            # NOTE: JSON Schema's "integer" includes 1.0 (a JSON number is a
            # number), which msgspec's int refuses; a float with no fraction is
            # taken too, and made an int before it reaches the model.
            whole = Annotated[float, msgspec.Meta(**meta, multiple_of=1)]
            constrained = constrained | whole
        python_type = constrained
    return python_type, plain, sortable


def _server_generated(column: Any) -> bool:
    if column.computed is not None or column.identity is not None:
        return True
    if column.onupdate is not None or column.server_onupdate is not None:
        return True
    return bool(
        column.primary_key
        and isinstance(_impl(column.type), Integer)
        and column.autoincrement in (True, "auto")
        and column.default is None
        and column.server_default is None
        and len(column.table.primary_key.columns) == 1
    )


def model_fields(
    model: type[Any],
    *,
    fields: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    read_only_fields: Sequence[str] = (),
) -> list[ModelField]:
    """Return the model's column fields, in declaration order.

    Args:
        model: A mapped SQLAlchemy class.
        fields: The names to keep (default: every column attribute).
        exclude: Names to leave out (a password hash, say).
        read_only_fields: Names clients may read but never write.

    Returns:
        One :class:`ModelField` per column attribute kept.

    Raises:
        TypeError: For a name in ``fields``, ``exclude`` or
            ``read_only_fields`` that is not a column of ``model``.
    """
    mapper = inspect(model)
    columns = {attr.key: attr for attr in mapper.column_attrs}
    for option, names in (
        ("fields", fields or ()),
        ("exclude", exclude),
        ("read_only_fields", read_only_fields),
    ):
        unknown = [name for name in names if name not in columns]
        if unknown:
            raise TypeError(
                f"{model.__name__}: {option} names {', '.join(map(repr, unknown))}, "
                f"which {'is' if len(unknown) == 1 else 'are'} not a column; "
                f"columns: {', '.join(columns)}"
            )
    names = list(fields) if fields is not None else list(columns)
    found: list[ModelField] = []
    for name in names:
        if name in exclude:
            continue
        attr = columns[name]
        column = attr.columns[0]
        help_text = column_help_text(column, attr)
        annotation, plain, sortable = _annotation(column, help_text)
        default: Any = msgspec.UNSET
        if column.default is not None and getattr(column.default, "is_scalar", False):
            default = column.default.arg
        has_default = (
            column.default is not None
            or column.server_default is not None
            or _server_generated(column)
        )
        found.append(
            ModelField(
                name=name,
                python_type=annotation,
                read_type=plain,
                nullable=bool(column.nullable),
                max_length=getattr(_impl(column.type), "length", None),
                default=default,
                has_default=has_default,
                read_only=name in read_only_fields or _server_generated(column),
                primary_key=bool(column.primary_key),
                help_text=help_text,
                sortable=sortable,
            )
        )
    return found


def _optional(field: ModelField) -> Any:
    return field.python_type | None if field.nullable else field.python_type


def model_schemas(
    model: type[Any],
    *,
    fields: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    read_only_fields: Sequence[str] = (),
    name: str | None = None,
) -> ModelSchemas:
    """Return the read, create and update Structs of ``model``.

    The Structs are named ``Task``, ``TaskCreate`` and ``TaskUpdate`` (after
    ``name``, default the model's class name) in the model's module, so the
    OpenAPI document lists them under those names; ``forbid_unknown_fields``
    makes a misspelt field a 422 rather than a silent no-op.

    - read: every kept field, all required (nullable ones may be ``null``);
    - create: writable fields; a field is required unless it is nullable
      or has a default (its scalar default, else ``msgspec.UNSET``: left
      out, so SQLAlchemy or the database fills it, NULL for a nullable one);
    - update: writable fields, each ``UNSET`` unless sent.

    Raises:
        TypeError: See :func:`model_fields`.
    """
    found = model_fields(model, fields=fields, exclude=exclude, read_only_fields=read_only_fields)
    base = name or model.__name__
    module = model.__module__
    read = msgspec.defstruct(
        base,
        [
            (field.name, field.read_type | None if field.nullable else field.read_type)
            for field in found
        ],
        module=module,
        kw_only=True,
    )
    required: list[tuple[str, Any]] = []
    optional: list[tuple[str, Any, Any]] = []
    for field in found:
        if field.read_only:
            continue
        if field.default is not msgspec.UNSET:
            optional.append((field.name, _optional(field), field.default))
        elif field.nullable:
            optional.append((field.name, _optional(field) | msgspec.UnsetType, msgspec.UNSET))
        elif field.has_default:
            optional.append((field.name, field.python_type | msgspec.UnsetType, msgspec.UNSET))
        else:
            required.append((field.name, field.python_type))
    create = msgspec.defstruct(
        f"{base}Create",
        [*required, *optional],
        module=module,
        kw_only=True,
        forbid_unknown_fields=True,
    )
    update = msgspec.defstruct(
        f"{base}Update",
        [
            (field.name, _optional(field) | msgspec.UnsetType, msgspec.UNSET)
            for field in found
            if not field.read_only
        ],
        module=module,
        kw_only=True,
        forbid_unknown_fields=True,
    )
    return ModelSchemas(read, create, update)
