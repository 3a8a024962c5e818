"""The OpenAPI 3.1 document of an app, built from its routes once.

Every fact comes from what oakling already knows at registration: a route's
path and converters, its handler's compiled extractor (each parameter's
place, type, default and msgspec ``Meta`` constraints), its return
annotation, and the route options ``tags``, ``summary``, ``description``,
``deprecated``, ``responses``, ``operation_id`` and ``openapi_extra``.
JSON Schemas come from msgspec's own generator
(``msgspec.json.schema_components``) and, for pydantic models, from
pydantic's (``models_json_schema``); shared ones land in
``components/schemas`` under their class names.

Left out, as FastAPI leaves them out: mounted ASGI apps (their routes are
not oakling's to know), WebSocket routes (OpenAPI describes HTTP
operations), the automatic ``HEAD`` and ``OPTIONS`` answers, and routes
registered with ``include_in_schema=False``.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, get_args, get_origin

import msgspec

from oakling.datastructures import UploadFile
from oakling.params import ParameterInfo, compile_extractor
from oakling.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from oakling.routing import Route, Router, compile_path

if TYPE_CHECKING:
    from oakling.applications import App

__all__ = [
    "OPENAPI_VERSION",
    "SecurityScheme",
    "build_document",
]

logger = logging.getLogger("oakling.openapi")

OPENAPI_VERSION = "3.1.0"
REF_PREFIX = "#/components/schemas/"

# The bodies oakling itself answers errors with (oakling._errors).
_ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "ValidationError": {
        "title": "ValidationError",
        "type": "object",
        "properties": {
            "loc": {
                "title": "Location",
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
        },
        "required": ["loc", "msg", "type"],
    },
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "description": "422: every invalid or missing value of the request at once.",
        "type": "object",
        "properties": {
            "detail": {"type": "array", "items": {"$ref": REF_PREFIX + "ValidationError"}}
        },
        "required": ["detail"],
    },
    "HTTPError": {
        "title": "HTTPError",
        "description": 'Any other error oakling answers: {"detail": message}.',
        "type": "object",
        "properties": {"detail": {}},
        "required": ["detail"],
    },
}

_PHRASES = {
    200: "Successful Response",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Validation Error",
    429: "Too Many Requests",
    503: "Service Unavailable",
}

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclasses.dataclass(frozen=True)
class SecurityScheme:
    """One way a client proves who it is, as the document names it.

    Attributes:
        name: The key under ``components/securitySchemes``.
        scheme: The OpenAPI security scheme object.
        unsafe_only: Required together with the session only on unsafe
            methods (the CSRF header).
    """

    name: str
    scheme: dict[str, Any]
    unsafe_only: bool = False


# -- schemas -----------------------------------------------------------------------


def _is_pydantic(annotation: Any) -> bool:
    return isinstance(annotation, type) and hasattr(annotation, "model_json_schema")


def _strip_optional(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _pydantic_classes(models: Iterable[type]) -> dict[str, type]:
    """Return ``{__name__: class}`` of ``models`` and the pydantic models they nest."""
    found: dict[str, type] = {}
    todo = list(models)
    while todo:
        model = todo.pop()
        if model.__name__ in found:
            continue
        found[model.__name__] = model
        for field in getattr(model, "model_fields", {}).values():
            stack = [field.annotation]
            while stack:
                annotation = stack.pop()
                if _is_pydantic(annotation):
                    todo.append(annotation)
                stack.extend(get_args(annotation))
    return found


def _distinct_names(
    definitions: Mapping[str, Any], taken: Mapping[str, Any], models: Iterable[type]
) -> dict[str, str]:
    """Return new names for pydantic schemas whose name a msgspec schema has.

    Each generator keeps the names of its own types distinct (msgspec by
    ``module.Qualname``, pydantic by ``module__Qualname``), but not against
    the other's: a msgspec ``Task`` and a pydantic ``Task`` would both be
    ``Task``. The pydantic one becomes ``module.Qualname``, as msgspec names
    its own clashes, so the names stay stable from one start to the next.
    """
    clashes = [name for name in definitions if name in taken]
    if not clashes:
        return {}
    classes = _pydantic_classes(models)
    renames: dict[str, str] = {}
    for name in clashes:
        model = classes.get(name)
        base = f"{model.__module__}.{model.__qualname__}" if model is not None else name
        candidate = base if base not in taken else f"{base}.pydantic"
        suffix = 2
        unique = candidate
        while unique in taken or unique in definitions or unique in renames.values():
            unique = f"{candidate}{suffix}"
            suffix += 1
        renames[name] = re.sub(r"[^A-Za-z0-9._-]", "_", unique)
    return renames


def _renamed(value: Any, renames: Mapping[str, str]) -> Any:
    """Return ``value`` with every ``$ref`` to a renamed schema pointing at its new name."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith(REF_PREFIX):
                name = item[len(REF_PREFIX) :]
                out[key] = REF_PREFIX + renames.get(name, name)
            else:
                out[key] = _renamed(item, renames)
        return out
    if isinstance(value, list):
        return [_renamed(item, renames) for item in value]
    return value


class _Schemas:
    """Collect every type the document names; generate their schemas at the end.

    ``ref(annotation)`` returns a dict filled in by :meth:`finish`, so each
    generator runs once over all the app's types and names shared schemas
    consistently.
    """

    def __init__(self) -> None:
        self.msgspec_types: list[Any] = []
        self.msgspec_slots: list[tuple[dict[str, Any], int, dict[str, Any]]] = []
        self.pydantic_types: list[type] = []
        self.pydantic_slots: list[tuple[dict[str, Any], type, bool, dict[str, Any]]] = []
        self.components: dict[str, dict[str, Any]] = {}

    def ref(self, annotation: Any, **extra: Any) -> dict[str, Any]:
        """Return a placeholder schema for ``annotation``, with ``extra`` keys kept."""
        slot: dict[str, Any] = {}
        if annotation in (inspect.Parameter.empty, Any):
            slot.update(extra)
            return slot
        plain = _strip_optional(annotation)
        many = get_origin(plain) is list and len(get_args(plain)) == 1
        target = get_args(plain)[0] if many else plain
        if _is_pydantic(target):
            if target not in self.pydantic_types:
                self.pydantic_types.append(target)
            self.pydantic_slots.append((slot, target, many, extra))
            return slot
        try:
            msgspec.json.schema(annotation)
        except Exception as ex:  # noqa: BLE001 - a type msgspec cannot describe: any value
            logger.debug("no JSON schema for %r: %s", annotation, ex)
            slot.update(extra)
            return slot
        index = len(self.msgspec_types)
        self.msgspec_types.append(annotation)
        self.msgspec_slots.append((slot, index, extra))
        return slot

    def finish(self) -> dict[str, dict[str, Any]]:
        """Fill every placeholder; return ``components/schemas``."""
        if self.msgspec_types:
            schemas, components = msgspec.json.schema_components(
                self.msgspec_types, ref_template=REF_PREFIX + "{name}"
            )
            self.components.update(components)
            for slot, index, extra in self.msgspec_slots:
                slot.update(schemas[index])
                slot.update(extra)
        if self.pydantic_types:
            from pydantic.json_schema import models_json_schema

            keys, top = models_json_schema(
                [(model, "validation") for model in self.pydantic_types],
                ref_template=REF_PREFIX + "{model}",
            )
            definitions: dict[str, Any] = top.get("$defs", {})
            renames = _distinct_names(definitions, self.components, self.pydantic_types)
            if renames:
                definitions = {
                    renames.get(name, name): _renamed(schema, renames)
                    for name, schema in definitions.items()
                }
                keys = {key: _renamed(value, renames) for key, value in keys.items()}
            self.components.update(definitions)
            for slot, model, many, extra in self.pydantic_slots:
                item = keys[(model, "validation")]
                slot.update({"type": "array", "items": item} if many else item)
                slot.update(extra)
        return dict(sorted(self.components.items()))


# -- operations ------------------------------------------------------------------


def _docstring(func: Any) -> tuple[str | None, str | None]:
    doc = inspect.getdoc(func)
    if not doc:
        return None, None
    summary, _, rest = doc.partition("\n\n")
    return " ".join(summary.split()), (rest.strip() or None)


def _default(value: Any) -> Any:
    try:
        return msgspec.to_builtins(value)
    except (TypeError, msgspec.EncodeError):
        return None


def _return_annotation(func: Any) -> Any:
    try:
        return typing.get_type_hints(func, include_extras=True).get(
            "return", inspect.Parameter.empty
        )
    except Exception:  # noqa: BLE001 - unresolvable: described as any response
        return inspect.Parameter.empty


def _media_type(response_class: type | None, default: str) -> str:
    media = getattr(response_class, "media_type", None)
    return media if isinstance(media, str) else default


def _success(route: Route, func: Any, schemas: _Schemas) -> tuple[str, dict[str, Any]]:
    annotation = _return_annotation(func)
    chosen = getattr(route, "response_model", ...)
    if chosen is None:
        plain = annotation in (None, type(None), str, bytes, inspect.Parameter.empty) or (
            isinstance(annotation, type) and issubclass(annotation, Response)
        )
        if not plain:
            # NOTE: response_model=None (FastAPI's): the handler's value is
            # sent as it is, so the annotation says nothing certain about it.
            annotation = inspect.Parameter.empty
    elif chosen is not ...:
        annotation = chosen
    status = route.status_code
    description = _PHRASES.get(status or 200, "Successful Response")
    if annotation is None or annotation is type(None):
        code = status or 204
        return str(code), {"description": _PHRASES.get(code, description)}
    code = status or 200
    response: dict[str, Any] = {"description": description}
    if annotation is inspect.Parameter.empty or (
        isinstance(annotation, type) and issubclass(annotation, Response)
    ):
        klass = (
            annotation
            if isinstance(annotation, type) and annotation is not Response
            else (route.response_class or Response)
        )
        if issubclass(klass, HTMLResponse):
            response["content"] = {"text/html": {"schema": {"type": "string"}}}
        elif issubclass(klass, PlainTextResponse):
            response["content"] = {"text/plain": {"schema": {"type": "string"}}}
        elif issubclass(klass, JSONResponse):
            response["content"] = {"application/json": {"schema": {}}}
        return str(code), response
    if annotation is str:
        media = _media_type(route.response_class, "text/plain")
        response["content"] = {media: {"schema": {"type": "string"}}}
    elif annotation is bytes:
        media = _media_type(route.response_class, "application/octet-stream")
        response["content"] = {media: {"schema": {"type": "string", "format": "binary"}}}
    else:
        media = _media_type(route.response_class, "application/json")
        response["content"] = {media: {"schema": schemas.ref(annotation)}}
    return str(code), response


def _declared(value: Any, code: str, schemas: _Schemas) -> dict[str, Any]:
    if isinstance(value, Mapping):
        response = dict(value)
        model = response.pop("model", None)
        if model is not None:
            response.setdefault("content", {"application/json": {"schema": schemas.ref(model)}})
        response.setdefault("description", _PHRASES.get(int(code), "Response"))
        return response
    return {
        "description": _PHRASES.get(int(code), "Response") if code.isdigit() else "Response",
        "content": {"application/json": {"schema": schemas.ref(value)}},
    }


def _error(code: int, schema: str = "HTTPError") -> dict[str, Any]:
    return {
        "description": _PHRASES.get(code, "Error"),
        "content": {"application/json": {"schema": {"$ref": REF_PREFIX + schema}}},
    }


def _file_schema(annotation: Any) -> dict[str, Any]:
    one = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}
    if annotation is UploadFile:
        return one
    return {"type": "array", "items": one}


def _body(params: list[ParameterInfo], schemas: _Schemas) -> tuple[dict[str, Any] | None, bool]:
    """Return the requestBody object (or None) and whether it is JSON."""
    body = [param for param in params if param.location == "body"]
    form = [param for param in params if param.location in ("form", "file")]
    if body:
        if len(body) == 1 and not body[0].embed:
            param = body[0]
            schema = schemas.ref(param.annotation)
            if param.description:
                schema = {"allOf": [schema], "description": param.description}
            return {
                "required": param.required,
                "content": {"application/json": {"schema": schema}},
            }, True
        members = {param.key: schemas.ref(param.annotation) for param in body}
        needed = [param.key for param in body if param.required]
        schema = {"type": "object", "properties": members}
        if needed:
            schema["required"] = needed
        return {
            "required": bool(needed),
            "content": {"application/json": {"schema": schema}},
        }, True
    if not form:
        return None, False
    has_files = any(param.location == "file" for param in form)
    whole = [
        param
        for param in form
        if param.location == "form"
        and isinstance(param.annotation, type)
        and (
            issubclass(param.annotation, msgspec.Struct)
            or dataclasses.is_dataclass(param.annotation)
            or _is_pydantic(param.annotation)
        )
    ]
    properties: dict[str, Any] = {}
    required: list[str] = []
    form_schema: dict[str, Any]
    if whole and not has_files and len(form) == 1:
        form_schema = schemas.ref(whole[0].annotation)
    else:
        for param in form:
            if param.location == "file":
                properties[param.key] = _file_schema(param.annotation)
            elif param in whole:
                # NOTE: a form model reads the whole form: its fields are top level.
                properties.update({"__model__": schemas.ref(param.annotation)})
                continue
            else:
                extra: dict[str, Any] = {}
                if not param.required:
                    default = _default(param.default)
                    if default is not None:
                        extra["default"] = default
                if param.description:
                    extra["description"] = param.description
                properties[param.key] = schemas.ref(param.annotation, **extra)
            if param.required:
                required.append(param.key)
        model = properties.pop("__model__", None)
        form_schema = {"type": "object", "properties": properties}
        if required:
            form_schema["required"] = required
        if model is not None:
            form_schema = {"allOf": [model, form_schema]}
    media_types = (
        ["multipart/form-data"]
        if has_files
        else ["application/x-www-form-urlencoded", "multipart/form-data"]
    )
    return {
        "required": any(param.required for param in form),
        "content": {media: {"schema": form_schema} for media in media_types},
    }, False


def _parameters(
    params: list[ParameterInfo], path_types: dict[str, Any], schemas: _Schemas
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen_path: set[str] = set()
    for param in params:
        if param.location not in ("path", "query", "header", "cookie"):
            continue
        annotation = param.annotation
        if param.location == "path":
            seen_path.add(param.key)
            if annotation in (inspect.Parameter.empty, Any, str):
                annotation = path_types.get(param.key, str)
        extra: dict[str, Any] = {}
        if not param.required and param.location != "path":
            default = _default(param.default)
            if default is not None:
                extra["default"] = default
        item: dict[str, Any] = {
            "name": param.key,
            "in": param.location,
            "required": param.location == "path" or param.required,
            "schema": schemas.ref(annotation, **extra),
        }
        if param.description:
            item["description"] = param.description
        out.append(item)
    for name, python_type in path_types.items():
        if name not in seen_path:
            # NOTE: a path parameter the handler does not take is still in the URL.
            out.insert(
                len(seen_path),
                {"name": name, "in": "path", "required": True, "schema": schemas.ref(python_type)},
            )
            seen_path.add(name)
    return out


def _auth_marks(funcs: Iterable[Any]) -> tuple[bool, list[str]]:
    """Return (login required, scopes) from the marks the auth battery sets."""
    needed = False
    scopes: list[str] = []
    for func in funcs:
        # NOTE: stacked guards: each wrapper's own mark, down the __wrapped__ chain.
        layer: Any = func
        for _ in range(32):
            mark = layer.__dict__.get("auth_required") if hasattr(layer, "__dict__") else None
            if mark is not None:
                needed = True
                kind, names = mark
                if kind == "scopes":
                    scopes.extend(name for name in names if name not in scopes)
            layer = getattr(layer, "__wrapped__", None)
            if layer is None:
                break
    return needed, scopes


def _operation_id(name: str, method: str, methods: int, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", name)
    candidate = base if methods == 1 else f"{base}_{method.lower()}"
    if candidate in taken:
        candidate = f"{base}_{method.lower()}"
    suffix = 2
    unique = candidate
    while unique in taken:
        unique = f"{candidate}_{suffix}"
        suffix += 1
    taken.add(unique)
    return unique


def _tags(route: Route, chain: tuple[Router, ...]) -> list[str]:
    tags: list[str] = []
    for router in chain:
        names = router.tags if router.tags is not None else ([router.name] if router.name else [])
        tags.extend(tag for tag in names if tag not in tags)
    tags.extend(tag for tag in route.tags if tag not in tags)
    return tags


def _operation(
    route: Route,
    method: str,
    name: str,
    chain: tuple[Router, ...],
    path_types: dict[str, Any],
    path_names: frozenset[str],
    security: list[SecurityScheme],
    schemas: _Schemas,
    taken: set[str],
) -> dict[str, Any]:
    func = route.handler_for(method)
    extractor = route.extractors[method]
    if set(path_names) != set(route.compiled.converters):
        extractor = compile_extractor(func, path_names, skip_first=route.view_class is not None)
    params = extractor.describe()
    summary, description = _docstring(func)
    operation: dict[str, Any] = {}
    tags = _tags(route, chain)
    if tags:
        operation["tags"] = tags
    if route.summary or summary:
        operation["summary"] = route.summary or summary
    if route.description or description:
        operation["description"] = route.description or description
    operation["operationId"] = route.operation_id or _operation_id(
        name, method, len(route.methods), taken
    )
    if route.operation_id:
        taken.add(route.operation_id)
    parameters = _parameters(params, path_types, schemas)
    if parameters:
        operation["parameters"] = parameters
    request_body, is_json = _body(params, schemas)
    if request_body is not None:
        operation["requestBody"] = request_body
    responses: dict[str, Any] = {}
    code, success = _success(route, func, schemas)
    responses[code] = success
    if params:
        responses["422"] = _error(422, "HTTPValidationError")
    if is_json:
        responses["415"] = _error(415)
    if path_types:
        responses["404"] = _error(404)
    needs_login, scopes = _auth_marks([func, *extractor.dependency_funcs()])
    if needs_login and security:
        requirements: list[dict[str, list[str]]] = []
        session: dict[str, list[str]] = {}
        for scheme in security:
            kind = scheme.scheme.get("type")
            if scheme.scheme.get("scheme") == "bearer":
                requirements.append({scheme.name: list(scopes)})
            elif scheme.unsafe_only:
                if method in _UNSAFE:
                    session[scheme.name] = []
            elif kind == "apiKey":
                session[scheme.name] = []
        if session:
            requirements.append(session)
        operation["security"] = requirements
        responses["401"] = _error(401)
        responses["403"] = _error(403)
    for key, value in route.responses.items():
        responses[str(key)] = _declared(value, str(key), schemas)
    operation["responses"] = dict(sorted(responses.items()))
    if route.deprecated:
        operation["deprecated"] = True
    operation.update(route.openapi_extra)
    return operation


def build_document(
    app: App,
    *,
    title: str,
    version: str,
    description: str | None = None,
    servers: list[dict[str, Any]] | None = None,
    security: Sequence[SecurityScheme] = (),
    tags: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return the app's OpenAPI 3.1 document as JSON-ready builtins.

    Args:
        app: The app; its routes are read as they are registered now.
        title: ``info.title``.
        version: ``info.version`` (the API's version, not OpenAPI's).
        description: ``info.description``.
        servers: The ``servers`` list, e.g. ``[{"url": "/api"}]``.
        security: The schemes the app accepts (the plugin finds them from
            the auth, sessions and CSRF batteries).
        tags: Descriptions of tags, ``[{"name": ..., "description": ...}]``.

    Returns:
        The document: ``openapi``, ``info``, ``paths`` (in registration
        order) and ``components``.
    """
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for route, prefix, namespace, chain in app.walk():
        if not isinstance(route, Route) or not route.include_in_schema:
            continue
        if not all(router.include_in_schema for router in chain):
            continue
        compiled = compile_path(prefix + route.path, route.hints) if prefix else route.compiled
        path_types = {
            param: converter.python_type for param, converter in compiled.converters.items()
        }
        item = paths.setdefault(compiled.path, {})
        for method in route.methods:
            if method in ("HEAD", "OPTIONS") and len(route.methods) > 1:
                continue
            item[method.lower()] = _operation(
                route,
                method,
                namespace + route.name,
                chain,
                path_types,
                frozenset(compiled.converters),
                list(security),
                schemas,
                taken,
            )
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
    if servers:
        document["servers"] = servers
    document["paths"] = paths
    components: dict[str, Any] = {}
    found = schemas.finish()
    uses_errors = any(
        code in ("401", "403", "404", "415", "422")
        for item in paths.values()
        for operation in item.values()
        for code in operation["responses"]
    )
    if uses_errors:
        found.update(_ERROR_SCHEMAS)
    if found:
        components["schemas"] = dict(sorted(found.items()))
    if security:
        components["securitySchemes"] = {scheme.name: scheme.scheme for scheme in security}
    if components:
        document["components"] = components
    if tags:
        document["tags"] = tags
    return msgspec.to_builtins(document)  # type: ignore[no-any-return]
