"""Validation errors in oakling's shape: msgspec's and pydantic's, and invalid JSON.

Each error is ``{"loc": [...], "msg": str, "type": str}``, the list FastAPI
users parse (see :class:`oakling.exceptions.RequestValidationError`).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from oakling.requests import json_error_message

__all__ = ["msgspec_errors"]

_AT_RE = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\.`?([^.\[`]+)`?")


def _loc_from_path(path: str) -> list[str | int]:
    loc: list[str | int] = []
    for name, index, other in _AT_RE.findall(path):
        if index:
            loc.append(int(index))
        else:
            loc.append(name or other)
    return loc


def msgspec_errors(ex: msgspec.ValidationError, base: list[str | int]) -> list[dict[str, Any]]:
    """Turn a msgspec validation error into oakling's error list (one entry)."""
    message = str(ex)
    text, _, at = message.partition(" - at `$")
    loc = list(base) + _loc_from_path(at.rstrip("`"))
    if text.startswith("Object missing required field"):
        field = text.split("`")[1] if "`" in text else ""
        return [{"loc": loc + [field], "msg": "Field required", "type": "missing"}]
    kind = "type_error" if text.startswith("Expected") and ", got `" in text else "value_error"
    return [{"loc": loc, "msg": text, "type": kind}]


def _pydantic_errors(ex: Any, base: list[str | int]) -> list[dict[str, Any]]:
    return [
        {"loc": list(base) + list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in ex.errors(include_url=False)
    ]


def _json_invalid(ex: BaseException, body: bytes | None = None) -> dict[str, Any]:
    return {
        "loc": ["body"],
        "msg": f"Invalid JSON: {json_error_message(ex, body)}",
        "type": "json_invalid",
    }
