"""Path converters: how ``{id:int}`` matches and converts a path segment."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

__all__ = [
    "CONVERTERS",
    "Converter",
    "FloatConverter",
    "IntConverter",
    "PathConverter",
    "SlugConverter",
    "StringConverter",
    "UUIDConverter",
    "converter_for_annotation",
    "register_converter",
]


class Converter:
    """Match a path parameter with ``regex`` and convert it to a Python value.

    Subclass it and call :func:`register_converter` to add a type usable as
    ``{name:type}`` in paths (Werkzeug's ``BaseConverter``, Starlette's
    ``Convertor``).
    """

    regex: ClassVar[str] = "[^/]+"
    python_type: ClassVar[type] = str

    def convert(self, value: str) -> Any:
        """Turn the matched text into the handler's value.

        Raises:
            ValueError: If the text does not convert; the route then does not
                match and routing goes on (ending in 404).
        """
        return value

    def to_string(self, value: Any) -> str:
        """Turn a value back into path text for ``url_for``.

        Raises:
            ValueError: If the value cannot appear in this segment.
        """
        text = str(value)
        if "/" in text or not text:
            raise ValueError(f"{value!r} cannot be a path segment")
        return text


class StringConverter(Converter):
    """One non-empty segment without ``/`` (the default)."""


class IntConverter(Converter):
    """A non-negative decimal integer (``{id:int}``), as Flask's ``int``."""

    regex = "[0-9]+"
    python_type = int

    def convert(self, value: str) -> int:  # noqa: D102
        return int(value)

    def to_string(self, value: Any) -> str:  # noqa: D102
        number = int(value)
        if number < 0:
            raise ValueError("negative integers do not match {name:int}")
        return str(number)


class FloatConverter(Converter):
    """A non-negative decimal number (``{price:float}``)."""

    regex = r"[0-9]+(?:\.[0-9]+)?"
    python_type = float

    def convert(self, value: str) -> float:  # noqa: D102
        return float(value)

    def to_string(self, value: Any) -> str:  # noqa: D102
        number = float(value)
        if number < 0 or number != number or number in (float("inf"),):
            raise ValueError(f"{value!r} does not match {{name:float}}")
        return repr(number)


class SlugConverter(Converter):
    """ASCII letters, digits, hyphens and underscores (Django's ``slug``)."""

    regex = "[-a-zA-Z0-9_]+"


class UUIDConverter(Converter):
    """A UUID in its 8-4-4-4-12 hex form, converted to :class:`uuid.UUID`."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    python_type = uuid.UUID

    def convert(self, value: str) -> uuid.UUID:  # noqa: D102
        return uuid.UUID(value)

    def to_string(self, value: Any) -> str:  # noqa: D102
        return str(uuid.UUID(str(value)))


class PathConverter(Converter):
    """The rest of the path, slashes included (``{file:path}``)."""

    regex = ".*"

    def to_string(self, value: Any) -> str:  # noqa: D102
        return str(value)


CONVERTERS: dict[str, Converter] = {
    "str": StringConverter(),
    "int": IntConverter(),
    "float": FloatConverter(),
    "slug": SlugConverter(),
    "uuid": UUIDConverter(),
    "path": PathConverter(),
}


def register_converter(name: str, converter: Converter) -> None:
    """Make ``{param:name}`` available in every path compiled afterwards."""
    CONVERTERS[name] = converter


def converter_for_annotation(annotation: Any) -> Converter | None:
    """Return the converter for a handler annotation (``id: int`` -> int), if any."""
    if annotation is str:
        # NOTE: a plain str takes the default converter (one segment, any
        # characters), not slug or path, which share its Python type.
        return None
    for converter in CONVERTERS.values():
        if type(converter) is not StringConverter and converter.python_type is annotation:
            if isinstance(converter, PathConverter):
                continue
            return converter
    return None
