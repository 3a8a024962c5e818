"""The public surface: ``__all__`` complete, core free of batteries, lazy imports."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import oakling

PACKAGE = Path(oakling.__file__).parent
BATTERIES = {
    "db",
    "sessions",
    "csrf",
    "auth",
    "security",
    "admin",
    "cache",
    "ratelimit",
    "i18n",
    "tasks",
    "channels",
    "mail",
    "openapi",
    "messages",
    "rest",
}


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(PACKAGE)], "oakling."):
        parts = info.name.split(".")
        if len(parts) > 1 and parts[1] in BATTERIES:
            continue
        names.append(info.name)
    return names


def test_every_public_core_module_has_all():
    for name in core_modules():
        if any(part.startswith("_") for part in name.split(".")[1:]):
            continue
        module = importlib.import_module(name)
        assert hasattr(module, "__all__"), f"{name} has no __all__"
        for item in module.__all__:
            assert hasattr(module, item), f"{name}.__all__ names missing {item}"


def test_package_all_is_complete_and_importable():
    for item in oakling.__all__:
        assert getattr(oakling, item) is not None
    exported_classes = {
        name
        for name in dir(oakling)
        if not name.startswith("_") and isinstance(getattr(oakling, name), type)
    }
    assert exported_classes <= set(oakling.__all__)


def test_core_imports_no_battery():
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).parts
        if relative[0] in BATTERIES:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                assert not (parts[0] == "oakling" and len(parts) > 1 and parts[1] in BATTERIES), (
                    f"core module {path.name} imports battery {name}"
                )


def test_batteries_use_only_the_core_public_api():
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).parts
        if relative[0] not in BATTERIES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                parts = node.module.split(".")
                private = [part for part in parts[1:2] if part.startswith("_")]
                assert not (parts[0] == "oakling" and private), (
                    f"battery module {'/'.join(relative)} imports private {node.module}"
                )


def test_import_oakling_loads_no_optional_machinery():
    # NOTE: the import-time target of bench/importtime.py (faster than Flask)
    # rests on this list: asyncio alone is a third of a cold import.
    code = (
        "import sys, oakling; "
        "heavy = [m for m in ('jinja2', 'multipart', 'python_multipart', 'httpx', "
        "'uvicorn', 'click', 'a2wsgi', 'asyncio', 'concurrent.futures', 'tempfile', "
        "'email.utils', 'http.cookies', 'celery', 'kombu') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
