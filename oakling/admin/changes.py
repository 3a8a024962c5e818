"""The change messages of the audit log: which fields changed, with before and after values.

Django's ``construct_change_message`` names the changed fields; this adds the
values where that is safe: "Changed title (“Draft” → “Dune”) and done (No →
Yes)." A field whose name says it holds a secret (password, secret, token,
hash, key), a many-to-many field and a long text are named without values, so
the log never holds a password hash or a token.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .forms import FormField
    from .options import ModelAdmin

__all__ = ["describe_changes", "is_secret_field"]

#: Values longer than this are cut (with "…") in the log.
MAX_VALUE = 60
_SECRET = re.compile(r"pass|secret|token|hash|key|salt|otp|pin\b", re.IGNORECASE)


def is_secret_field(name: str) -> bool:
    """Return whether a field's values stay out of the log (by its name)."""
    return bool(_SECRET.search(name))


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "empty"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    text = str(getattr(value, "name", value)) if hasattr(value, "value") else str(value)
    text = " ".join(text.split())
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + "…"
    return f"“{text}”"


def describe_changes(
    model_admin: ModelAdmin,
    specs: dict[str, FormField],
    before: dict[str, Any],
    obj: Any,
    changed: list[str],
) -> str:
    """Return "title (“a” → “b”) and done (No → Yes)" for the ``changed`` fields.

    Args:
        model_admin: The object's admin (for the field labels).
        specs: The form's field map (:func:`oakling.admin.forms.model_form`).
        before: The form's initial values (:func:`~oakling.admin.forms.initial_data`).
        obj: The object, with its new values.
        changed: The names of the changed fields.

    Returns:
        The fields joined with commas and "and"; "no fields" when empty.
    """
    from .forms import initial_data

    if not changed:
        return "no fields"
    after = initial_data(obj, {name: specs[name] for name in changed if name in specs})
    parts = []
    for name in changed:
        label = name.replace("_", " ")
        spec = specs.get(name)
        if spec is None or spec.kind == "m2m" or is_secret_field(name):
            parts.append(label)
            continue
        old, new = before.get(name), after.get(name)
        if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > 200:
            parts.append(label)  # NOTE: a long text is named, not copied into the log
            continue
        parts.append(f"{label} ({_shown(old)} → {_shown(new)})")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
