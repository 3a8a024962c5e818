"""Each test starts with no Tasks plugin active outside requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from oakling.tasks import plugin


@pytest.fixture(autouse=True)
def _no_active_tasks_plugin() -> Iterator[None]:
    # NOTE: outside a request, enqueue uses the plugin installed last in the
    # process; a test must not inherit another test's app (and its broker).
    plugin._default = None
    yield
    plugin._default = None
