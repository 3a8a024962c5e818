"""The admin's pages, served under the site's prefix (``/admin``).

===========================================  ====================================
path                                         page
===========================================  ====================================
``/``                                        index: models and recent actions
``/{app}/{model}``                           changelist (GET), actions (POST)
``/{app}/{model}/add``                       add form
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
from collections.abc import Awaitable, Callable
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
    return request.app.templates.response(request, template, full, status)


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
    message: str,
    object_id: Any = None,
) -> None:
    """Add a LogEntry to the request's transaction (written with the change)."""
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
            change_message=message,
        )
    )


def _changed_message(model_admin: ModelAdmin, changed: list[str]) -> str:
    if not changed:
        return "No fields changed."
    names = [name.replace("_", " ") for name in changed]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"Changed {joined}."


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
        apps.setdefault(model_admin.app_label, []).append(
            {
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


def _changelist(
    site: Admin, request: Request, session: Session, model_admin: ModelAdmin, form: FormData | None
) -> Response:
    _require(model_admin, request, "view")
    if form is not None:
        return _run_action(site, request, session, model_admin, form)
    changelist = ChangeList(model_admin, request, session)
    changelist.load()
    can_change = model_admin.has_change_permission(request)
    rows = []
    for obj in changelist.results:
        pk = getattr(obj, model_admin.pk_attr)
        rows.append(
            {
                "pk": pk,
                "url": site.url(model_admin.app_label, model_admin.model_name, pk, "change"),
                "cells": [display(column.getter(obj)) for column in changelist.columns],
            }
        )
    per_page = model_admin.list_per_page
    pages = None
    if changelist.count_kind != "more":
        pages = max(1, -(-changelist.count // per_page))
    context = {
        **_base_context(site, request, model_admin),
        "title": (
            gettext("Select %(name)s to change")
            if can_change
            else gettext("Select %(name)s to view")
        )
        % {"name": model_admin.verbose_name},
        "cl": changelist,
        "headers": [changelist.header(index) for index in range(len(changelist.columns))],
        "rows": rows,
        "filters": [(spec, changelist.filter_choices(spec)) for spec in changelist.filters],
        "actions": model_admin.get_actions(request),
        "pages": pages,
        "prev_url": changelist.url_with(p=str(changelist.page - 1))
        if changelist.page > 1
        else None,
        "next_url": changelist.url_with(p=str(changelist.page + 1))
        if changelist.has_next
        else None,
    }
    return _render(request, site, "admin/change_list.html", context)


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
            _log(session, request, model_admin, obj, DELETION, "Deleted (delete selected).", pk)
            model_admin.delete_model(request, session, obj)
        _flush_or_refuse(session)
        return RedirectResponse(back, status_code=303)
    func, description = actions[name]
    result = func(request, session, objects)
    for obj in objects:
        _log(session, request, model_admin, obj, CHANGE, f"Action: {description}.")
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
    from .forms import fill_choices, initial_data

    adding = obj is None
    form_class, specs = model_admin.get_form(request, obj)
    if form_data is None:
        data = initial_data(obj, specs) if obj is not None else None
        form = form_class(None, meta={"csrf_context": request}, data=data)
    else:
        form = form_class(form_data, meta={"csrf_context": request})
    fill_choices(form, specs, session)
    status = 200
    if form_data is not None:
        if not adding and not model_admin.has_change_permission(request, obj):
            raise _Refused(
                403, gettext(_MAY_NOT["change"]) % {"name": model_admin.verbose_name_plural}
            )
        saved = _save(request, session, model_admin, form, specs, obj) if form.validate() else None
        if saved is not None:
            return _after_save(site, model_admin, form_data, saved)
        status = 400
    pk = getattr(obj, model_admin.pk_attr) if obj is not None else None
    base = site.url(model_admin.app_label, model_admin.model_name)
    can_change = adding or model_admin.has_change_permission(request, obj)
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
        "readonly": _readonly(model_admin, obj) if obj is not None else [],
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
) -> Any:
    """Save the valid form; return the object, or None with the errors on ``form``."""
    adding = obj is None
    try:
        saved, changed = model_admin.construct(request, session, form, specs, obj)
        model_admin.save_model(request, session, saved, not adding)
        session.flush()
        if adding:
            _log(session, request, model_admin, saved, ADDITION, "Added.")
        else:
            _log(
                session, request, model_admin, saved, CHANGE, _changed_message(model_admin, changed)
            )
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
        _log(session, request, model_admin, obj, DELETION, "Deleted.", pk)
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
                _log(session, request, model_admin, obj, CHANGE, "Changed password.")
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
    both = ["GET", "POST"]
    model_path = "/{app_label}/{model_name}"
    object_path = model_path + "/{object_id:str}"
    router.add_route("/", index, ["GET"], name="index")
    router.add_route(model_path, changelist, both, name="changelist")
    router.add_route(model_path + "/add", add, both, name="add")
    router.add_route(object_path + "/change", change, both, name="change")
    router.add_route(object_path + "/delete", delete, both, name="delete")
    router.add_route(object_path + "/history", history, ["GET"], name="history")
    router.add_route(object_path + "/password", password, both, name="password")
    return router
