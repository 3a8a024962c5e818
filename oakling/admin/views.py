"""The admin's pages, served under the site's prefix (``/admin``).

===========================================  ====================================
path                                         page
===========================================  ====================================
``/``                                        index: models and recent actions
``/autocomplete``                            JSON suggestions for foreign keys
``/{app}/{model}``                           changelist (GET), actions (POST)
``/{app}/{model}/add``                       add form
``/{app}/{model}/export``                    the filtered list as CSV
``/{app}/{model}/{id}/change``               change form
``/{app}/{model}/{id}/delete``               delete, after a confirmation page
``/{app}/{model}/{id}/history``              the object's log entries
``/{app}/{model}/{id}/password``             a user's password (``UserAdmin``)
===========================================  ====================================

Every page asks for an active staff user (others are sent to the auth
battery's login page with ``next``) and the model's permission; every
response carries ``Cache-Control: no-store, private`` (with Django's
``never_cache`` directives) and ``X-Frame-Options: DENY``. Handlers are
async: the form is read on the event loop, and the database work runs as
one sync function through ``AsyncSession.run_sync``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from oakling.cachecontrol import add_never_cache_headers
from oakling.datastructures import FormData
from oakling.db import AsyncSession
from oakling.exceptions import HTTPException, ServiceUnavailable
from oakling.i18n.translation import gettext
from oakling.i18n.translation import gettext_noop as N_
from oakling.requests import Request
from oakling.responses import HTMLResponse, RedirectResponse, Response
from oakling.routing import Router

from .changelist import BadQuery, ChangeList
from .models import ADDITION, CHANGE, DELETION, LogEntry
from .options import FormInvalid, ModelAdmin

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .sites import Admin

__all__ = ["build_router", "display"]

NOT_FOUND = N_("Not found: there is no such object, or you may not see it.")
_TITLES = {400: N_("Bad request"), 403: N_("Permission denied"), 404: N_("Not found")}
_MAY_NOT = {
    "view": N_("You may not view %(name)s."),
    "add": N_("You may not add %(name)s."),
    "change": N_("You may not change %(name)s."),
    "delete": N_("You may not delete %(name)s."),
}
_MAX_SELECTED = 1000
_Handler = Callable[..., Awaitable[Response]]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _secure(response: Response) -> Response:
    # SECURITY: admin pages hold one user's data and forms: never cached,
    # never framed (clickjacking).
    add_never_cache_headers(response.headers)
    response.headers["x-frame-options"] = "DENY"
    return response


def _site(request: Request, name: str) -> Admin:
    return request.app.extensions[name]  # type: ignore[no-any-return]


def _page(name: str) -> Callable[[_Handler], _Handler]:
    """Wrap a page: the staff check, the error page and the security headers."""

    def decorate(view: _Handler) -> _Handler:
        @functools.wraps(view)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
            site = _site(request, name)
            try:
                user = request.scope.get("user")
                if user is None or not user.is_authenticated:
                    return _secure(_to_login(request))
                if not (user.is_active and user.is_staff):
                    raise _Refused(403, N_("Your account may not use the admin site."))
                response = await view(request, *args, **kwargs)
            except _Refused as ex:
                response = _error(request, site, ex.status, ex.message)
            except BadQuery as ex:
                response = _error(request, site, 400, str(ex))
            except ServiceUnavailable:
                raise
            except HTTPException as ex:
                if ex.status_code >= 500:
                    raise
                response = _error(request, site, ex.status_code, str(ex.detail))
            return _secure(response)

        return wrapper

    return decorate


def _to_login(request: Request) -> Response:
    auth = request.app.extensions["auth"]
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{auth.login_url}?next={quote(target, safe='/')}", status_code=303)


def _render(
    request: Request, site: Admin, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    full = {"site": site, "display": display, **context}
    model_admin = context.get("model_admin")
    if model_admin is not None:
        template = _template_for(request, model_admin, template)
    return request.app.templates.response(request, template, full, status)


_TEMPLATE_OPTIONS = {
    "admin/change_list.html": "change_list_template",
    "admin/change_form.html": "change_form_template",
    "admin/delete_confirmation.html": "delete_confirmation_template",
    "admin/delete_selected_confirmation.html": "delete_selected_confirmation_template",
    "admin/object_history.html": "object_history_template",
    "admin/action_form.html": "action_form_template",
}


def _template_for(request: Request, model_admin: ModelAdmin, default: str) -> str:
    """Return the ModelAdmin's template for a page, else Django's per-model, per-app lookup."""
    option = _TEMPLATE_OPTIONS.get(default)
    if option is None:
        return default
    custom = getattr(model_admin, option, None)
    if custom:
        return str(custom)
    cache: dict[str, str] = model_admin.__dict__.setdefault("_template_names", {})
    found = cache.get(default)
    if found is None:
        page = default.removeprefix("admin/")
        label, name = model_admin.app_label, model_admin.model_name
        candidates = [f"admin/{label}/{name}/{page}", f"admin/{label}/{page}", default]
        # PERF: looked up once per ModelAdmin and page, not on every request.
        found = request.app.templates.env.select_template(candidates).name or default
        cache[default] = found
    return found


def _error(request: Request, site: Admin, status: int, message: str) -> HTMLResponse:
    # NOTE: constant messages are marked with N_ and translated here.
    title = gettext(_TITLES.get(status, N_("Error")))
    context = {"title": title, "message": gettext(message), "status": status}
    return _render(request, site, "admin/error.html", context, status)


# -- values ----------------------------------------------------------------------


def display(value: Any) -> Markup:
    """Return ``value`` as escaped HTML for a list or a read-only field.

    None is "-", booleans "Yes"/"No", datetimes ISO 8601 to the minute; a
    string that is an ``http``/``https`` URL is a link. Nothing else is ever
    a link (``javascript:`` stays text), and everything is escaped.
    """
    if value is None:
        return Markup('<span class="empty">-</span>')
    if isinstance(value, bool):
        return Markup("Yes") if value else Markup("No")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)  # NOTE: pages say "UTC"
        return escape(value.isoformat(sep=" ", timespec="minutes"))
    if isinstance(value, date | time):
        return escape(value.isoformat())
    text = (
        str(getattr(value, "value", value))
        if hasattr(value, "name") and hasattr(value, "value")
        else str(value)
    )
    if _is_web_url(text):
        return Markup('<a href="{0}" rel="noopener noreferrer nofollow">{0}</a>').format(text)
    return escape(text)


def _is_web_url(text: str) -> bool:
    if not text.startswith(("http://", "https://")) or any(ch.isspace() for ch in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# -- lookups ---------------------------------------------------------------------------


def _model_admin(site: Admin, request: Request, app_label: str, model_name: str) -> ModelAdmin:
    model_admin = site.model_admin(app_label, model_name)
    if model_admin is None:
        raise _Refused(404, N_("Not found: no such model on this site."))
    return model_admin


def _require(model_admin: ModelAdmin, request: Request, perm: str, obj: Any = None) -> None:
    if not model_admin.has_permission(request, perm, obj):
        template = _MAY_NOT.get(perm)
        text = (
            gettext(template) % {"name": model_admin.verbose_name_plural}
            if template is not None
            else f"You may not {perm} {model_admin.verbose_name_plural}."
        )
        raise _Refused(403, text)


def _parse_id(model_admin: ModelAdmin, raw: str) -> Any:
    """Return the primary key in ``raw``, or raise the same 404 as a missing object."""
    try:
        python_type = model_admin.pk_column.type.python_type
    except NotImplementedError:
        python_type = str
    if python_type is int:
        # SECURITY: plain digits within BIGINT; anything else is "not found".
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            raise _Refused(404, NOT_FOUND)
        return int(raw)
    if len(raw) > 255:
        raise _Refused(404, NOT_FOUND)
    try:
        return python_type(raw)
    except (TypeError, ValueError) as ex:
        raise _Refused(404, NOT_FOUND) from ex


def _object(model_admin: ModelAdmin, request: Request, session: Session, raw_id: str) -> Any:
    # SECURITY: an object outside get_queryset and a missing one get the same
    # 404 and the same body, so ids are no oracle.
    obj = model_admin.get_object(request, session, _parse_id(model_admin, raw_id))
    if obj is None:
        raise _Refused(404, NOT_FOUND)
    return obj


def _log(
    session: Session,
    request: Request,
    model_admin: ModelAdmin,
    obj: Any,
    flag: int,
    message: list[dict[str, Any]],
    object_id: Any = None,
) -> None:
    """Add a LogEntry to the request's transaction (written with the change).

    ``message`` is the structured change message (:mod:`oakling.admin.changes`),
    stored as JSON and rendered in the reader's language.
    """
    from .changes import dump_change_message

    user = request.user
    pk = object_id if object_id is not None else getattr(obj, model_admin.pk_attr)
    session.add(
        LogEntry(
            user_id=user.id,
            username=user.username,
            model=f"{model_admin.app_label}.{model_admin.model_name}",
            object_id=str(pk),
            object_repr=model_admin.object_repr(obj)[:200],
            action_flag=flag,
            change_message=dump_change_message(message),
        )
    )


def _changed_message(
    model_admin: ModelAdmin,
    specs: dict[str, Any],
    before: dict[str, Any],
    obj: Any,
    changed: list[str],
    inline_messages: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    from .changes import field_changes

    parts: list[dict[str, Any]] = []
    if changed:
        fields = field_changes(model_admin, specs, before, obj, changed)
        parts.append({"changed": {"fields": fields}})
    parts.extend(inline_messages)
    return parts


async def _form_data(request: Request) -> FormData | None:
    return await request.form() if request.method == "POST" else None


def _base_context(site: Admin, request: Request, model_admin: ModelAdmin | None) -> dict[str, Any]:
    context: dict[str, Any] = {"model_admin": model_admin}
    if model_admin is not None:
        context["changelist_url"] = site.url(model_admin.app_label, model_admin.model_name)
        context["can_add"] = model_admin.has_add_permission(request)
    return context


# -- pages -------------------------------------------------------------------------------


def _index(site: Admin, request: Request, session: Session) -> Response:
    apps: dict[str, list[dict[str, Any]]] = {}
    for model_admin in sorted(
        site.registry.values(), key=lambda ma: (ma.app_label, ma.verbose_name)
    ):
        if not model_admin.has_module_permission(request):
            continue
        base = site.url(model_admin.app_label, model_admin.model_name)
        can_view = model_admin.has_view_permission(request)
        apps.setdefault(model_admin.app_label, []).append(
            {
                "count": _index_count(request, session, model_admin) if can_view else None,
                "name": model_admin.title_plural,
                "url": base if model_admin.has_view_permission(request) else None,
                "add_url": f"{base}/add" if model_admin.has_add_permission(request) else None,
            }
        )
    recent = session.scalars(
        select(LogEntry)
        .where(LogEntry.user_id == request.user.id)
        .order_by(LogEntry.action_time.desc(), LogEntry.id.desc())
        .limit(10)
    ).all()
    context = {"title": gettext("Site administration"), "apps": apps, "recent": recent}
    return _render(request, site, "admin/index.html", context)


#: The index counts rows up to this many, then shows "10000+".
INDEX_COUNT_LIMIT = 10_000


def _index_count(request: Request, session: Session, model_admin: ModelAdmin) -> str:
    from sqlalchemy import func

    # PERF: a bounded count, like the changelist's: never a COUNT(*) of a big table.
    bounded = model_admin.get_queryset(request).limit(INDEX_COUNT_LIMIT + 1).subquery()
    counted = int(session.scalar(select(func.count()).select_from(bounded)) or 0)
    return f"{INDEX_COUNT_LIMIT}+" if counted > INDEX_COUNT_LIMIT else str(counted)


def _changelist(
    site: Admin, request: Request, session: Session, model_admin: ModelAdmin, form: FormData | None
) -> Response:
    from .editable import EditableRows

    _require(model_admin, request, "view")
    can_change = model_admin.has_change_permission(request)
    editable = None
    status = 200
    if form is not None and "_save" in form and model_admin.list_editable:
        _require(model_admin, request, "change")
        changelist = ChangeList(model_admin, request, session)  # NOTE: checks the query string
        editable = EditableRows(model_admin, request, session)
        try:
            posted = editable.read(form)
        except ValueError as ex:
            raise _Refused(400, str(ex)) from ex
        if editable.save(posted):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(target, status_code=303)
        status = 400
    elif form is not None:
        return _run_action(site, request, session, model_admin, form)
    changelist = ChangeList(model_admin, request, session)
    changelist.load()
    if model_admin.list_editable and can_change and editable is None:
        editable = EditableRows(model_admin, request, session)
        editable.show(changelist.results)
    rows = []
    for obj in changelist.results:
        pk = getattr(obj, model_admin.pk_attr)
        cells = []
        for column in changelist.columns:
            if (
                editable is not None
                and pk in editable.forms
                and column.name in model_admin.list_editable
            ):
                cells.append(editable.cell(obj, column.name, column.label))
            else:
                cells.append(display(column.getter(obj)))
        rows.append(
            {
                "pk": pk,
                "url": site.url(model_admin.app_label, model_admin.model_name, pk, "change"),
                "cells": cells,
            }
        )
    per_page = model_admin.list_per_page
    pages = None
    if changelist.count_kind != "more":
        pages = max(1, -(-changelist.count // per_page))
    export_url = None
    if model_admin.has_export_permission(request):
        query = changelist.url_with(p=None)
        export_url = site.url(model_admin.app_label, model_admin.model_name, "export") + (
            query if query != "?" else ""
        )
    context = {
        **_base_context(site, request, model_admin),
        "export_url": export_url,
        "title": (
            gettext("Select %(name)s to change")
            if can_change
            else gettext("Select %(name)s to view")
        )
        % {"name": model_admin.verbose_name},
        "cl": changelist,
        "hierarchy": changelist.hierarchy_links(),
        "editable_rows": len([row for row in rows if editable and row["pk"] in editable.forms]),
        "headers": [changelist.header(index) for index in range(len(changelist.columns))],
        "rows": rows,
        "filters": [(spec, changelist.filter_choices(spec)) for spec in changelist.filters],
        "actions": model_admin.get_actions(request),
        "pages": pages,
        "prev_url": changelist.url_with(p=str(changelist.page - 1))
        if changelist.page > 1
        else None,
        "next_url": changelist.next_url(),
    }
    return _render(request, site, "admin/change_list.html", context, status)


def _export(site: Admin, request: Request, session: Session, model_admin: ModelAdmin) -> Response:
    from .export import csv_response

    _require(model_admin, request, "view")
    if not model_admin.has_export_permission(request):
        raise _Refused(403, f"You may not export {model_admin.verbose_name_plural}.")
    changelist = ChangeList(model_admin, request, session)
    response = csv_response(changelist, model_admin.list_max_export)
    if response is None:
        raise _Refused(
            400,
            f"The list has more than {model_admin.list_max_export} rows: "
            "filter or search it first, then export.",
        )
    return response


def _selected(
    request: Request, session: Session, model_admin: ModelAdmin, form: FormData
) -> list[Any]:
    raw_ids = [value for value in form.getlist("_selected_action") if isinstance(value, str)]
    if len(raw_ids) > _MAX_SELECTED:
        raise _Refused(
            400, gettext("Select at most %(max)d objects at a time.") % {"max": _MAX_SELECTED}
        )
    try:
        ids = [_parse_id(model_admin, raw) for raw in raw_ids]
    except _Refused as ex:
        raise _Refused(400, N_("A selected id is not valid.")) from ex
    if not ids:
        return []
    pk = getattr(model_admin.model, model_admin.pk_attr)
    # SECURITY: only objects in the user's queryset can be acted on; forged
    # ids of others' objects are silently not selected.
    statement = model_admin.get_queryset(request).where(pk.in_(ids))
    return list(session.scalars(statement).unique().all())


def _run_action(
    site: Admin, request: Request, session: Session, model_admin: ModelAdmin, form: FormData
) -> Response:
    name = form.get("action")
    actions = model_admin.get_actions(request)
    if not isinstance(name, str) or name not in actions:
        known = name == "delete_selected" or (isinstance(name, str) and name in model_admin.actions)
        if known:
            raise _Refused(403, N_("You may not run this action."))
        raise _Refused(400, N_("No such action."))
    objects = _selected(request, session, model_admin, form)
    back = site.url(model_admin.app_label, model_admin.model_name)
    if not objects:
        return RedirectResponse(back, status_code=303)
    if name == "delete_selected":
        for obj in objects:
            _require(model_admin, request, "delete", obj)
        if form.get("post") != "yes":
            context = {
                **_base_context(site, request, model_admin),
                "title": gettext("Are you sure?"),
                "objects": [
                    (getattr(obj, model_admin.pk_attr), model_admin.object_repr(obj))
                    for obj in objects
                ],
                "cascaded": _cascaded(model_admin, session, objects),
            }
            return _render(request, site, "admin/delete_selected_confirmation.html", context)
        for obj in objects:
            pk = getattr(obj, model_admin.pk_attr)
            _log(
                session, request, model_admin, obj, DELETION, [{"deleted": {"selected": True}}], pk
            )
            model_admin.delete_model(request, session, obj)
        _flush_or_refuse(session)
        return RedirectResponse(back, status_code=303)
    func, description = actions[name]
    for obj in objects:
        # SECURITY: the per-object hooks too, not only the model permission.
        for needed in getattr(func, "allowed_permissions", ("change",)):
            if not model_admin.has_permission(request, needed, obj):
                raise _Refused(403, N_("You may not run this action."))
    form_class = getattr(func, "action_form", None)
    if form_class is None:
        result = func(request, session, objects)
    else:
        applied = "_apply" in form
        action_form = form_class(form if applied else None, meta={"csrf_context": request})
        if not (applied and action_form.validate()):
            context = {
                **_base_context(site, request, model_admin),
                "title": description,
                "action_name": name,
                "action_form": action_form,
                "objects": [
                    (getattr(obj, model_admin.pk_attr), model_admin.object_repr(obj))
                    for obj in objects
                ],
            }
            status = 400 if applied else 200
            return _render(request, site, "admin/action_form.html", context, status)
        result = func(request, session, objects, action_form)
    for obj in objects:
        _log(session, request, model_admin, obj, CHANGE, [{"action": {"description": description}}])
    _flush_or_refuse(session)
    if isinstance(result, Response):
        return result
    return RedirectResponse(back, status_code=303)


def _flush_or_refuse(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as ex:
        session.rollback()
        raise _Refused(
            400, N_("The database refused the change: other rows still refer to these objects.")
        ) from ex


def _readonly(model_admin: ModelAdmin, obj: Any) -> list[tuple[str, Markup]]:
    rows = []
    for name in model_admin.readonly_fields:
        method = getattr(type(model_admin), name, None)
        if callable(method):
            label = str(getattr(method, "short_description", name.replace("_", " ").capitalize()))
            value = getattr(model_admin, name)(obj) if obj is not None else None
        else:
            label = name.replace("_", " ").capitalize()
            value = getattr(obj, name, None) if obj is not None else None
        rows.append((label, display(value)))
    return rows


def _form_page(
    site: Admin,
    request: Request,
    session: Session,
    model_admin: ModelAdmin,
    form_data: FormData | None,
    obj: Any,
) -> Response:
    from .forms import autocomplete_labels, fill_choices, initial_data, layout
    from .inlines import formsets_of

    adding = obj is None
    form_class, specs = model_admin.get_form(request, obj)
    if form_data is None:
        data = initial_data(obj, specs) if obj is not None else None
        form = form_class(None, meta={"csrf_context": request}, data=data)
    else:
        form = form_class(form_data, meta={"csrf_context": request})
    fill_choices(form, specs, session, site.label)
    autocomplete_labels(request, session, form, specs)
    try:
        formsets = formsets_of(model_admin, request, session, obj, form_data)
    except ValueError as ex:
        raise _Refused(400, str(ex)) from ex
    status = 200
    if form_data is not None:
        if not adding and not model_admin.has_change_permission(request, obj):
            raise _Refused(
                403, gettext(_MAY_NOT["change"]) % {"name": model_admin.verbose_name_plural}
            )
        added_row = form_data.get("_addrow")
        if isinstance(added_row, str) and added_row:
            # NOTE: "Add another" without JavaScript: the page again with the
            # posted values and one more blank row; nothing is validated or saved.
            for formset in formsets:
                if formset.prefix == added_row:
                    formset.add_blank_row()
            form_data = None
    if form_data is not None:
        valid = form.validate()
        # NOTE: every inline is validated, so that all errors show at once.
        valid = all([formset.is_valid() for formset in formsets]) and valid
        saved = _save(request, session, model_admin, form, specs, obj, formsets) if valid else None
        if saved is not None:
            return _after_save(site, model_admin, form_data, saved)
        status = 400
    pk = getattr(obj, model_admin.pk_attr) if obj is not None else None
    base = site.url(model_admin.app_label, model_admin.model_name)
    can_change = adding or model_admin.has_change_permission(request, obj)
    readonly_rows = _readonly(model_admin, obj) if obj is not None else []
    readonly_by_name = dict(zip(model_admin.readonly_fields, readonly_rows, strict=False))
    fieldsets, placed = layout(model_admin, form, readonly_by_name)
    context = {
        **_base_context(site, request, model_admin),
        "title": (
            gettext("Add %(name)s")
            if adding
            else gettext("Change %(name)s")
            if can_change
            else gettext("View %(name)s")
        )
        % {"name": model_admin.verbose_name},
        "form": form,
        "adding": adding,
        "can_save": can_change,
        "object_repr": model_admin.object_repr(obj) if obj is not None else "",
        "readonly": [row for name, row in readonly_by_name.items() if name not in placed],
        "fieldsets": fieldsets,
        "inline_formsets": formsets,
        "delete_url": f"{base}/{pk}/delete"
        if obj is not None and model_admin.has_delete_permission(request, obj)
        else None,
        "history_url": f"{base}/{pk}/history" if obj is not None else None,
        "password_url": f"{base}/{pk}/password"
        if obj is not None and getattr(model_admin, "has_password_page", False) and can_change
        else None,
    }
    return _render(request, site, "admin/change_form.html", context, status)


def _save(
    request: Request,
    session: Session,
    model_admin: ModelAdmin,
    form: Any,
    specs: dict[str, Any],
    obj: Any,
    formsets: Sequence[Any] = (),
) -> Any:
    """Save the valid form and its inlines; return the object, or None with the errors on ``form``.

    The parent, its children and the one ``LogEntry`` go in the request's
    transaction: all of them are committed, or none.
    """
    from .forms import initial_data

    adding = obj is None
    try:
        before = initial_data(obj, specs) if obj is not None else {}
        saved, changed = model_admin.construct(request, session, form, specs, obj)
        model_admin.save_model(request, session, saved, not adding)
        session.flush()
        inline_messages: list[dict[str, Any]] = []
        for formset in formsets:
            inline_messages.extend(formset.save(saved))
        session.flush()
        if adding:
            record = [{"added": {}}, *inline_messages]
        else:
            record = _changed_message(model_admin, specs, before, saved, changed, inline_messages)
        _log(session, request, model_admin, saved, ADDITION if adding else CHANGE, record)
        session.flush()
    except FormInvalid as ex:
        # NOTE: nothing of the refused form may reach the request's commit.
        session.rollback()
        for name, message in ex.errors.items():
            if name in form:
                form[name].errors = [*form[name].errors, message]
            else:
                form.form_errors.append(message)
        if ex.message and not ex.errors:
            form.form_errors.append(ex.message)
        return None
    except IntegrityError:
        session.rollback()
        form.form_errors.append(
            "The database refused these values: one is already taken, or refers to a row "
            "that does not exist."
        )
        return None
    return saved


def _after_save(site: Admin, model_admin: ModelAdmin, form_data: FormData, obj: Any) -> Response:
    base = site.url(model_admin.app_label, model_admin.model_name)
    pk = getattr(obj, model_admin.pk_attr)
    if "_continue" in form_data:
        target = f"{base}/{pk}/change"
    elif "_addanother" in form_data:
        target = f"{base}/add"
    else:
        target = base
    return RedirectResponse(target, status_code=303)


_CASCADE_SHOWN = 50


def _cascaded(model_admin: ModelAdmin, session: Session, objects: list[Any]) -> list[str]:
    """Return what the database deletes with ``objects`` (``ON DELETE CASCADE`` rows).

    Rows of every mapped model whose foreign key to this table cascades, at
    most 50 per model with a count of the rest (one level deep).
    """
    from sqlalchemy import func

    table = model_admin.mapper.local_table
    ids = [getattr(obj, model_admin.pk_attr) for obj in objects]
    found: list[str] = []
    for mapper in model_admin.mapper.registry.mappers:
        for key in getattr(mapper.local_table, "foreign_keys", ()):
            if key.column.table is not table or (key.ondelete or "").upper() != "CASCADE":
                continue
            column = key.parent
            label = getattr(mapper.class_, "__name__", "row")
            rows = session.scalars(
                select(mapper.class_).where(column.in_(ids)).limit(_CASCADE_SHOWN)
            ).all()
            found.extend(f"{label}: {row}" for row in rows)
            if len(rows) == _CASCADE_SHOWN:
                total = session.scalar(select(func.count()).where(column.in_(ids))) or 0
                found.append(f"... and {int(total) - _CASCADE_SHOWN} more {label} rows")
    return found


def _delete_page(
    site: Admin, request: Request, session: Session, model_admin: ModelAdmin, form: Any, obj: Any
) -> Response:
    _require(model_admin, request, "delete", obj)
    base = site.url(model_admin.app_label, model_admin.model_name)
    if form is not None:
        pk = getattr(obj, model_admin.pk_attr)
        _log(session, request, model_admin, obj, DELETION, [{"deleted": {}}], pk)
        model_admin.delete_model(request, session, obj)
        _flush_or_refuse(session)
        return RedirectResponse(base, status_code=303)
    context = {
        **_base_context(site, request, model_admin),
        "title": gettext("Are you sure?"),
        "object_repr": model_admin.object_repr(obj),
        "cascaded": _cascaded(model_admin, session, [obj]),
        "object_url": f"{base}/{getattr(obj, model_admin.pk_attr)}/change",
    }
    return _render(request, site, "admin/delete_confirmation.html", context)


def _history_page(
    site: Admin, request: Request, session: Session, model_admin: ModelAdmin, obj: Any
) -> Response:
    pk = getattr(obj, model_admin.pk_attr)
    entries = session.scalars(
        select(LogEntry)
        .where(
            LogEntry.model == f"{model_admin.app_label}.{model_admin.model_name}",
            LogEntry.object_id == str(pk),
        )
        .order_by(LogEntry.action_time, LogEntry.id)
    ).all()
    context = {
        **_base_context(site, request, model_admin),
        "title": gettext("Change history: %(object)s") % {"object": model_admin.object_repr(obj)},
        "entries": entries,
        "object_url": site.url(model_admin.app_label, model_admin.model_name, pk, "change"),
    }
    return _render(request, site, "admin/object_history.html", context)


def _password_page(
    site: Admin,
    request: Request,
    session: Session,
    model_admin: ModelAdmin,
    form_data: Any,
    obj: Any,
) -> Response:
    from oakling.auth.services import set_password_sync
    from oakling.auth.validators import PasswordValidationError

    from .forms import AdminPasswordChangeForm

    if not getattr(model_admin, "has_password_page", False):
        raise _Refused(404, NOT_FOUND)
    _require(model_admin, request, "change", obj)
    form = AdminPasswordChangeForm(form_data, meta={"csrf_context": request})
    status = 200
    if form_data is not None:
        if form.validate():
            try:
                set_password_sync(session, obj, form.password1.data)
            except PasswordValidationError as ex:
                form.password2.errors = [*form.password2.errors, *ex.messages]
            else:
                _log(session, request, model_admin, obj, CHANGE, [{"password": {}}])
                base = site.url(model_admin.app_label, model_admin.model_name)
                return RedirectResponse(
                    f"{base}/{getattr(obj, model_admin.pk_attr)}/change", status_code=303
                )
        status = 400
    context = {
        **_base_context(site, request, model_admin),
        "title": gettext("Change password: %(object)s") % {"object": model_admin.object_repr(obj)},
        "form": form,
        "object_url": site.url(
            model_admin.app_label,
            model_admin.model_name,
            getattr(obj, model_admin.pk_attr),
            "change",
        ),
    }
    return _render(request, site, "admin/password_change.html", context, status)


def _custom_view(model_admin: ModelAdmin, view: Callable[..., Any]) -> _Handler:
    async def custom(request: Request) -> Response:
        _require(model_admin, request, "view")
        result = view(request)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, Response):
            raise TypeError(f"{view!r} returned {type(result).__name__}, not a Response")
        return result

    custom.__name__ = getattr(view, "__name__", "custom_view")
    return custom


# -- routes ---------------------------------------------------------------------------------


def build_router(site: Admin) -> Router:
    """Return the site's router (named after the site); see the module doc."""
    from .sites import TEMPLATES_DIR

    name = site.name
    page = _page(name)

    @page
    async def index(request: Request, db: AsyncSession) -> Response:
        return await db.run_sync(lambda session: _index(site, request, session))

    @page
    async def changelist(
        request: Request, db: AsyncSession, app_label: str, model_name: str
    ) -> Response:
        model_admin = _model_admin(site, request, app_label, model_name)
        form = await _form_data(request)
        return await db.run_sync(
            lambda session: _changelist(site, request, session, model_admin, form)
        )

    @page
    async def autocomplete(request: Request, db: AsyncSession) -> Response:
        from oakling.responses import JSONResponse

        from .autocomplete import AutocompleteRefused, search_related

        params: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            if key in params:
                raise _Refused(400, f"{key[:50]!r} is given more than once")
            params[key] = value
        try:
            found = await db.run_sync(
                lambda session: search_related(site, request, session, params)
            )
        except AutocompleteRefused as ex:
            return JSONResponse({"error": str(ex)}, status_code=ex.status)
        return JSONResponse(found)

    @page
    async def export(
        request: Request, db: AsyncSession, app_label: str, model_name: str
    ) -> Response:
        model_admin = _model_admin(site, request, app_label, model_name)
        return await db.run_sync(lambda session: _export(site, request, session, model_admin))

    @page
    async def add(request: Request, db: AsyncSession, app_label: str, model_name: str) -> Response:
        model_admin = _model_admin(site, request, app_label, model_name)
        _require(model_admin, request, "add")
        form = await _form_data(request)
        return await db.run_sync(
            lambda session: _form_page(site, request, session, model_admin, form, None)
        )

    def _with_object(
        request: Request, session: Session, model_admin: ModelAdmin, object_id: str
    ) -> Any:
        _require(model_admin, request, "view")
        obj = _object(model_admin, request, session, object_id)
        _require(model_admin, request, "view", obj)
        return obj

    @page
    async def change(
        request: Request, db: AsyncSession, app_label: str, model_name: str, object_id: str
    ) -> Response:
        model_admin = _model_admin(site, request, app_label, model_name)
        form = await _form_data(request)

        def work(session: Session) -> Response:
            obj = _with_object(request, session, model_admin, object_id)
            return _form_page(site, request, session, model_admin, form, obj)

        return await db.run_sync(work)

    @page
    async def delete(
        request: Request, db: AsyncSession, app_label: str, model_name: str, object_id: str
    ) -> Response:
        model_admin = _model_admin(site, request, app_label, model_name)
        form = await _form_data(request)

        def work(session: Session) -> Response:
            obj = _with_object(request, session, model_admin, object_id)
            return _delete_page(site, request, session, model_admin, form, obj)

        return await db.run_sync(work)

    @page
    async def history(
        request: Request, db: AsyncSession, app_label: str, model_name: str, object_id: str
    ) -> Response:
        model_admin = _model_admin(site, request, app_label, model_name)

        def work(session: Session) -> Response:
            obj = _with_object(request, session, model_admin, object_id)
            return _history_page(site, request, session, model_admin, obj)

        return await db.run_sync(work)

    @page
    async def password(
        request: Request, db: AsyncSession, app_label: str, model_name: str, object_id: str
    ) -> Response:
        model_admin = _model_admin(site, request, app_label, model_name)
        form = await _form_data(request)

        def work(session: Session) -> Response:
            obj = _with_object(request, session, model_admin, object_id)
            return _password_page(site, request, session, model_admin, form, obj)

        return await db.run_sync(work)

    # NOTE: HTML pages for staff, not an API: left out of the OpenAPI document.
    router = Router(name=name, template_folder=TEMPLATES_DIR, include_in_schema=False)
    # NOTE: a ModelAdmin's own views first, so that no pattern of the site hides them.
    for model_admin in site.registry.values():
        for path, view, methods, view_name in model_admin.get_urls():
            route_name = f"{model_admin.app_label}_{model_admin.model_name}_{view_name}"
            full_path = f"/{model_admin.app_label}/{model_admin.model_name}{path}"
            router.add_route(
                full_path, page(_custom_view(model_admin, view)), methods, name=route_name
            )
    both = ["GET", "POST"]
    model_path = "/{app_label}/{model_name}"
    object_path = model_path + "/{object_id:str}"
    router.add_route("/", index, ["GET"], name="index")
    router.add_route("/autocomplete", autocomplete, ["GET"], name="autocomplete")
    router.add_route(model_path, changelist, both, name="changelist")
    router.add_route(model_path + "/add", add, both, name="add")
    router.add_route(model_path + "/export", export, ["GET"], name="export")
    router.add_route(object_path + "/change", change, both, name="change")
    router.add_route(object_path + "/delete", delete, both, name="delete")
    router.add_route(object_path + "/history", history, ["GET"], name="history")
    router.add_route(object_path + "/password", password, both, name="password")
    return router
