"""The benchmark's own tests: marked ``bench``, run in ``bench/.venv``.

They need the peers of ``bench/requirements.txt`` (Starlette, FastAPI,
Django, ...), which are benchmark dependencies, never oakling's. The README's
test command deselects them (``-m "not bench"`` in ``pyproject.toml``), so a
fresh clone passes with ``[dev]`` alone; CI's benchmark step runs them with
``bench/.venv/bin/python -m pytest -m bench tests/bench``, where a missing peer
is a failure, not a skip.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.bench)


def load_script(path: Path, name: str) -> ModuleType:
    """Import a ``bench/`` script as module ``name`` (it is not a package module)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module
