"""The changelist: columns, sorting, search, filters and pagination of one model.

Everything a changelist may read from the query string is decided here, from
the ``ModelAdmin``: ``q`` (when it has ``search_fields``), ``o`` (indexes of
sortable ``list_display`` columns, like Django's ``o=1.-2``), ``p`` (the
page, from 1), ``k`` (the primary key of the previous page's last row, for
keyset pagination) and ``<field>__exact`` for each ``list_filter`` field. Any other
parameter, a repeated one, or a value that does not parse is a
:class:`BadQuery` (the views answer 400): the query string can reach no
column the ``ModelAdmin`` does not expose.
"""

from __future__ import annotations

import enum
import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Select,
    String,
    Text,
    and_,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import RelationshipDirection, aliased, joinedload
from sqlalchemy.orm.attributes import InstrumentedAttribute

from .filters import date_choices, date_clauses, parse_date_param

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from oakling.requests import Request

    from .options import ModelAdmin

__all__ = ["BadQuery", "ChangeList", "Column", "FilterSpec", "columns_of", "filters_of"]

MAX_QUERY_LENGTH = 200
MAX_TERMS = 10
MAX_PAGE = 1_000_000
_FK_CHOICES = 100


class BadQuery(ValueError):
    """A changelist query string naming something not exposed, or a bad value (400)."""


@dataclass
class Column:
    """One ``list_display`` column: its header, how to read it, how to sort it."""

    name: str
    label: str
    getter: Callable[[Any], Any]
    sort_key: str | None = None  # a column name, or "rel__field"
    relation: str | None = None  # a many-to-one relationship loaded with the rows


@dataclass
class FilterSpec:
    """One ``list_filter`` field: its query parameter and its choices."""

    name: str
    label: str
    column: InstrumentedAttribute[Any] | None
    kind: str  # "bool", "enum", "fk", "date" or "custom"
    parse: Callable[[str], Any]
    static_choices: list[tuple[str, str]] = field(default_factory=list)
    target: Any = None  # the related model, for "fk"; the SimpleListFilter class, "custom"
    nullable: bool = False
    is_datetime: bool = False
    aware: bool = False

    @property
    def param(self) -> str:
        """The query parameter, ``<name>__exact`` (a custom filter's ``parameter_name``)."""
        if self.kind == "custom":
            return str(self.target.parameter_name)
        return f"{self.name}__exact"

    @property
    def params(self) -> tuple[str, ...]:
        """Every query parameter of the filter (a date filter has two or three)."""
        if self.kind == "date":
            suffixes = ("gte", "lt", "isnull") if self.nullable else ("gte", "lt")
            return tuple(f"{self.name}__{suffix}" for suffix in suffixes)
        return (self.param,)


def _label(name: str) -> str:
    return name.replace("__", " ").replace("_", " ").strip().capitalize()


def _relation_field(model_admin: ModelAdmin, name: str) -> tuple[str, Any, str] | None:
    """Split ``rel__field`` into (relationship key, target model, target column key)."""
    if "__" not in name:
        return None
    rel_name, _, target_field = name.partition("__")
    rel = model_admin.mapper.relationships.get(rel_name)
    if rel is None:
        return None
    if rel.direction is not RelationshipDirection.MANYTOONE:
        raise TypeError(
            f"{type(model_admin).__name__}: {name!r} follows {rel_name!r}, which is not "
            "many-to-one (only those are joined in lists)"
        )
    target = rel.mapper.class_
    if target_field not in rel.mapper.column_attrs:
        raise TypeError(f"{type(model_admin).__name__}: {name!r}: no column {target_field!r}")
    return rel_name, target, target_field


def columns_of(model_admin: ModelAdmin) -> list[Column]:
    """Return the changelist columns of ``model_admin`` (computed once, at startup).

    Raises:
        TypeError: For a ``list_display`` entry naming nothing on the model.
    """
    columns: list[Column] = []
    column_attrs = model_admin.mapper.column_attrs
    for entry in model_admin.list_display:
        if callable(entry):
            label = str(getattr(entry, "short_description", _label(entry.__name__)))
            columns.append(Column(entry.__name__, label, entry))
            continue
        name = entry
        if name == "__str__":
            columns.append(
                Column(name, model_admin.verbose_name.capitalize(), model_admin.object_repr)
            )
            continue
        if name in column_attrs:
            columns.append(Column(name, _label(name), _attr_getter(name), sort_key=name))
            continue
        related = _relation_field(model_admin, name)
        if related is not None:
            rel_name, _target, target_field = related
            columns.append(
                Column(
                    name,
                    _label(name),
                    _related_getter(rel_name, target_field),
                    sort_key=name,
                    relation=rel_name,
                )
            )
            continue
        if name in model_admin.mapper.relationships:
            rel = model_admin.mapper.relationships[name]
            if rel.direction is not RelationshipDirection.MANYTOONE:
                raise TypeError(f"{type(model_admin).__name__}: {name!r} is a collection")
            columns.append(Column(name, _label(name), _attr_getter(name), relation=name))
            continue
        method = getattr(type(model_admin), name, None)
        if callable(method):
            bound = getattr(model_admin, name)
            label = str(getattr(method, "short_description", _label(name)))
            columns.append(Column(name, label, bound))
            continue
        if hasattr(model_admin.model, name):
            columns.append(Column(name, _label(name), _attr_getter(name, call=True)))
            continue
        raise TypeError(
            f"{type(model_admin).__name__}.list_display: {name!r} is not a column, "
            f"relationship, property or method of {model_admin.model.__name__}"
        )
    return columns


def _attr_getter(name: str, call: bool = False) -> Callable[[Any], Any]:
    def get(obj: Any) -> Any:
        value = getattr(obj, name)
        return value() if call and callable(value) else value

    return get


def _related_getter(rel_name: str, target_field: str) -> Callable[[Any], Any]:
    def get(obj: Any) -> Any:
        related = getattr(obj, rel_name)
        return None if related is None else getattr(related, target_field)

    return get


def filters_of(model_admin: ModelAdmin) -> list[FilterSpec]:
    """Return the ``list_filter`` specs (computed once, at startup).

    Raises:
        TypeError: For a name that is not a boolean, enum or foreign-key column,
            nor a many-to-one relationship.
    """
    from .filters import SimpleListFilter

    specs: list[FilterSpec] = []
    mapper = model_admin.mapper
    for entry in model_admin.list_filter:
        if isinstance(entry, type):
            if not issubclass(entry, SimpleListFilter):
                raise TypeError(f"list_filter: {entry.__name__} is not a SimpleListFilter")
            if not entry.parameter_name or not entry.title:
                raise TypeError(f"{entry.__name__} needs a title and a parameter_name")
            specs.append(FilterSpec(entry.__name__, entry.title, None, "custom", str, target=entry))
            continue
        name = entry
        target = None
        column_key = name
        rel = mapper.relationships.get(name)
        if rel is not None:
            if rel.direction is not RelationshipDirection.MANYTOONE or len(rel.local_columns) != 1:
                raise TypeError(
                    f"{type(model_admin).__name__}.list_filter: {name!r} not many-to-one"
                )
            local = next(iter(rel.local_columns))
            column_key = mapper.get_property_by_column(local).key
            target = rel.mapper.class_
        if column_key not in mapper.column_attrs:
            raise TypeError(f"{type(model_admin).__name__}.list_filter: no column {name!r}")
        attr = getattr(model_admin.model, column_key)
        sql_column = mapper.column_attrs[column_key].columns[0]
        col_type = sql_column.type
        if isinstance(col_type, Boolean):
            specs.append(
                FilterSpec(
                    name, _label(name), attr, "bool", _parse_bool, [("1", "Yes"), ("0", "No")]
                )
            )
        elif isinstance(col_type, SAEnum):
            parse, choices = _enum_parser(col_type)
            specs.append(FilterSpec(name, _label(name), attr, "enum", parse, choices))
        elif isinstance(col_type, Date | DateTime):
            specs.append(
                FilterSpec(
                    name,
                    _label(name),
                    attr,
                    "date",
                    str,
                    nullable=bool(sql_column.nullable),
                    is_datetime=isinstance(col_type, DateTime),
                    aware=bool(getattr(col_type, "timezone", False))
                    or bool(getattr(getattr(sql_column.type, "impl", None), "timezone", False)),
                )
            )
        elif sql_column.foreign_keys:
            if target is None:
                for candidate in mapper.relationships:
                    if sql_column in candidate.local_columns and len(candidate.local_columns) == 1:
                        target = candidate.mapper.class_
                        break
            python_type = _python_type(sql_column)
            specs.append(
                FilterSpec(
                    name, _label(name), attr, "fk", _typed_parser(python_type), target=target
                )
            )
        else:
            raise TypeError(
                f"{type(model_admin).__name__}.list_filter: {name!r} is not a boolean, "
                "enum, date or foreign key (write a SimpleListFilter for it)"
            )
    return specs


def _python_type(sql_column: Any) -> type[Any]:
    try:
        return sql_column.type.python_type  # type: ignore[no-any-return]
    except NotImplementedError:
        return str


def _parse_bool(raw: str) -> bool:
    if raw == "1":
        return True
    if raw == "0":
        return False
    raise ValueError(raw)


def _typed_parser(python_type: type[Any]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        if python_type is int:
            # SECURITY: int() takes " 1", "1_000" and 4,300 digits; ids are plain digits.
            if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
                raise ValueError(raw)
            return int(raw)
        if len(raw) > 255:
            raise ValueError(raw)
        return python_type(raw)

    return parse


def _enum_parser(col_type: SAEnum) -> tuple[Callable[[str], Any], list[tuple[str, str]]]:
    enum_class = col_type.enum_class
    if enum_class is not None:
        members: dict[str, Any] = {member.name: member for member in enum_class}
        choices = [(name, _member_label(member)) for name, member in members.items()]
    else:
        members = {value: value for value in col_type.enums}
        choices = [(value, value) for value in col_type.enums]

    def parse(raw: str) -> Any:
        return members[raw]

    return parse, choices


def _member_label(member: enum.Enum) -> str:
    label = getattr(member, "label", None)
    return str(label) if label else str(member.value)


class ChangeList:
    """One request's changelist: parsed parameters, then the page of rows.

    Raises:
        BadQuery: From the constructor, for any parameter the ``ModelAdmin``
            does not expose or a value that does not parse.
    """

    def __init__(self, model_admin: ModelAdmin, request: Request, session: Session) -> None:
        self.model_admin = model_admin
        self.request = request
        self.session = session
        self.columns: list[Column] = model_admin.site.columns(model_admin)
        self.filters: list[FilterSpec] = model_admin.site.filters(model_admin)
        self.hierarchy = None
        if model_admin.date_hierarchy:
            from .hierarchy import DateHierarchy

            self.hierarchy = DateHierarchy(model_admin)
        self.params = self._parse_params(request)
        if self.hierarchy is not None:
            try:
                self.hierarchy.parse(self.params)
            except ValueError as ex:
                raise BadQuery(str(ex)) from ex
        self.query = self.params.get("q", "")
        self.page = self._parse_page(self.params.get("p", "1"))
        self.order = self._parse_order(self.params.get("o", ""))
        self.after: Any = None
        raw_after = self.params.get("k")
        if raw_after is not None:
            try:
                self.after = _typed_parser(_python_type(model_admin.pk_column))(raw_after)
            except (ValueError, TypeError) as ex:
                raise BadQuery(f"k={raw_after[:20]!r} is not an id of this list") from ex
        self.keyset_used = False
        self.active_filters: dict[str, dict[str, Any]] = {}
        self.custom_filters: dict[str, Any] = {}
        for spec in self.filters:
            if spec.kind == "custom":
                self._custom_filter(spec)
                continue
            for param in spec.params:
                raw = self.params.get(param)
                if raw is None:
                    continue
                suffix = param.rpartition("__")[2]
                try:
                    value = (
                        parse_date_param(suffix, raw) if spec.kind == "date" else spec.parse(raw)
                    )
                except (ValueError, KeyError, TypeError) as ex:
                    raise BadQuery(f"{param}: {raw[:50]!r} is not one of the choices") from ex
                self.active_filters.setdefault(spec.name, {})[suffix] = value
        self._aliases: dict[str, Any] = {}

    def _custom_filter(self, spec: FilterSpec) -> None:
        raw = self.params.get(spec.param)
        instance = spec.target(self.request, raw, self.model_admin)
        lookups = [
            (str(value), str(label))
            for value, label in instance.lookups(self.request, self.model_admin)
        ]
        spec_choices = dict(lookups)
        if raw is not None and raw not in spec_choices:
            # SECURITY: a custom filter takes only the values it offers.
            raise BadQuery(f"{spec.param}: {raw[:50]!r} is not one of the choices")
        self.custom_filters[spec.name] = (instance, lookups)

    # -- parameters ---------------------------------------------------------------

    def _parse_params(self, request: Request) -> dict[str, str]:
        allowed = {"o", "p", "k"} | {param for spec in self.filters for param in spec.params}
        if self.hierarchy is not None:
            allowed.update(self.hierarchy.params)
        if self.model_admin.search_fields:
            allowed.add("q")
        params: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            if key not in allowed:
                # SECURITY: no lookup on a field the ModelAdmin does not expose
                # (Django's DisallowedModelAdminLookup, a 400 there too).
                raise BadQuery(f"{key[:50]!r} is not a parameter of this list")
            if key in params:
                raise BadQuery(f"{key!r} is given more than once")
            params[key] = value
        for spec in self.filters:
            if spec.kind == "date":
                for param in spec.params:
                    if params.get(param) == "":
                        del params[param]  # NOTE: the range form's empty end
        if len(params.get("q", "")) > MAX_QUERY_LENGTH:
            raise BadQuery(f"the search is over {MAX_QUERY_LENGTH} characters")
        return params

    @staticmethod
    def _parse_page(raw: str) -> int:
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw[:8]) <= MAX_PAGE:
            raise BadQuery(f"p={raw[:20]!r}: the page is a number from 1 to {MAX_PAGE}")
        return int(raw)

    def _parse_order(self, raw: str) -> list[tuple[int, bool]]:
        """Parse ``o=2.-0`` into ``[(2, False), (0, True)]`` (index, descending)."""
        if not raw:
            return []
        order: list[tuple[int, bool]] = []
        for part in raw.split("."):
            descending = part.startswith("-")
            digits = part[1:] if descending else part
            if not digits.isascii() or not digits.isdigit() or len(digits) > 3:
                raise BadQuery(f"o={raw[:30]!r}: not a list of column numbers")
            index = int(digits)
            if index >= len(self.columns) or self.columns[index].sort_key is None:
                # SECURITY: only the sortable columns shown may order the list.
                raise BadQuery(f"o={raw[:30]!r}: column {index} cannot be sorted")
            if any(seen == index for seen, _ in order):
                raise BadQuery(f"o={raw[:30]!r}: column {index} is given twice")
            order.append((index, descending))
        return order

    # -- SQL ------------------------------------------------------------------------

    def _field_expression(self, statement: Select[Any], name: str) -> tuple[Select[Any], Any]:
        """Return the statement (joined if needed) and the SQL expression of ``name``."""
        return join_field(self.model_admin, statement, name, self._aliases)

    def filtered_statement(self, hierarchy: bool = True) -> Select[Any]:
        """Return ``get_queryset`` narrowed by the filters and the search, unordered.

        Args:
            hierarchy: Narrow to the ``date_hierarchy`` year, month or day too.
        """
        statement = self.model_admin.get_queryset(self.request)
        if hierarchy and self.hierarchy is not None:
            statement = self.hierarchy.narrow(statement)
        for spec in self.filters:
            if spec.kind == "custom":
                instance, _lookups = self.custom_filters[spec.name]
                statement = instance.queryset(self.request, statement)
                continue
            values = self.active_filters.get(spec.name)
            if not values:
                continue
            if spec.kind == "date":
                clauses = date_clauses(spec.column, values, spec.is_datetime, spec.aware)
                statement = statement.where(*clauses)
            else:
                statement = statement.where(spec.column == values["exact"])
        if self.query:
            statement = self._search(statement)
        return statement

    def _search(self, statement: Select[Any]) -> Select[Any]:
        try:
            terms = shlex.split(self.query)
        except ValueError:
            terms = self.query.split()
        if len(terms) > MAX_TERMS:
            raise BadQuery(f"the search has over {MAX_TERMS} words")
        dialect = self.session.get_bind(mapper=self.model_admin.mapper).dialect.name
        return search_where(self.model_admin, statement, terms, dialect, self._aliases)

    def _order_keys(self) -> list[tuple[str, bool]]:
        """Return the sort keys ``[(name, descending)]``, the primary key last."""
        keys: list[tuple[str, bool]] = [
            (str(self.columns[index].sort_key), descending) for index, descending in self.order
        ]
        if not keys:
            keys = [(name.lstrip("-"), name.startswith("-")) for name in self.model_admin.ordering]
        if not keys:
            keys = [(self.model_admin.pk_attr, True)]
        # NOTE: the primary key last, so that pages never overlap or skip rows.
        if all(name != self.model_admin.pk_attr for name, _ in keys):
            keys.append((self.model_admin.pk_attr, True))
        return keys

    def ordering(self, statement: Select[Any]) -> Select[Any]:
        """Return ``statement`` ordered by ``o`` (else ``ordering``, else newest first)."""
        clauses = []
        for name, descending in self._order_keys():
            statement, expression = self._field_expression(statement, name)
            clauses.append(expression.desc() if descending else expression.asc())
        return statement.order_by(*clauses)

    def keyset_columns(self) -> list[tuple[Any, bool]] | None:
        """Return ``[(column, descending)]`` when the order allows keyset pages, else None.

        Keyset ("seek") pagination needs a total order on values that
        compare: the keys up to the primary key (always the last, see
        :meth:`ordering`) must be the model's own columns and not nullable
        (NULLs sort first or last depending on the backend and never compare
        equal). Keys after the primary key are dropped: it is unique.
        """
        columns: list[tuple[Any, bool]] = []
        mapper = self.model_admin.mapper
        for name, descending in self._order_keys():
            prop = mapper.column_attrs.get(name) if "__" not in name else None
            if prop is None or len(prop.columns) != 1:
                return None
            column = prop.columns[0]
            if column.nullable and column is not self.model_admin.pk_column:
                return None
            columns.append((getattr(self.model_admin.model, name), descending))
            if column is self.model_admin.pk_column:
                break
        return columns

    def _seek(self, statement: Select[Any]) -> Select[Any] | None:
        """Narrow ``statement`` to the rows after the row ``k``, or None to page by offset.

        ``k`` is a primary key, never a sort value: the values are read from
        the user's ``get_queryset`` (a row outside it, or deleted since, falls
        back to ``OFFSET``), so the URL leaks no hidden column and a forged
        ``k`` is no oracle over rows the user may not see.
        """
        columns = self.keyset_columns()
        if columns is None or self.after is None:
            return None
        model_admin = self.model_admin
        pk = getattr(model_admin.model, model_admin.pk_attr)
        anchor_query = (
            model_admin.get_queryset(self.request)
            .with_only_columns(*(column for column, _ in columns))
            .where(pk == self.after)
            .limit(1)
        )
        anchor = self.session.execute(anchor_query).first()
        if anchor is None:
            return None
        # PERF: (a, b) after (x, y) as "a >= x AND (a > x OR (a = x AND b > y))":
        # the first bound lets an index on the leading key start at the anchor;
        # each key may run in its own direction.
        alternatives = []
        for index, (column, descending) in enumerate(columns):
            # NOTE: typed literals: SQLAlchemy refuses "column > True" for booleans.
            value = literal(anchor[index], column.type)
            beyond = column < value if descending else column > value
            equal_before = [
                columns[j][0] == literal(anchor[j], columns[j][0].type) for j in range(index)
            ]
            alternatives.append(and_(*equal_before, beyond))
        first, first_descending = columns[0]
        start = literal(anchor[0], first.type)
        leading = first <= start if first_descending else first >= start
        return statement.where(leading, or_(*alternatives))

    # -- results --------------------------------------------------------------------

    def load(self) -> None:
        """Run the queries: the page's rows (one query) and the bounded count."""
        per_page = self.model_admin.list_per_page
        statement = self.ordering(self.filtered_statement())
        relations = {column.relation for column in self.columns if column.relation}
        # PERF: many-to-one relations shown in columns are joined into the one
        # query of the rows, never loaded one row at a time.
        options = [joinedload(getattr(self.model_admin.model, name)) for name in sorted(relations)]
        offset = (self.page - 1) * per_page
        sought = self._seek(statement) if offset else None
        if sought is not None:
            # PERF: a next-page link carries the last row's key: the page starts
            # there, whatever its number (no OFFSET, nothing skipped is read).
            statement = sought.limit(per_page + 1)
            self.keyset_used = True
        elif offset:
            statement = self._late_lookup(statement, offset, per_page + 1)
        else:
            statement = statement.limit(per_page + 1)
        rows = list(self.session.scalars(statement.options(*options)).unique().all())
        self.has_next = len(rows) > per_page
        self.results = rows[:per_page]
        self._aliases = {}
        if not self.has_next and (rows or offset == 0):
            # PERF: the last page tells the count: no count query (a search that
            # matches a few rows of a big table would scan it a second time).
            self.count, self.count_kind = offset + len(self.results), "exact"
        else:
            self.count, self.count_kind = self._count()
        self.count_is_exact = self.count_kind == "exact"

    def _late_lookup(self, ordered: Select[Any], offset: int, limit: int) -> Select[Any]:
        """Return the rows of ``ordered`` at ``offset``, found by their primary keys first.

        PERF: ``OFFSET`` reads every skipped row; skipping primary keys alone
        (an index-only scan on PostgreSQL) and then reading the page's rows
        is the "deferred join" of MySQL and PostgreSQL folklore: page 5,000
        of 1,000,000 rows in 40 ms instead of 150 ms. A derived table, not
        ``IN (subquery)``: MariaDB refuses ``LIMIT`` inside ``IN``.
        """
        model_admin = self.model_admin
        pk = getattr(model_admin.model, model_admin.pk_attr)
        keys = ordered.with_only_columns(pk.label("page_pk")).limit(limit).offset(offset)
        page_keys = keys.subquery("page_keys")
        self._aliases = {}
        outer = select(model_admin.model).join(page_keys, pk == page_keys.c.page_pk)
        return self.ordering(outer)

    def _count(self) -> tuple[int, str]:
        """Count the rows up to ``count_threshold`` + 1; above it, estimate or give up.

        Returns:
            ``(count, kind)``: kind ``"exact"``; above the threshold on
            PostgreSQL ``"estimate"``, the planner's (``EXPLAIN (FORMAT JSON)``,
            "Plan Rows"); elsewhere ``"more"``, the count being the threshold
            + 1, shown as "more than".
        """
        threshold = self.model_admin.count_threshold
        statement = self.filtered_statement()
        self._aliases = {}
        # PERF: never a full COUNT(*): at most threshold + 1 rows are counted.
        bounded = statement.order_by(None).limit(threshold + 1).subquery()
        counted = int(self.session.scalar(select(func.count()).select_from(bounded)) or 0)
        if counted <= threshold:
            return counted, "exact"
        bind = self.session.get_bind(mapper=self.model_admin.mapper)
        if bind.dialect.name == "postgresql":
            compiled = statement.compile(dialect=bind.dialect)
            params: Any = compiled.params
            if compiled.positional:
                params = tuple(params[name] for name in compiled.positiontup or ())
            plan: Any = (
                self.session.connection()
                .exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", params)
                .scalar()
            )
            if isinstance(plan, str):
                plan = json.loads(plan)
            estimate = int(plan[0]["Plan"]["Plan Rows"])
            return max(estimate, counted), "estimate"
        return counted, "more"

    # -- links ----------------------------------------------------------------------

    def next_url(self) -> str | None:
        """Return the next page's ``?...``: with ``k`` when the order allows keyset pages."""
        if not self.has_next:
            return None
        after = None
        if self.results and self.keyset_columns() is not None:
            after = str(getattr(self.results[-1], self.model_admin.pk_attr))
        return self.url_with(p=str(self.page + 1), k=after)

    def url_with(self, **changes: str | None) -> str:
        """Return ``?...`` for these parameters with ``changes`` (None removes one)."""
        params = {**self.params}
        params.pop("k", None)  # NOTE: a keyset position only holds for the next page
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return "?" + urlencode(params) if params else "?"

    def header(self, index: int) -> dict[str, Any]:
        """Return a column header's label, link and sort state (Django's clicking order)."""
        column = self.columns[index]
        info: dict[str, Any] = {"label": column.label, "url": None, "sorted": None, "priority": 0}
        if column.sort_key is None:
            return info
        current = dict(self.order)
        others = [(idx, desc) for idx, desc in self.order if idx != index]
        if index in current:
            info["sorted"] = "descending" if current[index] else "ascending"
            info["priority"] = [idx for idx, _ in self.order].index(index) + 1
            new = [(index, not current[index]), *others]
        else:
            new = [(index, False), *others]
        value = ".".join(f"{'-' if desc else ''}{idx}" for idx, desc in new)
        info["url"] = self.url_with(o=value, p=None)
        return info

    def filter_choices(self, spec: FilterSpec) -> list[dict[str, Any]]:
        """Return a filter's links: ``[{"label", "url", "selected"}]``, "All" first."""
        if spec.kind == "date":
            return self._date_links(spec)
        current = self.params.get(spec.param)
        choices = spec.static_choices
        if spec.kind == "custom":
            choices = self.custom_filters[spec.name][1]
        if spec.kind == "fk" and spec.target is not None:
            target_admin_pk = _pk_attr(spec.target)
            objects = self.session.scalars(
                select(spec.target).order_by(target_admin_pk).limit(_FK_CHOICES)
            ).all()
            name_of = self.model_admin.site.label
            choices = [(str(getattr(obj, target_admin_pk.key)), name_of(obj)) for obj in objects]
        links = [
            {
                "label": "All",
                "url": self.url_with(**{spec.param: None, "p": None}),
                "selected": current is None,
            }
        ]
        for value, label in choices:
            links.append(
                {
                    "label": label,
                    "url": self.url_with(**{spec.param: value, "p": None}),
                    "selected": current == value,
                }
            )
        return links

    def _date_links(self, spec: FilterSpec) -> list[dict[str, Any]]:
        current = {param: self.params.get(param) for param in spec.params}
        links = []
        for label, values in date_choices(spec.nullable):
            wanted = {param: values.get(param.rpartition("__")[2]) for param in spec.params}
            links.append(
                {
                    "label": label,
                    "url": self.url_with(**wanted, p=None),
                    "selected": wanted == current,
                }
            )
        return links

    def hierarchy_links(self) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """Return the ``date_hierarchy`` links (see :meth:`DateHierarchy.links`)."""
        if self.hierarchy is None:
            return None, []
        filtered = self.filtered_statement(hierarchy=False)
        self._aliases = {}
        return self.hierarchy.links(self.session, filtered, self.url_with)

    def hidden_filter_params(self, spec: FilterSpec | None = None) -> list[tuple[str, str]]:
        """Return the active filter parameters, for hidden inputs of a GET form.

        Args:
            spec: Leave this filter's own parameters out (its form sets them).
        """
        skip = set(spec.params) if spec is not None else set()
        names = [param for each in self.filters for param in each.params]
        if self.hierarchy is not None:
            names.extend(self.hierarchy.params)
        return [
            (param, self.params[param])
            for param in names
            if param in self.params and param not in skip
        ]


def join_field(
    model_admin: ModelAdmin, statement: Select[Any], name: str, aliases: dict[str, Any]
) -> tuple[Select[Any], Any]:
    """Return ``statement`` (outer-joined if ``name`` is ``rel__field``) and ``name``'s SQL.

    A many-to-one relationship is joined once per statement: ``aliases``
    (``{relationship key: aliased target}``) remembers the joins already made,
    so that search, ordering and filters share one join.

    Raises:
        TypeError: When ``rel`` is not many-to-one or ``field`` not one of its columns.
    """
    related = _relation_field(model_admin, name)
    if related is None:
        return statement, getattr(model_admin.model, name)
    rel_name, target, target_field = related
    alias = aliases.get(rel_name)
    if alias is None:
        alias = aliased(target)
        aliases[rel_name] = alias
        relationship = getattr(model_admin.model, rel_name)
        statement = statement.outerjoin(relationship.of_type(alias))
    return statement, getattr(alias, target_field)


def _collection_field(model_admin: ModelAdmin, name: str) -> tuple[Any, Any] | None:
    """Return ``(relationship attribute, target column)`` when ``name`` follows a collection."""
    if "__" not in name:
        return None
    rel_name, _, target_field = name.partition("__")
    rel = model_admin.mapper.relationships.get(rel_name)
    if rel is None or rel.direction is RelationshipDirection.MANYTOONE:
        return None
    if target_field not in rel.mapper.column_attrs:
        raise TypeError(f"{type(model_admin).__name__}: {name!r}: no column {target_field!r}")
    return getattr(model_admin.model, rel_name), getattr(rel.mapper.class_, target_field)


def search_where(
    model_admin: ModelAdmin,
    statement: Select[Any],
    terms: Sequence[str],
    dialect: str,
    aliases: dict[str, Any],
) -> Select[Any]:
    """Narrow ``statement`` to the rows matching every term in one of ``search_fields``.

    Django's ``ModelAdmin.get_search_results``: the words are ANDed, the
    fields ORed; ``^`` starts with, ``=`` equals, ``@`` full text on
    PostgreSQL; all ignore case on every backend. ``rel__field`` through a
    many-to-one relationship is an outer join (shared with ordering, through
    ``aliases``); through a one-to-many or many-to-many relationship it is an
    ``EXISTS`` subquery, so that a row matching through several children is
    listed once (Django needs ``distinct()`` there). Either way the page is
    one query, never one per row.

    Raises:
        TypeError: When a search field names a column that does not exist.
    """
    for term in terms:
        clauses: list[ColumnElement[bool]] = []
        for spec in model_admin.search_fields:
            lookup = spec[0] if spec[:1] in ("^", "=", "@") else ""
            name = spec[1:] if lookup else spec
            collection = _collection_field(model_admin, name)
            if collection is not None:
                relationship, target_column = collection
                clause = _search_clause(target_column, lookup, term, dialect)
                if clause is not None:
                    clauses.append(relationship.any(clause))
                continue
            statement, expression = join_field(model_admin, statement, name, aliases)
            clause = _search_clause(expression, lookup, term, dialect)
            if clause is not None:
                clauses.append(clause)
        statement = statement.where(or_(*clauses) if clauses else false())
    return statement


def _pk_attr(model: Any) -> Any:
    from sqlalchemy import inspect

    mapper = inspect(model)
    return getattr(model, mapper.get_property_by_column(mapper.primary_key[0]).key)


def _escape_like(term: str) -> str:
    return term.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _search_clause(expression: Any, lookup: str, term: str, dialect: str) -> Any:
    """Return the SQL of one search field for one term, or None when it cannot match."""
    sql_type = getattr(expression, "type", None)
    if not isinstance(sql_type, String | Text):
        # NOTE: a number column matches a term that is that number, exactly.
        try:
            python_type = sql_type.python_type if sql_type is not None else str
        except NotImplementedError:
            return None
        if python_type is int and term.isascii() and term.isdigit() and len(term) <= 18:
            return expression == int(term)
        return None
    if lookup == "=":
        return func.lower(expression) == term.lower()
    if lookup == "@" and dialect == "postgresql":
        return expression.match(term)
    pattern = _escape_like(term) + "%" if lookup == "^" else f"%{_escape_like(term)}%"
    # NOTE: lower(x) LIKE lower(y) on every backend, case-insensitive (Django
    # uses UPPER() LIKE UPPER()). PERF: on PostgreSQL it scans a big table
    # about 20% faster than ILIKE.
    folded = func.lower(expression).like(func.lower(literal(pattern)), escape="!")
    if _caseless(term):
        # PERF: a term without letters ("123456", "2024-05") matches x exactly
        # when it matches lower(x), so "x LIKE y" is added before it: without
        # an index that cheap test rejects nearly every row and lower() runs on
        # the few left (4x faster on PostgreSQL's 1M-row scan, where lower()
        # is most of the time); with a trigram index on lower(x) the second
        # clause still uses it.
        return and_(expression.like(literal(pattern), escape="!"), folded)
    return folded


def _caseless(term: str) -> bool:
    """Return whether ``term`` has no letters: ASCII digits, punctuation and spaces only.

    Case folding never produces or removes such characters (Unicode's
    lowercase mappings map letters to letters), so for these terms a
    case-sensitive match is the case-insensitive one.
    """
    return term.isascii() and not any(char.isalpha() for char in term)
