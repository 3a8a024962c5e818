"""Foreign keys as an id input with suggestions from a JSON search (``autocomplete_fields``).

A foreign key named in ``autocomplete_fields`` is not a ``<select>`` of the
related rows (which a big table cannot fill) but a text input of the related
row's id, with the chosen row's name beside it: it works with JavaScript off.
With JavaScript on, ``autocomplete.js`` offers suggestions as you type, read
from ``/<prefix>/autocomplete?app_label=&model_name=&field_name=&term=``
(Django's ``AutocompleteJsonView``), which answers
``{"results": [{"id": "3", "text": "Ann"}], "pagination": {"more": false}}``.

SECURITY: the endpoint answers only for a field listed in the source
``ModelAdmin``'s ``autocomplete_fields`` (or an inline's, for the rows of
inlines), to a user who may view or add the source model and may view the
related one; its rows come from the related
``ModelAdmin``'s ``get_queryset`` and are searched by its ``search_fields``
only. An id typed in the form must be a row of that same queryset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from oakling.requests import Request

    from .options import ModelAdmin
    from .sites import Admin

__all__ = ["PAGE_SIZE", "AutocompleteRefused", "related_admin", "search_related"]

#: Suggestions per answer (Django's is 20).
PAGE_SIZE = 20
_PARAMS = {"app_label", "model_name", "field_name", "term", "page"}


class AutocompleteRefused(Exception):
    """The autocomplete request is refused: ``status`` 400, 403 or 404."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def related_admin(site: Admin, model_admin: ModelAdmin, field_name: str) -> ModelAdmin:
    """Return the ``ModelAdmin`` of the model ``field_name`` (in ``autocomplete_fields``) points to.

    Raises:
        TypeError: When the field is not a many-to-one relationship or its
            foreign-key column, or its model is not on the site with
            ``search_fields`` (checked at startup; Django's admin.E039/E040).
    """
    mapper = model_admin.mapper
    rel = mapper.relationships.get(field_name)
    if rel is None:
        for candidate in mapper.relationships:
            local = list(candidate.local_columns)
            if len(local) == 1 and mapper.get_property_by_column(local[0]).key == field_name:
                rel = candidate
                break
    target_table = None
    if rel is not None and rel.secondary is None and not rel.uselist:
        target_table = rel.mapper.local_table
    elif rel is None and field_name in mapper.column_attrs:
        keys = list(mapper.column_attrs[field_name].columns[0].foreign_keys)
        if len(keys) == 1:
            target_table = keys[0].column.table  # NOTE: a foreign key without a relationship
    if target_table is None:
        raise TypeError(
            f"{type(model_admin).__name__}.autocomplete_fields: {field_name!r} is not a "
            "foreign key (many-to-one)"
        )
    target = next(
        (admin for admin in site.registry.values() if admin.mapper.local_table is target_table),
        None,
    )
    if target is None or not target.search_fields:
        raise TypeError(
            f"{type(model_admin).__name__}.autocomplete_fields: the model of table "
            f"{getattr(target_table, 'name', target_table)!r} must be registered on the site "
            "with search_fields"
        )
    return target


def _source(site: Admin, app_label: str, model_name: str, field_name: str) -> ModelAdmin | None:
    """Return the admin (a registered model's, else an inline's) listing ``field_name``."""
    found = site.model_admin(app_label, model_name)
    if found is not None and field_name in found.autocomplete_fields:
        return found
    for inline in site.inlines():
        if (
            inline.app_label == app_label
            and inline.model_name == model_name
            and field_name in inline.autocomplete_fields
        ):
            return inline
    return None


def search_related(
    site: Admin, request: Request, session: Session, params: dict[str, str]
) -> dict[str, Any]:
    """Answer one autocomplete request (see the module doc for its shape).

    Raises:
        AutocompleteRefused: 400 for unknown or repeated parameters, 404 for
            a model or field that offers no autocomplete, 403 without the
            permissions.
    """
    from .changelist import MAX_QUERY_LENGTH, join_field, search_where

    unknown = set(params) - _PARAMS
    if unknown:
        raise AutocompleteRefused(400, f"{sorted(unknown)[0][:50]!r} is not a parameter here")
    field_name = params.get("field_name", "")
    source = _source(site, params.get("app_label", ""), params.get("model_name", ""), field_name)
    if source is None:
        raise AutocompleteRefused(404, "No such autocomplete field.")
    target = related_admin(site, source, field_name)
    if not (source.has_view_permission(request) or source.has_add_permission(request)):
        raise AutocompleteRefused(403, f"You may not see {source.verbose_name_plural}.")
    # SECURITY: the suggestions are rows of the related model: the user must
    # be allowed to see them (Django's check on the remote ModelAdmin).
    if not target.has_view_permission(request):
        raise AutocompleteRefused(403, f"You may not see {target.verbose_name_plural}.")
    term = params.get("term", "").strip()
    if len(term) > MAX_QUERY_LENGTH:
        raise AutocompleteRefused(400, f"the term is over {MAX_QUERY_LENGTH} characters")
    raw_page = params.get("page", "1")
    if not raw_page.isascii() or not raw_page.isdigit() or not 1 <= int(raw_page[:6]) <= 1000:
        raise AutocompleteRefused(400, "page is a number from 1 to 1000")
    page = int(raw_page)
    statement = target.get_queryset(request)
    dialect = session.get_bind(mapper=target.mapper).dialect.name
    # NOTE: the changelist's search, joins of ``rel__field`` included.
    aliases: dict[str, Any] = {}
    statement = search_where(target, statement, term.split()[:10], dialect, aliases)
    pk = getattr(target.model, target.pk_attr)
    order = []
    for name in target.ordering:
        statement, expression = join_field(target, statement, name.lstrip("-"), aliases)
        order.append(expression.desc() if name.startswith("-") else expression.asc())
    statement = statement.order_by(*order, pk).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    rows = list(session.scalars(statement).unique().all())
    return {
        "results": [
            {"id": str(getattr(obj, target.pk_attr)), "text": target.object_repr(obj)}
            for obj in rows[:PAGE_SIZE]
        ],
        "pagination": {"more": len(rows) > PAGE_SIZE},
    }
