"""Typed handler parameters: a handler's signature compiled into an extractor.

``compile_extractor(func)`` runs once per route at registration. The result
knows, for every parameter, where its value comes from (path, query, header,
cookie, JSON body, form, file, a dependency, or the request itself) and which
type to convert it to, so a request only looks values up and converts them.

Which source a parameter reads (FastAPI's rules, which its users know):
- a marker as default or in ``Annotated[...]``: ``Query``, ``Header``,
  ``Cookie``, ``Body``, ``Form``, ``File``, ``Depends``;
- otherwise a name in the route's path: the path parameter;
- ``Request``, ``WebSocket``, ``HTTPConnection``, ``BackgroundTasks``: injected;
- ``UploadFile`` (or a list of them): a file part of the form;
- a msgspec Struct, dataclass, TypedDict or pydantic model: the JSON body;
- anything else (str, int, float, bool, UUID, dates, enums, lists of those,
  optional ones): a query parameter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, get_args, get_origin

import msgspec

from oakling._validation_errors import _json_invalid, _pydantic_errors, msgspec_errors
from oakling.background import BackgroundTasks
from oakling.concurrency import run_in_threadpool
from oakling.datastructures import FormData, UploadFile
from oakling.exceptions import HTTPException, ImproperlyConfigured, RequestValidationError
from oakling.requests import JSON_ERRORS, HTTPConnection, Request

__all__ = [
    "Body",
    "Cookie",
    "Depends",
    "File",
    "Form",
    "Header",
    "Param",
    "ParameterInfo",
    "Query",
    "compile_extractor",
    "register_injectable",
]

_REQUIRED: Any = inspect.Parameter.empty


class Param:
    """Say where a handler parameter comes from; subclasses name the place.

    Args:
        default: The value when absent; omit it to make the parameter required.
        alias: The name in the request when it differs from the Python name
            (``Query(alias="page-size")``).
        description: Free text for generated API documentation.
    """

    location = "query"

    def __init__(
        self, default: Any = _REQUIRED, *, alias: str | None = None, description: str | None = None
    ) -> None:
        self.default = default
        self.alias = alias
        self.description = description

    def __repr__(self) -> str:
        return f"{type(self).__name__}(default={self.default!r}, alias={self.alias!r})"


class Query(Param):
    """A query-string parameter (``?page=2``); lists take repeated keys."""

    location = "query"


class Header(Param):
    """A request header; ``user_agent`` reads ``User-Agent`` (underscores to hyphens)."""

    location = "header"

    def __init__(
        self,
        default: Any = _REQUIRED,
        *,
        alias: str | None = None,
        convert_underscores: bool = True,
        description: str | None = None,
    ) -> None:
        super().__init__(default, alias=alias, description=description)
        self.convert_underscores = convert_underscores


class Cookie(Param):
    """A request cookie by name."""

    location = "cookie"


class Body(Param):
    """The JSON body, validated into the annotation (Struct, dataclass, TypedDict, pydantic).

    Args:
        embed: Read the value at key ``name`` of a JSON object instead of the
            whole body (automatic when a handler has several body parameters).
    """

    location = "body"

    def __init__(
        self,
        default: Any = _REQUIRED,
        *,
        alias: str | None = None,
        embed: bool = False,
        description: str | None = None,
    ) -> None:
        super().__init__(default, alias=alias, description=description)
        self.embed = embed


class Form(Param):
    """A form field (urlencoded or multipart); a Struct/dataclass reads the whole form."""

    location = "form"


class File(Param):
    """An uploaded file part (:class:`~oakling.datastructures.UploadFile`)."""

    location = "file"


class Depends:
    """A dependency: the value ``func`` returns, with its own parameters resolved.

    ``func`` may be sync or async, and may ``yield`` once: the code after the
    ``yield`` runs after the handler (and sees its exception, if any), before
    the response is sent. The result is cached per request unless
    ``use_cache=False``. Replace it in tests with
    ``app.dependency_overrides[func] = fake``.
    """

    def __init__(self, func: Callable[..., Any], *, use_cache: bool = True) -> None:
        self.func = func
        self.use_cache = use_cache

    def __repr__(self) -> str:
        return f"Depends({getattr(self.func, '__name__', self.func)!r})"


_INJECTABLES: dict[Any, Callable[..., Any]] = {}


def register_injectable(annotation: Any, provider: Callable[..., Any]) -> None:
    """Inject ``provider``'s value into parameters annotated ``annotation``.

    The hook batteries use to give handlers objects by type, as
    ``oakling.db`` gives a SQLAlchemy ``Session`` to ``db: Session``. The
    provider is a dependency (sync or async, may ``yield``, may take the
    ``Request``), cached per request. Register before handlers are declared;
    a later registration replaces an earlier one.
    """
    _INJECTABLES[annotation] = provider


class _Context:
    """Per-request resolution state: dependency cache, exit stack, background tasks.

    ``stack`` holds the ``yield`` dependencies' cleanups when the request is
    resolved on the event loop; ``exits`` when it is resolved in one worker
    thread (a sync handler, see ``oakling._threaded``). ``read_error`` is
    an error met reading the body ahead of the hop, raised where the body
    would have been read.
    """

    __slots__ = ("background", "cache", "exits", "overrides", "read_error", "stack")

    def __init__(self, overrides: dict[Callable[..., Any], Callable[..., Any]] | None) -> None:
        self.cache: dict[Callable[..., Any], Any] = {}
        self.stack: contextlib.AsyncExitStack | None = None
        self.exits: contextlib.ExitStack | None = None
        self.background: BackgroundTasks | None = None
        self.overrides = overrides
        self.read_error: Exception | None = None


_STRUCTURED_ORIGINS = (dict,)


def _is_model(annotation: Any) -> bool:
    if not isinstance(annotation, type):
        return get_origin(annotation) in _STRUCTURED_ORIGINS
    if issubclass(annotation, msgspec.Struct) or dataclasses.is_dataclass(annotation):
        return True
    if typing.is_typeddict(annotation):
        return True
    return hasattr(annotation, "model_validate_json")


def _is_upload(annotation: Any) -> bool:
    if annotation is UploadFile:
        return True
    return get_origin(annotation) is list and get_args(annotation)[:1] == (UploadFile,)


def _is_sequence(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_sequence(get_args(annotation)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_is_sequence(arg) for arg in get_args(annotation) if arg is not type(None))
    return origin in (list, set, frozenset, tuple)


class ParameterInfo(typing.NamedTuple):
    """What one handler parameter reads, for generated documentation (OpenAPI).

    Attributes:
        name: The Python parameter name.
        key: The name in the request (alias, header name, form field).
        location: ``path``, ``query``, ``header``, ``cookie``, ``body``,
            ``form`` or ``file``.
        annotation: The type it is converted to (``Annotated`` kept, with
            its msgspec ``Meta`` constraints).
        default: The default, or ``inspect.Parameter.empty`` when required.
        description: The marker's ``description``, if any.
        embed: For ``body``: the value sits at ``key`` of a JSON object.
    """

    name: str
    key: str
    location: str
    annotation: Any
    default: Any
    description: str | None
    embed: bool

    @property
    def required(self) -> bool:
        """Whether a request must carry it."""
        return self.default is _REQUIRED


class _Field:
    """One parameter's source, key, type and default, fixed at registration."""

    __slots__ = (
        "annotation",
        "bools",
        "convert",
        "default",
        "description",
        "embed",
        "is_list",
        "key",
        "location",
        "name",
    )

    def __init__(self, name: str, key: str, location: str, annotation: Any, default: Any) -> None:
        self.name = name
        self.key = key
        self.location = location
        self.annotation = annotation
        self.default = default
        self.is_list = _is_sequence(annotation)
        self.embed = False
        self.description: str | None = None
        # The bool fields of a form model, where "on" means true (checkboxes).
        self.bools = (
            _form_bools(annotation) if location == "form" and _is_model(annotation) else frozenset()
        )
        # PERF: a plain ``str`` needs no conversion at all.
        self.convert = annotation not in (str, Any, inspect.Parameter.empty)

    def missing(self, errors: list[dict[str, Any]]) -> Any:
        if self.default is _REQUIRED:
            errors.append(
                {"loc": [self.location, self.key], "msg": "Field required", "type": "missing"}
            )
            return None
        return self.default

    def coerce(self, raw: Any, errors: list[dict[str, Any]]) -> Any:
        if not self.convert:
            return raw
        if (
            self.annotation is int
            and type(raw) is str
            and 0 < len(raw) < 19
            and raw.isascii()
            and raw.isdigit()
            and (raw[0] != "0" or len(raw) == 1)
        ):
            # PERF: a plain decimal msgspec would accept (no sign, no leading
            # zero, within int64), converted without calling it.
            return int(raw)
        if self.annotation is bool and type(raw) is str:
            raw = _html_bool(raw)
        try:
            return msgspec.convert(raw, self.annotation, strict=False)
        except msgspec.ValidationError as ex:
            errors.extend(msgspec_errors(ex, [self.location, self.key]))
            return None


_HTML_BOOLS = {"on": "true", "yes": "true", "off": "false", "no": "false"}


def _html_bool(raw: str) -> str:
    """Map what HTML checkboxes and people send (``on``, ``yes``) to JSON booleans."""
    return _HTML_BOOLS.get(raw.lower(), raw)


def _form_bools(annotation: Any) -> frozenset[str]:
    """Return the names of a form model's ``bool`` fields (Struct or dataclass)."""
    try:
        info = msgspec.inspect.type_info(annotation)
    except Exception:  # noqa: BLE001 - not a type msgspec describes: no bool fields known
        return frozenset()
    fields = getattr(info, "fields", ())
    return frozenset(
        field.encode_name for field in fields if isinstance(field.type, msgspec.inspect.BoolType)
    )


def _split_annotated(annotation: Any) -> tuple[Any, Any]:
    """Return ``(type, marker)`` from ``Annotated[T, Query(), Meta(...)]``."""
    if get_origin(annotation) is not Annotated:
        return annotation, None
    base, *extras = get_args(annotation)
    marker = next((item for item in extras if isinstance(item, (Param, Depends))), None)
    rest = tuple(item for item in extras if not isinstance(item, (Param, Depends)))
    if rest:
        base = Annotated[(base, *rest)]
    return base, marker


class Extractor:
    """The compiled way to call one handler: what to read, convert and inject.

    Call it with a request (or WebSocket) and a context; it returns the
    keyword arguments or raises :class:`RequestValidationError` listing every
    invalid or missing value at once.
    """

    def __init__(
        self, func: Callable[..., Any], path_params: frozenset[str], skip_first: bool = False
    ) -> None:
        self.func = func
        self.is_async = inspect.iscoroutinefunction(func)
        self.is_async_gen = inspect.isasyncgenfunction(func)
        self.is_gen = inspect.isgeneratorfunction(func)
        self.path: list[_Field] = []
        self.query: list[_Field] = []
        self.header: list[_Field] = []
        self.cookie: list[_Field] = []
        self.body: list[_Field] = []
        self.form: list[_Field] = []
        self.injected: list[tuple[str, str]] = []
        self.dependencies: list[tuple[str, Depends]] = []
        self.sub_extractors: dict[Callable[..., Any], Extractor] = {}
        self.body_decoder: Callable[[bytes], Any] | None = None
        self.is_pydantic_body = False
        self._inspect(path_params, skip_first)
        self.needs_request = bool(
            self.query
            or self.header
            or self.cookie
            or self.body
            or self.form
            or self.injected
            or self.dependencies
        )
        self.only_path = not self.needs_request
        self.reads_params = bool(
            self.path or self.query or self.header or self.cookie or self.injected
        )

    def _inspect(self, path_params: frozenset[str], skip_first: bool) -> None:
        hints = _resolve_hints(self.func)
        parameters = list(inspect.signature(self.func).parameters.values())
        if skip_first:
            parameters = parameters[1:]
        for parameter in parameters:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            annotation = hints.get(parameter.name, parameter.annotation)
            annotation, marker = _split_annotated(annotation)
            default = parameter.default
            if isinstance(default, (Param, Depends)):
                marker, default = (
                    default,
                    _REQUIRED if isinstance(default, Depends) else default.default,
                )
            name = parameter.name
            if isinstance(marker, Depends):
                self.dependencies.append((name, marker))
                self.sub_extractors[marker.func] = Extractor(marker.func, path_params)
                continue
            if marker is None and annotation in _INJECTABLES:
                marker = Depends(_INJECTABLES[annotation])
                self.dependencies.append((name, marker))
                self.sub_extractors[marker.func] = Extractor(marker.func, path_params)
                continue
            if marker is None and isinstance(annotation, type):
                if issubclass(annotation, HTTPConnection):
                    self.injected.append((name, "request"))
                    continue
                if issubclass(annotation, BackgroundTasks):
                    self.injected.append((name, "background"))
                    continue
            if marker is None:
                if name in path_params:
                    self.path.append(_Field(name, name, "path", annotation, default))
                    continue
                if _is_upload(annotation):
                    marker = File()
                elif _is_model(annotation):
                    marker = Body()
                else:
                    marker = Query()
            if (
                isinstance(marker, Param)
                and marker.default is not _REQUIRED
                and default is _REQUIRED
            ):
                default = marker.default
            key = marker.alias or name
            if isinstance(marker, Header) and marker.alias is None and marker.convert_underscores:
                key = name.replace("_", "-")
            field = _Field(name, key, marker.location, annotation, default)
            field.description = marker.description
            if isinstance(marker, Body):
                field.embed = marker.embed
                self.body.append(field)
            elif marker.location in ("form", "file"):
                self.form.append(field)
            else:
                getattr(self, marker.location).append(field)
        if len(self.body) > 1:
            for field in self.body:
                field.embed = True
        if len(self.body) == 1 and not self.body[0].embed:
            target = self.body[0].annotation
            if hasattr(target, "model_validate_json"):
                self.is_pydantic_body = True
                self.body_decoder = target.model_validate_json
            elif dataclasses.is_dataclass(target):
                decode = msgspec.json.Decoder(target).decode
                self.body_decoder = lambda body: dataclasses.replace(decode(body))
            else:
                self.body_decoder = msgspec.json.Decoder(target).decode

    def describe(self) -> list[ParameterInfo]:
        """Return what this handler reads, its dependencies' parameters included.

        For documentation (the openapi battery), at startup: a parameter
        several dependencies read is listed once, the first time it is met.
        """
        found: dict[tuple[str, str], ParameterInfo] = {}
        for extractor in self._walk(set()):
            for field in (
                *extractor.path,
                *extractor.query,
                *extractor.header,
                *extractor.cookie,
                *extractor.body,
                *extractor.form,
            ):
                location = field.location
                if location == "form" and _is_upload(field.annotation):
                    location = "file"
                found.setdefault(
                    (location, field.key),
                    ParameterInfo(
                        field.name,
                        field.key,
                        location,
                        field.annotation,
                        field.default,
                        field.description,
                        field.embed,
                    ),
                )
        return list(found.values())

    def dependency_funcs(self) -> list[Callable[..., Any]]:
        """Return this handler's dependency functions, nested ones too, in order."""
        return [extractor.func for extractor in self._walk(set())][1:]

    def _walk(self, seen: set[int]) -> list[Extractor]:
        if id(self) in seen:
            return []
        seen.add(id(self))
        found = [self]
        for _, dependency in self.dependencies:
            sub = self.sub_extractors.get(dependency.func)
            if sub is not None:
                found.extend(sub._walk(seen))
        return found

    async def __call__(self, conn: Request, ctx: _Context) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        if self.reads_params:
            self._read_params(conn, ctx, values, errors)
        if self.dependencies:
            # NOTE: the order of checks: dependencies (authentication among
            # them) before the body, so a refused request never learns the
            # body's shape; a dependency's own invalid parameters join the
            # error list, and the next dependency still runs.
            for name, dependency in self.dependencies:
                try:
                    values[name] = await self._resolve(dependency, conn, ctx)
                except RequestValidationError as ex:
                    errors.extend(error for error in ex.errors if error not in errors)
        if self.body:
            await self._read_body(conn, values, errors)
        if self.form:
            await self._read_form(conn, values, errors)
        if errors:
            raise RequestValidationError(errors)
        return values

    def _read_params(
        self, conn: Request, ctx: _Context, values: dict[str, Any], errors: list[dict[str, Any]]
    ) -> None:
        """Read the path, query, header and cookie values and the injected objects."""
        if self.path:
            path_values = conn.scope["path_params"]
            for field in self.path:
                raw = path_values.get(field.key, _REQUIRED)
                values[field.name] = (
                    field.missing(errors)
                    if raw is _REQUIRED
                    else (field.coerce(raw, errors) if type(raw) is str else raw)
                )
        if self.query:
            query = conn.query_params
            for field in self.query:
                if field.is_list:
                    items = query.getlist(field.key)
                    values[field.name] = (
                        field.coerce(items, errors) if items else field.missing(errors)
                    )
                else:
                    raw = query.get(field.key, _REQUIRED)
                    values[field.name] = (
                        field.missing(errors) if raw is _REQUIRED else field.coerce(raw, errors)
                    )
        if self.header:
            headers = conn.headers
            for field in self.header:
                if field.is_list:
                    items = headers.getlist(field.key)
                    values[field.name] = (
                        field.coerce(items, errors) if items else field.missing(errors)
                    )
                else:
                    raw = headers.get(field.key, _REQUIRED)
                    values[field.name] = (
                        field.missing(errors) if raw is _REQUIRED else field.coerce(raw, errors)
                    )
        if self.cookie:
            cookies = conn.cookies
            for field in self.cookie:
                raw = cookies.get(field.key, _REQUIRED)
                values[field.name] = (
                    field.missing(errors) if raw is _REQUIRED else field.coerce(raw, errors)
                )
        for name, kind in self.injected:
            if kind == "request":
                values[name] = conn
            else:
                if ctx.background is None:
                    ctx.background = BackgroundTasks()
                values[name] = ctx.background

    async def _read_body(
        self, request: Request, values: dict[str, Any], errors: list[dict[str, Any]]
    ) -> None:
        self.check_json_type(request)
        self.decode_body(await request.body(), values, errors)

    @staticmethod
    def check_json_type(request: Request) -> None:
        """Refuse a body that is not JSON (415), before reading it."""
        content_type = request.headers.get("content-type")
        if content_type is not None:
            media = content_type.split(";", 1)[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                raise HTTPException(
                    415, f"Expected a JSON body (application/json), got {media or 'nothing'}"
                )

    def decode_body(
        self, body: bytes, values: dict[str, Any], errors: list[dict[str, Any]]
    ) -> None:
        """Validate the JSON ``body`` into the body parameters' values."""
        if not body:
            for field in self.body:
                if field.default is _REQUIRED:
                    loc = ["body", field.key] if field.embed else ["body"]
                    errors.append({"loc": loc, "msg": "Field required", "type": "missing"})
                else:
                    values[field.name] = field.default
            return
        if self.body_decoder is not None:
            field = self.body[0]
            try:
                values[field.name] = self.body_decoder(body)
            except msgspec.ValidationError as ex:
                errors.extend(msgspec_errors(ex, ["body"]))
            except ValueError as ex:  # pydantic's ValidationError is a ValueError
                if callable(getattr(ex, "errors", None)):
                    errors.extend(self._pydantic_or_json(ex))
                else:  # msgspec.DecodeError, UnicodeDecodeError
                    errors.append(_json_invalid(ex, body))
            except RecursionError as ex:
                errors.append(_json_invalid(ex, body))
            return
        try:
            data = msgspec.json.decode(body)
        except JSON_ERRORS as ex:
            errors.append(_json_invalid(ex, body))
            return
        if not isinstance(data, dict):
            errors.append({"loc": ["body"], "msg": "Expected a JSON object", "type": "type_error"})
            return
        for field in self.body:
            if field.key not in data:
                values[field.name] = field.missing(errors)
                if field.default is _REQUIRED:
                    errors[-1]["loc"] = ["body", field.key]
                continue
            values[field.name] = _convert_model(
                field.annotation, data[field.key], ["body", field.key], errors
            )

    @staticmethod
    def _pydantic_or_json(ex: Any) -> list[dict[str, Any]]:
        found = _pydantic_errors(ex, ["body"])
        for error in found:
            if error["type"] == "json_invalid":
                error["loc"] = ["body"]
        return found

    async def _read_form(
        self, request: Request, values: dict[str, Any], errors: list[dict[str, Any]]
    ) -> None:
        self.form_values(await request.form(), values, errors)

    def form_values(
        self, form: FormData, values: dict[str, Any], errors: list[dict[str, Any]]
    ) -> None:
        """Validate the parsed ``form`` into the form and file parameters' values."""
        for field in self.form:
            if field.location == "file" or _is_upload(field.annotation):
                items = [item for item in form.getlist(field.key) if isinstance(item, UploadFile)]
                if not items:
                    values[field.name] = field.missing(errors)
                else:
                    values[field.name] = items if field.is_list else items[-1]
                continue
            if _is_model(field.annotation):
                data = {
                    key: (form.getlist(key) if len(form.getlist(key)) > 1 else form[key])
                    for key in form
                }
                for key in field.bools:
                    value = data.get(key)
                    if isinstance(value, str):
                        data[key] = _html_bool(value)
                values[field.name] = _convert_model(field.annotation, data, ["form"], errors)
                continue
            if field.is_list:
                items = form.getlist(field.key)
                values[field.name] = field.coerce(items, errors) if items else field.missing(errors)
            else:
                raw = form.get(field.key, _REQUIRED)
                values[field.name] = (
                    field.missing(errors) if raw is _REQUIRED else field.coerce(raw, errors)
                )

    async def _resolve(self, dependency: Depends, conn: Request, ctx: _Context) -> Any:
        func = dependency.func
        if ctx.overrides:
            func = ctx.overrides.get(func, func)
        if dependency.use_cache and func in ctx.cache:
            return ctx.cache[func]
        extractor = self.sub_extractors.get(func)
        if extractor is None:
            # NOTE: an override compiled on first use, then kept.
            extractor = self.sub_extractors[func] = Extractor(
                func, frozenset(conn.scope.get("path_params", ()))
            )
        kwargs = await extractor(conn, ctx)
        if extractor.is_async_gen:
            if ctx.stack is None:
                ctx.stack = contextlib.AsyncExitStack()
            value = await ctx.stack.enter_async_context(
                contextlib.asynccontextmanager(func)(**kwargs)
            )
        elif extractor.is_gen:
            if ctx.stack is None:
                ctx.stack = contextlib.AsyncExitStack()
            manager = contextlib.contextmanager(func)(**kwargs)
            value = await run_in_threadpool(manager.__enter__)
            ctx.stack.push_async_exit(_threaded_exit(manager))
        elif extractor.is_async:
            value = await func(**kwargs)
        else:
            value = await run_in_threadpool(func, **kwargs)
        if dependency.use_cache:
            ctx.cache[func] = value
        return value


def _resolve_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Return ``func``'s resolved annotations, naming any that cannot be resolved.

    Raises:
        ImproperlyConfigured: For a string annotation naming something not
            importable from the function's module (a class defined inside
            another function, under ``from __future__ import annotations``).
    """
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception:  # noqa: BLE001 - find which annotation fails, below
        pass
    target = inspect.unwrap(func)
    namespace = getattr(target, "__globals__", {})
    hints: dict[str, Any] = {}
    for name, annotation in getattr(target, "__annotations__", {}).items():
        if name == "return":
            continue  # NOTE: oakling reads no return annotations (yet)
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # noqa: S307 - annotations are the app's own code
            except Exception as ex:  # noqa: BLE001
                raise ImproperlyConfigured(
                    f"cannot resolve the annotation {annotation!r} of {name!r} in "
                    f"{getattr(func, '__qualname__', func)}: {ex}. Define the type at module level."
                ) from None
        hints[name] = annotation
    return hints


def _threaded_exit(manager: contextlib.AbstractContextManager[Any]) -> Callable[..., Any]:
    async def exit_in_thread(*exc_info: Any) -> bool | None:
        return await run_in_threadpool(manager.__exit__, *exc_info)

    return exit_in_thread


def _convert_model(
    annotation: Any, data: Any, loc: list[str | int], errors: list[dict[str, Any]]
) -> Any:
    if hasattr(annotation, "model_validate"):
        try:
            return annotation.model_validate(data)
        except ValueError as ex:
            errors.extend(_pydantic_errors(ex, loc))
            return None
    try:
        value = msgspec.convert(data, annotation, strict=False, dec_hook=None)
        # NOTE: msgspec leaves dataclass defaults off the instance's __dict__,
        # and its encoder then omits them; __init__ (via replace) sets them.
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.replace(value)
        return value
    except msgspec.ValidationError as ex:
        errors.extend(msgspec_errors(ex, loc))
        return None


def compile_extractor(
    func: Callable[..., Any], path_params: frozenset[str] = frozenset(), *, skip_first: bool = False
) -> Extractor:
    """Compile ``func``'s signature into an :class:`Extractor` (once per route).

    Args:
        func: The handler or dependency.
        path_params: Names the route's path defines.
        skip_first: Leave out the first parameter (``self`` of a view method).
    """
    return Extractor(func, path_params, skip_first)


def new_context(overrides: dict[Callable[..., Any], Callable[..., Any]] | None) -> _Context:
    """Return a fresh per-request resolution context."""
    return _Context(overrides)
