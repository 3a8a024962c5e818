from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cache_support import BACKENDS, Api, make_cache


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def api(backend: str, mode: str, tmp_path: Path) -> Iterator[Api]:
    """The cache API of one backend, in one form (sync or async)."""
    client = Api(make_cache(backend, tmp_path), mode)
    yield client
    client.close()
