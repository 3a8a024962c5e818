"""Response models: a handler's return annotation validates what it returns.

A handler annotated ``-> UserOut`` (a msgspec Struct, dataclass, TypedDict or
pydantic model, or a ``list`` of one) has its return value converted through
that type before it is encoded: attributes and keys the type does not
declare are dropped (a password hash on the ORM object never reaches the
client), and a value that does not fit is a :class:`ResponseValidationError`
(500, logged, naming the field). FastAPI's ``response_model``, read from the
annotation as FastAPI does since 0.89.

Handlers annotated ``dict``, ``str``, ``Response`` or nothing are not
wrapped at all: they keep the plain path.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import typing
from collections.abc import Callable
from typing import Any, get_args, get_origin

import msgspec

from oakling.exceptions import ResponseValidationError
from oakling.responses import Response

__all__ = ["response_model", "with_response_model"]

logger = logging.getLogger("oakling.error")


def _is_schema_type(annotation: Any) -> bool:
    if not isinstance(annotation, type):
        return False
    if issubclass(annotation, msgspec.Struct) or dataclasses.is_dataclass(annotation):
        return True
    if typing.is_typeddict(annotation):
        return True
    return hasattr(annotation, "model_validate") and hasattr(annotation, "model_fields")


def response_model(func: Callable[..., Any]) -> Any:
    """Return ``func``'s return annotation when it is a response model, else None.

    A response model is a Struct, dataclass, TypedDict or pydantic model
    class, or ``list[...]`` of one. A return annotation that cannot be
    resolved (a name imported under ``TYPE_CHECKING``) counts as none, with
    a warning on ``oakling.error``: nothing is filtered for that handler.
    """
    try:
        annotation = typing.get_type_hints(func).get("return")
    except Exception:  # noqa: BLE001 - resolve the return annotation alone, below
        annotation = _return_only(func)
    if annotation is None:
        return None
    target = annotation
    if get_origin(annotation) is list:
        args = get_args(annotation)
        target = args[0] if args else None
    return annotation if _is_schema_type(target) else None


def _return_only(func: Callable[..., Any]) -> Any:
    target = inspect.unwrap(func)
    raw = getattr(target, "__annotations__", {}).get("return")
    if not isinstance(raw, str):
        return raw
    try:
        return eval(raw, getattr(target, "__globals__", {}))  # noqa: S307 - the app's own annotation
    except Exception as ex:  # noqa: BLE001 - a type-checking-only name
        logger.warning(
            "the return annotation %r of %s cannot be resolved (%s): no response model "
            "is applied to it; define or import the type at module level",
            raw,
            getattr(func, "__qualname__", func),
            ex,
        )
        return None


def _converter(annotation: Any, where: str) -> Callable[[Any], Any]:
    target = get_args(annotation)[0] if get_origin(annotation) is list else annotation
    if hasattr(target, "model_validate"):
        import pydantic

        adapter: Any = pydantic.TypeAdapter(annotation)

        def convert_pydantic(value: Any) -> Any:
            try:
                # NOTE: dumped with the declared type's schema, so fields of
                # a subclass or of an ORM object are left out.
                return adapter.dump_python(
                    adapter.validate_python(value, from_attributes=True), mode="json"
                )
            except ValueError as ex:  # pydantic's ValidationError is a ValueError
                raise ResponseValidationError(f"{where}: {ex}") from ex

        return convert_pydantic

    name = getattr(target, "__name__", repr(target))
    is_dataclass = dataclasses.is_dataclass(target)

    def convert(value: Any) -> Any:
        try:
            result = msgspec.convert(value, annotation, from_attributes=True)
        except msgspec.ValidationError as ex:
            raise ResponseValidationError(
                f"{where} returned a value that does not match {name}: {ex}"
            ) from ex
        if is_dataclass:
            # NOTE: msgspec's dataclass instances leave defaults off __dict__;
            # encode through builtins so every declared field is sent.
            return msgspec.to_builtins(result)
        return result

    return convert


def with_response_model(func: Callable[..., Any], annotation: Any) -> Callable[..., Any]:
    """Wrap ``func`` so its return value goes through ``annotation``.

    The wrapper is sync or async as ``func`` is, and takes the same
    arguments. Returned :class:`Response` objects pass untouched; of a
    ``(body, status[, headers])`` tuple the body is converted.

    Raises:
        ResponseValidationError: At call time, for a value that does not fit.
    """
    where = getattr(func, "__qualname__", repr(func))
    convert = _converter(annotation, where)

    def finish(result: Any) -> Any:
        if isinstance(result, Response):
            return result
        if type(result) is tuple and result:
            return (convert(result[0]), *result[1:])
        return convert(result)

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_model(*args: Any, **kwargs: Any) -> Any:
            return finish(await func(*args, **kwargs))

        return async_model

    @functools.wraps(func)
    def sync_model(*args: Any, **kwargs: Any) -> Any:
        return finish(func(*args, **kwargs))

    return sync_model
