"""The change messages of the audit log: which fields changed, with before and after values.

Django's ``construct_change_message`` names the changed fields; this adds the
values where that is safe: "Changed title (“Draft” → “Dune”) and done (No →
Yes)." A field whose name says it holds a secret (password, secret, token,
hash, key), a many-to-many field and a long text are named without values, so
the log never holds a password hash or a token.

Messages are stored as JSON, as Django does (``[{"changed": {"fields":
[{"field": "title", "old": "Draft", "new": "Dune"}]}}]``), and rendered in
the reader's language by :func:`render_change_message`.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from oakling.i18n.translation import gettext

if TYPE_CHECKING:
    from .forms import FormField
    from .options import ModelAdmin

__all__ = [
    "describe_changes",
    "dump_change_message",
    "field_changes",
    "is_secret_field",
    "render_change_message",
]

#: Values longer than this are cut (with "…") in the log.
MAX_VALUE = 60
_SECRET = re.compile(r"pass|secret|token|hash|key|salt|otp|pin\b", re.IGNORECASE)


def is_secret_field(name: str) -> bool:
    """Return whether a field's values stay out of the log (by its name)."""
    return bool(_SECRET.search(name))


def _stored(value: Any) -> Any:
    """Return the value as kept in the log: None (empty), a bool, or text cut at 60."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(getattr(value, "name", value)) if hasattr(value, "value") else str(value)
    text = " ".join(text.split())
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + "…"
    return text


def _shown(value: Any) -> str:
    if value is None:
        return gettext("empty")
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    return gettext("“%(value)s”") % {"value": value}


def field_changes(
    model_admin: ModelAdmin,
    specs: dict[str, FormField],
    before: dict[str, Any],
    obj: Any,
    changed: list[str],
) -> list[dict[str, Any]]:
    """Return the log's record of the ``changed`` fields, with values where safe.

    Args:
        model_admin: The object's admin.
        specs: The form's field map (:func:`oakling.admin.forms.model_form`).
        before: The form's initial values (:func:`~oakling.admin.forms.initial_data`).
        obj: The object, with its new values.
        changed: The names of the changed fields.

    Returns:
        ``[{"field": "title", "old": "Draft", "new": "Dune"}, {"field":
        "groups"}]``: a value is None (empty), a bool, or text of at most 60
        characters; only ``"field"`` for many-to-many fields, texts over 200
        characters and secret-named fields.
    """
    from .forms import initial_data

    after = initial_data(obj, {name: specs[name] for name in changed if name in specs})
    records: list[dict[str, Any]] = []
    for name in changed:
        label = name.replace("_", " ")
        spec = specs.get(name)
        if spec is None or spec.kind == "m2m" or is_secret_field(name):
            records.append({"field": label})
            continue
        old, new = before.get(name), after.get(name)
        if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > 200:
            records.append({"field": label})  # NOTE: a long text is named, not copied
            continue
        records.append({"field": label, "old": _stored(old), "new": _stored(new)})
    return records


def _fields_text(records: list[dict[str, Any]]) -> str:
    parts = []
    for record in records:
        if "old" in record or "new" in record:
            parts.append(
                gettext("%(field)s (%(old)s → %(new)s)")
                % {
                    "field": record.get("field", ""),
                    "old": _shown(record.get("old")),
                    "new": _shown(record.get("new")),
                }
            )
        else:
            parts.append(str(record.get("field", "")))
    if not parts:
        return gettext("no fields")
    if len(parts) == 1:
        return parts[0]
    return gettext("%(list)s and %(last)s") % {"list": ", ".join(parts[:-1]), "last": parts[-1]}


def describe_changes(
    model_admin: ModelAdmin,
    specs: dict[str, FormField],
    before: dict[str, Any],
    obj: Any,
    changed: list[str],
) -> str:
    """Return "title (“a” → “b”) and done (No → Yes)" for the ``changed`` fields.

    The text of :func:`field_changes`, in the current language; "no fields"
    when nothing changed.
    """
    return _fields_text(field_changes(model_admin, specs, before, obj, changed))


def _one(kind: str, detail: dict[str, Any]) -> str:
    name, target = detail.get("name"), detail.get("object")
    fields = detail.get("fields")
    if kind == "added":
        if name is not None:
            return gettext("Added %(name)s “%(object)s”.") % {"name": name, "object": target}
        return gettext("Added.")
    if kind == "changed":
        text = _fields_text(list(fields or []))
        if name is not None:
            return gettext("Changed %(fields)s for %(name)s “%(object)s”.") % {
                "fields": text,
                "name": name,
                "object": target,
            }
        return gettext("Changed %(fields)s.") % {"fields": text}
    if kind == "deleted":
        if name is not None:
            return gettext("Deleted %(name)s “%(object)s”.") % {"name": name, "object": target}
        if detail.get("selected"):
            return gettext("Deleted (delete selected).")
        return gettext("Deleted.")
    if kind == "action":
        # NOTE: the action's description, translated if the app's catalogue has it.
        return gettext("Action: %(action)s.") % {
            "action": gettext(str(detail.get("description", "")))
        }
    if kind == "password":
        return gettext("Changed password.")
    return ""


def render_change_message(stored: str) -> str:
    """Return a stored change message as text in the current language.

    ``stored`` is the JSON the admin writes (Django's shape, a list of
    ``{"added"|"changed"|"deleted"|"action"|"password": {...}}``, with
    before and after values in ``"changed"``'s ``"fields"``); ``[]`` is "No
    fields changed.". Text that is not such JSON (entries written before
    messages were structured, or by hand) is returned as it is, as Django's
    ``LogEntry.get_change_message`` does.
    """
    try:
        parts = json.loads(stored)
    except ValueError:
        return stored
    if not isinstance(parts, list):
        return stored
    if not parts:
        return gettext("No fields changed.")
    texts = []
    for part in parts:
        if not isinstance(part, dict) or len(part) != 1:
            return stored
        ((kind, detail),) = part.items()
        text = _one(str(kind), detail if isinstance(detail, dict) else {})
        if not text:
            return stored
        texts.append(text)
    return " ".join(texts)


def dump_change_message(parts: list[dict[str, Any]]) -> str:
    """Return the JSON stored in ``LogEntry.change_message`` for ``parts``."""
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
