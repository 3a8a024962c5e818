"""The benchmark's own tests: marked ``bench``, run in ``bench/.venv``.

They need the peers of ``bench/requirements.txt`` (Starlette, FastAPI,
Django, ...), which are benchmark dependencies, never oakling's. The README's
test command deselects them (``-m "not bench"`` in ``pyproject.toml``), so a
fresh clone passes with ``[dev]`` alone; CI's benchmark step runs them with
``bench/.venv/bin/python -m pytest -m bench tests/bench``, where a missing peer
is a failure, not a skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.bench)
