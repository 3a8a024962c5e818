"""``ModelRouter``: list, retrieve, create, update, partial update and delete a model.

DRF's ``ModelViewSet`` as a :class:`~oakling.routing.Router`::

    from oakling.rest import ModelRouter

    class TaskRouter(ModelRouter):
        model = Task
        read_only_fields = ("owner_id",)
        filterset_fields = ("completed", "id")
        ordering_fields = ("id", "title")
        scopes = {"read": "tasks:read", "write": "tasks:write"}

        def get_queryset(self, request):
            return select(Task).where(Task.owner_id == request.user.id)

        def perform_create(self, request, session, obj):
            obj.owner_id = request.user.id
            session.add(obj)

    app.include(TaskRouter(prefix="/api/tasks"))

gives, with DRF's action names (``url_for("task:list")``):

=========  ====================  ================  ===================
method     path                  action            permission (model)
=========  ====================  ================  ===================
GET        ``/api/tasks``        ``list``          ``view`` or ``change``
POST       ``/api/tasks``        ``create``        ``add``
GET        ``/api/tasks/{pk}``   ``retrieve``      ``view`` or ``change``
PUT        ``/api/tasks/{pk}``   ``update``        ``change``
PATCH      ``/api/tasks/{pk}``   ``partial_update`` ``change``
DELETE     ``/api/tasks/{pk}``   ``destroy``       ``delete``
=========  ====================  ================  ===================

Bodies are validated by the Structs of :func:`~oakling.rest.model_schemas`
(422 naming the field), answers are the read Struct (a column left out of
it never leaks), a row outside :meth:`ModelRouter.get_queryset` is a 404
like a missing one, and a constraint violation is a 409 (the db battery's
handler). The handlers run their database work as one sync function: in a
thread with a :class:`~oakling.db.Session`, or through
``AsyncSession.run_sync`` with ``async_session = True``, so the hooks are
plain sync SQLAlchemy either way (as the admin's are).
"""

from __future__ import annotations

import base64
import binascii
import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy import inspect as sa_inspect

from oakling.db import AsyncSession, Session, encode_cursor, no_transaction
from oakling.db.queries import MAX_PAGE_SIZE
from oakling.exceptions import HTTPException, ImproperlyConfigured, RequestValidationError
from oakling.params import Depends, Query
from oakling.requests import Request
from oakling.routing import Router

from .schemas import ModelField, model_fields, model_schemas

if TYPE_CHECKING:
    from sqlalchemy.orm import Mapper

__all__ = ["ACTIONS", "ModelRouter"]

#: Every action a ModelRouter can serve, DRF's names.
ACTIONS = ("list", "create", "retrieve", "update", "partial_update", "destroy")
_READ = frozenset({"list", "retrieve"})
_PERMS = {
    "list": ("view", "change"),
    "retrieve": ("view", "change"),
    "create": ("add",),
    "update": ("change",),
    "partial_update": ("change",),
    "destroy": ("delete",),
}
_RANGES = ("gte", "lte", "gt", "lt")
_OPTIONS = (
    "model",
    "fields",
    "exclude",
    "read_only_fields",
    "filterset_fields",
    "ordering_fields",
    "ordering",
    "pagination",
    "page_size",
    "max_page_size",
    "permission",
    "scopes",
    "async_session",
    "actions",
)


def _conflict_safe_flush(session: Any) -> None:
    # NOTE: flushed before the read Struct is built, so server-made values
    # are loaded and an IntegrityError is the db battery's 409.
    session.flush()


class ModelRouter(Router):
    """CRUD routes over one SQLAlchemy model (DRF's ``ModelViewSet``).

    Every option is a class attribute (DRF's style, for subclasses) or a
    keyword argument of the same name.

    Attributes:
        model: The mapped class (or the first positional argument).
        fields: Columns the API shows (default: all).
        exclude: Columns it never shows nor accepts (a password hash).
        read_only_fields: Columns it shows but never accepts (an owner
            set in :meth:`perform_create`); server-generated ones always are.
        filterset_fields: Columns a list filters on: ``?completed=true``;
            numbers and dates also by range, Django's lookups
            ``?id__gte=10&id__lt=20``.
        ordering_fields: Columns a client may order a list by:
            ``?ordering=-id,title`` (DRF's ``OrderingFilter``); any other
            name is a 422.
        ordering: The default order, ``("-id",)``; default the primary key.
        pagination: ``"page"`` (``?page=2&size=20``; ``{"items", "total",
            "page", "size", "pages"}``) or ``"cursor"`` (``?cursor=...&size=20``;
            ``{"items", "next"}``, keyset on the primary key in the default
            order's direction, no ``COUNT``, no ``ordering`` parameter).
        page_size: Items per page when ``size`` is not given, 20.
        max_page_size: A larger ``size`` is capped to it, 100.
        permission: ``"model"`` (the auth battery's model permissions,
            DRF's ``DjangoModelPermissions``, see the table in the module
            doc), ``"authenticated"`` (any logged-in user, DRF's
            ``IsAuthenticated``) or ``"any"`` (no check, ``AllowAny``).
        scopes: Token scopes, ``{"read": "tasks:read", "write": "tasks:write"}``:
            a bearer token needs the read scope for ``list``/``retrieve``
            and the write scope for the rest; a session passes (scopes limit
            tokens, see ``AuthCredentials.allows``).
        async_session: Use an :class:`~oakling.db.AsyncSession` (async
            handlers on the loop) instead of a Session (sync handlers in
            the thread pool).
        actions: The actions to serve, default :data:`ACTIONS`.

    Args:
        model: The mapped class, when not a class attribute.
        prefix: The path prefix, default ``/<model name>s`` (``/tasks``).
        name: The ``url_for`` namespace, default the model's name in lower
            case (``task:list``).
        tags: OpenAPI tags, default ``[model name]``.
        **options: Any attribute above.

    Raises:
        ImproperlyConfigured: For an unknown option, a model without a
            single-column primary key, or a bad ``pagination``/``permission``.
        TypeError: For a field option naming something that is not a column.
    """

    model: type[Any] | None = None
    fields: Sequence[str] | None = None
    exclude: Sequence[str] = ()
    read_only_fields: Sequence[str] = ()
    filterset_fields: Sequence[str] = ()
    ordering_fields: Sequence[str] = ()
    ordering: Sequence[str] = ()
    pagination: str = "page"
    page_size: int = 20
    max_page_size: int = MAX_PAGE_SIZE
    permission: str = "model"
    scopes: Mapping[str, str] | None = None
    async_session: bool = False
    actions: Sequence[str] = ACTIONS

    def __init__(
        self,
        model: type[Any] | None = None,
        *,
        prefix: str | None = None,
        name: str | None = None,
        tags: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        unknown = [key for key in options if key not in _OPTIONS]
        if unknown:
            raise ImproperlyConfigured(
                f"ModelRouter: unknown option(s) {', '.join(unknown)}; "
                f"options: {', '.join(_OPTIONS)}"
            )
        for key, value in options.items():
            setattr(self, key, value)
        if model is not None:
            self.model = model
        if self.model is None:
            raise ImproperlyConfigured("ModelRouter needs a model: ModelRouter(Task, ...)")
        target = self.model
        self.model_class: type[Any] = target
        self.mapper: Mapper[Any] = sa_inspect(target)
        if len(self.mapper.primary_key) != 1:
            raise ImproperlyConfigured(
                f"ModelRouter({target.__name__}): a single-column primary key is needed"
            )
        if self.pagination not in ("page", "cursor"):
            raise ImproperlyConfigured(
                f"ModelRouter.pagination is 'page' or 'cursor', not {self.pagination!r}"
            )
        if self.permission not in ("model", "authenticated", "any"):
            raise ImproperlyConfigured(
                "ModelRouter.permission is 'model', 'authenticated' or 'any', "
                f"not {self.permission!r}"
            )
        bad_actions = [action for action in self.actions if action not in ACTIONS]
        if bad_actions:
            raise ImproperlyConfigured(
                f"ModelRouter.actions: unknown {', '.join(bad_actions)}; actions: {ACTIONS}"
            )
        model_name = target.__name__
        base = prefix if prefix is not None else f"/{model_name.lower()}s"
        if not base.startswith("/") or base.endswith("/"):
            raise ImproperlyConfigured(
                f"ModelRouter prefix {base!r} must start with '/' and not end with '/'"
            )
        # NOTE: the list's path is the prefix itself, and a route path cannot
        # be empty: the router keeps no prefix, its routes carry it.
        self.base_path = base
        super().__init__(
            "",
            name=name or model_name.lower(),
            tags=list(tags) if tags is not None else [model_name],
        )
        self.pk_column = self.mapper.primary_key[0]
        self.pk_attr = self.mapper.get_property_by_column(self.pk_column).key
        self.schemas = model_schemas(
            target,
            fields=self.fields,
            exclude=self.exclude,
            read_only_fields=self.read_only_fields,
        )
        shown = model_fields(target, fields=self.fields, exclude=self.exclude, read_only_fields=())
        self.model_fields: dict[str, ModelField] = {field.name: field for field in shown}
        # NOTE: the key's type even when ``fields`` leaves it out of answers.
        self._pk_field = model_fields(target, fields=[self.pk_attr])[0]
        self._integers = frozenset(
            field.name for field in shown if _unwrapped(field.read_type) is int
        )
        for option in ("filterset_fields", "ordering_fields"):
            hidden = [name for name in getattr(self, option) if name not in self.model_fields]
            if hidden:
                raise TypeError(
                    f"ModelRouter({model_name}).{option}: {', '.join(hidden)} "
                    "is not a field the API shows"
                )
        self._default_order = self._parse_ordering(
            ",".join(self.ordering) if self.ordering else self.pk_attr, allowed=None
        )
        self.page_schema = self._page_schema()
        self._add_routes()

    # -- hooks (DRF's names) ------------------------------------------------------

    def get_queryset(self, request: Request) -> Select[Any]:
        """Return the statement every action starts from; scope rows per user here.

        A row outside it is answered 404, as a missing one (no oracle).
        DRF's ``get_queryset``; Django admin's too.
        """
        return select(self.model_class)

    def perform_create(self, request: Request, session: Any, obj: Any) -> None:
        """Add the new ``obj`` (its fields set from the body) to ``session``.

        Override to set fields from the request (``obj.owner_id =
        request.user.id``); a ``ValueError`` raised here (or by the model's
        ``@validates``) is a 422. ``session`` is a sync Session.
        """
        session.add(obj)

    def perform_update(self, request: Request, session: Any, obj: Any) -> None:
        """Hook run after the body's fields are set on ``obj``, before the flush."""

    def perform_destroy(self, request: Request, session: Any, obj: Any) -> None:
        """Delete ``obj`` (DRF's ``perform_destroy``)."""
        session.delete(obj)

    # -- building -------------------------------------------------------------

    def _page_schema(self) -> type[msgspec.Struct]:
        read = self.schemas.read
        base = read.__name__
        module = self.model.__module__ if self.model is not None else __name__
        if self.pagination == "cursor":
            return msgspec.defstruct(
                f"{base}CursorPage",
                [("items", list[read]), ("next", str | None)],  # type: ignore[valid-type]
                module=module,
                kw_only=True,
            )
        return msgspec.defstruct(
            f"{base}Page",
            [
                ("items", list[read]),  # type: ignore[valid-type]
                ("total", int),
                ("page", int),
                ("size", int),
                ("pages", int),
            ],
            module=module,
            kw_only=True,
        )

    def _guard(self, action: str) -> Callable[..., Any] | None:
        """Return the dependency checking ``action``'s user, permission and scope."""
        if self.permission == "any" and not self.scopes:
            return None
        from oakling.auth import PermissionDenied
        from oakling.auth.models import permission_label

        scope_name = None
        if self.scopes:
            scope_name = self.scopes.get("read" if action in _READ else "write")
        perms: tuple[str, ...] = ()
        if self.permission == "model":
            label = permission_label(self.model_class)
            model_name = self.model.__name__.lower() if self.model is not None else ""
            perms = tuple(f"{label}.{kind}_{model_name}" for kind in _PERMS[action])
        any_of = self.permission == "model" and action in _READ
        needs_login = self.permission != "any"

        async def check_access(request: Request) -> None:
            user = request.scope.get("user")
            if user is None:
                raise RuntimeError(
                    "ModelRouter permissions need the auth battery: "
                    "App(plugins=[Database(), Sessions(), Auth()])"
                )
            if needs_login and not user.is_authenticated:
                # NOTE: an API answers 401 to browsers too (DRF's rule); the
                # auth battery's LoginRequired would redirect them to a page.
                raise HTTPException(
                    401, "Authentication required", headers={"WWW-Authenticate": "Bearer"}
                )
            if scope_name is not None:
                credentials = request.scope.get("auth")
                if credentials is None or not credentials.allows(scope_name):
                    raise PermissionDenied(
                        f"The token lacks a required scope: {scope_name}",
                        headers={
                            "WWW-Authenticate": (
                                f'Bearer error="insufficient_scope", scope="{scope_name}"'
                            )
                        },
                    )
            if perms:
                granted = [perm for perm in perms if user.has_perm(perm)]
                if not granted if any_of else len(granted) < len(perms):
                    raise PermissionDenied(
                        f"Permission denied: requires {' or '.join(perms)}"
                        if any_of
                        else f"Permission denied: requires {', '.join(perms)}"
                    )

        # NOTE: the openapi battery reads this mark (security and 401/403).
        check_access.auth_required = (  # type: ignore[attr-defined]  # NOTE: a marker attribute
            ("scopes", (scope_name,)) if scope_name else ("login", ())
        )
        return check_access

    def _make(
        self,
        action: str,
        logic: Callable[..., Any],
        params: list[inspect.Parameter],
        returns: Any,
    ) -> Callable[..., Any]:
        """Return ``action``'s handler: ``logic(session, request, values)`` behind a signature."""
        session_type = AsyncSession if self.async_session else Session
        guard = self._guard(action)
        keyword = inspect.Parameter.KEYWORD_ONLY
        signature_params = [
            inspect.Parameter("request", keyword, annotation=Request),
            inspect.Parameter("session", keyword, annotation=session_type),
        ]
        if guard is not None:
            signature_params.append(
                inspect.Parameter("_access", keyword, annotation=Annotated[None, Depends(guard)])
            )
        signature_params.extend(params)
        names = [param.name for param in params]

        def in_transaction(session: Any, request: Request, values: dict[str, Any]) -> Any:
            # NOTE: the action is the transaction: committed here, in the
            # thread (or greenlet) that ran it, so its pooled connection is
            # back in the pool before the handler returns. A sync handler
            # holding a connection until a later thread-pool hop deadlocks
            # once every pool thread waits for a connection (pool < threads).
            try:
                result = logic(session, request, values)
                session.commit()
            except BaseException:
                session.rollback()
                raise
            return result

        handler: Any
        if self.async_session:

            async def async_handler(**kwargs: Any) -> Any:
                values = {name: kwargs[name] for name in names}
                return await kwargs["session"].run_sync(in_transaction, kwargs["request"], values)

            handler = async_handler
        else:

            def sync_handler(**kwargs: Any) -> Any:
                values = {name: kwargs[name] for name in names}
                return in_transaction(kwargs["session"], kwargs["request"], values)

            handler = sync_handler
        no_transaction(handler)
        model_name = self.model.__name__ if self.model is not None else ""
        handler.__name__ = action
        handler.__qualname__ = f"{type(self).__name__}.{action}"
        handler.__doc__ = _DOCS[action].format(model=model_name, plural=f"{model_name}s")
        # NOTE: inspect.signature reads __signature__, typing.get_type_hints
        # __annotations__: the extractor and the OpenAPI battery see the types.
        handler.__signature__ = inspect.Signature(signature_params, return_annotation=returns)
        handler.__annotations__ = {
            **{param.name: param.annotation for param in signature_params},
            "return": returns,
        }
        made: Callable[..., Any] = handler
        return made

    def _add_routes(self) -> None:
        read = self.schemas.read
        pk_type = _unwrapped(self._pk_field.read_type)
        keyword = inspect.Parameter.KEYWORD_ONLY
        pk_param = inspect.Parameter("pk", keyword, annotation=pk_type)
        conflict = {409: {"description": "Conflict: a constraint of the database refused it"}}
        collection = self.base_path
        item = self.base_path + "/{pk}"
        wanted = set(self.actions)
        if "list" in wanted:
            self.add_route(
                collection,
                self._make("list", self._list, self._list_params(), self.page_schema),
                ["GET"],
                name="list",
                response_model=None,
                responses={
                    200: {"model": self.page_schema, "description": "One page"},
                    **(
                        {404: {"description": "A page past the last one"}}
                        if self.pagination == "page"
                        else {}
                    ),
                },
            )
        if "create" in wanted:
            body = inspect.Parameter("data", keyword, annotation=self.schemas.create)
            self.add_route(
                collection,
                self._make("create", self._create, [body], read),
                ["POST"],
                name="create",
                status_code=201,
                response_model=None,
                responses={201: {"model": read, "description": "Created"}, **conflict},
            )
        if "retrieve" in wanted:
            self.add_route(
                item,
                self._make("retrieve", self._retrieve, [pk_param], read),
                ["GET"],
                name="retrieve",
                response_model=None,
                responses={200: {"model": read, "description": "Successful Response"}},
            )
        if "update" in wanted:
            body = inspect.Parameter("data", keyword, annotation=self.schemas.create)
            self.add_route(
                item,
                self._make("update", self._update, [pk_param, body], read),
                ["PUT"],
                name="update",
                response_model=None,
                responses={200: {"model": read, "description": "Successful Response"}, **conflict},
            )
        if "partial_update" in wanted:
            body = inspect.Parameter("data", keyword, annotation=self.schemas.update)
            self.add_route(
                item,
                self._make("partial_update", self._update, [pk_param, body], read),
                ["PATCH"],
                name="partial_update",
                response_model=None,
                responses={200: {"model": read, "description": "Successful Response"}, **conflict},
            )
        if "destroy" in wanted:
            self.add_route(
                item,
                self._make("destroy", self._destroy, [pk_param], None),
                ["DELETE"],
                name="destroy",
                responses=conflict,
            )

    def _list_params(self) -> list[inspect.Parameter]:
        keyword = inspect.Parameter.KEYWORD_ONLY
        params: list[inspect.Parameter] = []
        positive = Annotated[int, msgspec.Meta(ge=1)]
        if self.pagination == "page":
            params.append(
                inspect.Parameter(
                    "page",
                    keyword,
                    annotation=Annotated[positive, Query(description="The page, from 1")],
                    default=1,
                )
            )
        else:
            params.append(
                inspect.Parameter(
                    "cursor",
                    keyword,
                    annotation=Annotated[
                        str | None,
                        Query(description="The `next` cursor of the previous page"),
                    ],
                    default=None,
                )
            )
        params.append(
            inspect.Parameter(
                "size",
                keyword,
                annotation=Annotated[
                    positive,
                    Query(description=f"Items per page, at most {self.max_page_size}"),
                ],
                default=self.page_size,
            )
        )
        if self.pagination == "page" and self.ordering_fields:
            allowed = ", ".join(self.ordering_fields)
            names = "|".join(re.escape(name) for name in self.ordering_fields)
            # NOTE: the pattern documents (and checks) DRF's syntax exactly.
            ordering = Annotated[str, msgspec.Meta(pattern=f"^-?({names})(,-?({names}))*$")]
            params.append(
                inspect.Parameter(
                    "ordering",
                    keyword,
                    annotation=Annotated[
                        ordering | None,
                        Query(
                            description=(
                                "Comma-separated fields, `-` first for descending: "
                                f"any of {allowed}"
                            )
                        ),
                    ],
                    default=None,
                )
            )
        self._filters: list[tuple[str, str, str]] = []
        for name in self.filterset_fields:
            field = self.model_fields[name]
            lookups = [("", "exact")]
            if field.sortable and field.python_type is not str:
                lookups += [(f"__{lookup}", lookup) for lookup in _RANGES]
            for suffix, lookup in lookups:
                key = f"{name}{suffix}"
                self._filters.append((key, name, lookup))
                description = f"Rows whose {name} is {_LOOKUP_WORDS[lookup]} this value"
                params.append(
                    inspect.Parameter(
                        key,
                        keyword,
                        annotation=Annotated[
                            field.python_type | None,
                            Query(description=description),
                        ],
                        default=None,
                    )
                )
        return params

    # -- the actions (sync; async handlers run them through run_sync) ----------

    def _parse_ordering(self, raw: str, allowed: Sequence[str] | None) -> list[Any]:
        order: list[Any] = []
        for part in raw.split(","):
            part = part.strip()
            if not part:
                continue
            descending = part.startswith("-")
            name = part.lstrip("-")
            if allowed is not None and name not in allowed:
                raise RequestValidationError(
                    [
                        {
                            "loc": ["query", "ordering"],
                            "msg": (
                                f"cannot order by {name!r}; allowed: {', '.join(allowed)} "
                                "(a '-' before a name orders descending)"
                            ),
                            "type": "value_error",
                        }
                    ]
                )
            column = getattr(self.model, name)
            order.append(column.desc() if descending else column.asc())
        return order

    def _filtered(self, request: Request, values: dict[str, Any]) -> Select[Any]:
        statement = self.get_queryset(request)
        for key, name, lookup in self._filters:
            value = values.get(key)
            if value is None:
                continue
            column = getattr(self.model, name)
            if lookup == "exact":
                statement = statement.where(column == value)
            elif lookup == "gte":
                statement = statement.where(column >= value)
            elif lookup == "lte":
                statement = statement.where(column <= value)
            elif lookup == "gt":
                statement = statement.where(column > value)
            else:
                statement = statement.where(column < value)
        return statement

    def _rows(self, statement: Select[Any]) -> Select[Any]:
        """Return ``statement`` selecting the read Struct's columns instead of entities.

        PERF: plain rows skip the identity map and one ORM object per row
        (about half the time of a 50-row list). Only for a statement whose
        one entity is the model and which has no loader options; anything
        else is loaded as objects.
        """
        descriptions = statement.column_descriptions
        if (
            len(descriptions) != 1
            or descriptions[0].get("entity") is not self.model
            or descriptions[0].get("type") is not self.model
            or bool(getattr(statement, "_with_options", ()))
        ):
            return statement
        names = list(self.schemas.read.__struct_fields__)
        if self.pk_attr not in names:
            names.append(self.pk_attr)  # NOTE: the cursor reads it
        return statement.with_only_columns(
            *(getattr(self.model_class, name) for name in names),
            maintain_column_froms=True,
        )

    def _list(self, session: Any, request: Request, values: dict[str, Any]) -> Any:
        filtered = self._filtered(request, values)
        statement = self._rows(filtered)
        plain = statement is not filtered
        read = self.schemas.read
        size = min(values["size"], self.max_page_size)
        pk = getattr(self.model, self.pk_attr)
        if self.pagination == "cursor":
            descending = bool(self.ordering) and self.ordering[0].startswith("-")
            cursor = values["cursor"]
            if cursor is not None:
                key = self._decode_cursor(cursor)
                statement = statement.where(pk < key if descending else pk > key)
            statement = (
                statement.order_by(None).order_by(pk.desc() if descending else pk.asc())
            ).limit(size + 1)
            rows = self._fetch(session, statement, plain)
            items = rows[:size]
            following = None
            if len(rows) > size and items:
                following = encode_cursor(getattr(items[-1], self.pk_attr))
            return self.page_schema(
                items=msgspec.convert(items, list[read], from_attributes=True),  # type: ignore[valid-type]
                next=following,
            )
        raw = values.get("ordering")
        order = (
            self._parse_ordering(raw, self.ordering_fields) if raw else []
        ) or self._default_order
        # NOTE: the primary key last keeps pages stable when the order has ties.
        statement = statement.order_by(None).order_by(*order, pk)
        page = values["page"]
        total = session.scalar(select(func.count()).select_from(filtered.order_by(None).subquery()))
        total = int(total or 0)
        pages = math.ceil(total / size) if total else 0
        if page > 1 and page > pages:
            # NOTE: Flask-SQLAlchemy's error_out: a page past the end is a 404.
            raise HTTPException(404, f"page {page} does not exist (there are {pages})")
        rows = self._fetch(session, statement.limit(size).offset((page - 1) * size), plain)
        return self.page_schema(
            items=msgspec.convert(rows, list[read], from_attributes=True),  # type: ignore[valid-type]
            total=total,
            page=page,
            size=size,
            pages=pages,
        )

    def _fetch(self, session: Any, statement: Select[Any], plain: bool) -> list[Any]:
        if plain:
            return list(session.execute(statement).all())
        return list(session.scalars(statement).unique().all())

    def _decode_cursor(self, cursor: str) -> Any:
        pk_type = self._pk_field.python_type
        try:
            raw = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            return msgspec.convert(raw, pk_type)
        except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError) as ex:
            raise RequestValidationError(
                [
                    {
                        "loc": ["query", "cursor"],
                        "msg": "not a cursor of this list: pass the `next` of a page",
                        "type": "value_error",
                    }
                ]
            ) from ex

    def _get(self, session: Any, request: Request, pk: Any) -> Any:
        name = self.model.__name__ if self.model is not None else "Object"
        try:
            # NOTE: /notes/99999999999999999999 names no row: a 404, not the
            # driver's overflow error.
            msgspec.convert(pk, self._pk_field.python_type)
        except msgspec.ValidationError:
            raise HTTPException(404, f"{name} not found") from None
        statement = self.get_queryset(request).where(self.pk_column == pk)
        obj = session.scalars(statement.limit(1)).unique().first()
        if obj is None:
            raise HTTPException(404, f"{name} not found")
        return obj

    def _read(self, session: Any, obj: Any) -> Any:
        return msgspec.convert(obj, self.schemas.read, from_attributes=True)

    def _retrieve(self, session: Any, request: Request, values: dict[str, Any]) -> Any:
        return self._read(session, self._get(session, request, values["pk"]))

    def _apply(self, obj: Any, data: msgspec.Struct) -> None:
        for name in data.__struct_fields__:
            value = getattr(data, name)
            if value is not msgspec.UNSET:
                if type(value) is float and name in self._integers:
                    value = int(value)  # NOTE: 3.0 for an integer column (see schemas)
                setattr(obj, name, value)

    def _create(self, session: Any, request: Request, values: dict[str, Any]) -> Any:
        assert self.model is not None
        obj = self.model()
        try:
            self._apply(obj, values["data"])
            with session.no_autoflush:
                self.perform_create(request, session, obj)
        except ValueError as ex:
            raise _invalid(ex) from ex
        _conflict_safe_flush(session)
        return self._read(session, obj)

    def _update(self, session: Any, request: Request, values: dict[str, Any]) -> Any:
        obj = self._get(session, request, values["pk"])
        try:
            with session.no_autoflush:
                self._apply(obj, values["data"])
                self.perform_update(request, session, obj)
        except ValueError as ex:
            raise _invalid(ex) from ex
        _conflict_safe_flush(session)
        return self._read(session, obj)

    def _destroy(self, session: Any, request: Request, values: dict[str, Any]) -> None:
        obj = self._get(session, request, values["pk"])
        self.perform_destroy(request, session, obj)
        _conflict_safe_flush(session)


def _unwrapped(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _invalid(ex: ValueError) -> RequestValidationError:
    return RequestValidationError([{"loc": ["body"], "msg": str(ex), "type": "value_error"}])


_LOOKUP_WORDS = {
    "exact": "equal to",
    "gte": "at least",
    "lte": "at most",
    "gt": "greater than",
    "lt": "less than",
}

_DOCS = {
    "list": "List {plural}.\n\nFiltered, ordered and paginated as the parameters say.",
    "create": "Create a {model}.",
    "retrieve": "Return one {model}.",
    "update": "Replace a {model}.\n\nFields with a default may be left out; they keep their value.",
    "partial_update": "Change some fields of a {model}.",
    "destroy": "Delete a {model}.",
}
