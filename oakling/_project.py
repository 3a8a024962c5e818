"""``oakling new``: write a new project from the templates in ``project_templates``.

Two layouts, as Flask's tutorial and Django's ``startproject`` start:
``minimal`` (one ``app.py`` and its test) and ``full`` (a package with a
settings class, an app factory, a router, models and their first migration,
templates, static files, the security and auth batteries, and tests).
Template files end in ``-tpl`` (so neither pytest, ruff nor mypy reads them
in oakling's own tree, as Django's ``.py-tpl``); in their names and contents
``__project__``/``__PROJECT__`` become the project's name and
``__SECRET_KEY__`` a fresh random key for the development ``.env``.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import secrets
from pathlib import Path

from oakling.exceptions import ImproperlyConfigured

__all__ = ["LAYOUTS", "create_project"]

TEMPLATES = Path(__file__).resolve().parent / "project_templates"
LAYOUTS = ("minimal", "full")

_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*")
# NOTE: names the generated code imports; a project named so would shadow them.
_RESERVED = {"app", "tests", "test", "oakling", "settings", "models", "views", "migrations"}


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name) or keyword.iskeyword(name):
        raise ImproperlyConfigured(
            f"{name!r} is not a valid project name: use a lowercase Python identifier "
            "(letters, digits and underscores, not starting with a digit), e.g. 'mysite'"
        )
    if name in _RESERVED:
        raise ImproperlyConfigured(f"{name!r} would shadow a module the project imports")
    if importlib.util.find_spec(name) is not None:
        # NOTE: Django's startproject refuses these too: `import NAME` would
        # find the installed module, not the project.
        raise ImproperlyConfigured(
            f"{name!r} conflicts with an importable Python module; choose another name"
        )


def _render(text: str, name: str, secret_key: str) -> str:
    return (
        text.replace("__PROJECT__", name)
        .replace("__project__", name)
        .replace("__SECRET_KEY__", secret_key)
    )


def _target_name(relative: Path, name: str) -> Path:
    parts = [part.replace("__project__", name) for part in relative.parts]
    last = parts[-1].removesuffix("-tpl")
    if last.startswith("dot-"):
        last = "." + last[len("dot-") :]
    return Path(*parts[:-1], last)


def create_project(
    name: str, directory: str | Path | None = None, *, minimal: bool = False
) -> Path:
    """Write project ``name`` into ``directory/name`` and return its folder.

    Args:
        name: The project's name: its folder and, for the full layout, its
            package; a lowercase Python identifier.
        directory: Where the project's folder goes (default: the current one).
        minimal: One ``app.py`` with its test instead of the full layout.

    Returns:
        The new project's folder.

    Raises:
        ImproperlyConfigured: For an invalid name, or when the folder exists
            and is not empty (nothing is overwritten).
    """
    _check_name(name)
    root = Path(directory or ".").resolve() / name
    if root.exists() and any(root.iterdir()):
        raise ImproperlyConfigured(f"{root} exists and is not empty; nothing was written")
    secret_key = secrets.token_urlsafe(50)
    layout = "minimal" if minimal else "full"
    for source_dir in (TEMPLATES / "common", TEMPLATES / layout):
        for source in sorted(source_dir.rglob("*")):
            if source.is_dir() or "__pycache__" in source.parts:
                continue
            target = root / _target_name(source.relative_to(source_dir), name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(
                _render(source.read_text(encoding="utf-8"), name, secret_key), encoding="utf-8"
            )
    return root
