"""pytest fixtures for testing an ASGI app: ``client`` and ``async_client``.

pytest loads this plugin by itself once oakling is installed (the
``pytest11`` entry point). Define an ``app`` fixture returning the app under
test, usually in ``conftest.py``, then ask for a client::

    # conftest.py
    import pytest

    from myproject import create_app


    @pytest.fixture
    def app():
        return create_app(debug=True)


    # test_pages.py
    def test_index(client):
        assert client.get("/").status_code == 200


    @pytest.mark.anyio
    async def test_index_async(async_client):
        response = await async_client.get("/")
        assert response.status_code == 200

Like pytest-flask's ``client``, both fixtures are function-scoped: every test
gets a fresh client, with no cookies, around a lifespan of its own. Override
either one in ``conftest.py`` to change the client's options (``base_url``,
``raise_server_exceptions``, ...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from oakling.testing import AsyncClient, TestClient

__all__ = ["async_client", "client"]

_NO_APP = (
    "the {fixture!r} fixture needs an 'app' fixture returning your ASGI app; define one,"
    " usually in conftest.py:\n\n"
    "    @pytest.fixture\n"
    "    def app():\n"
    "        return create_app()\n"
)


def _user_app(request: pytest.FixtureRequest, fixture: str) -> Any:
    """Return the value of the user's ``app`` fixture.

    Raises:
        pytest.fail.Exception: If there is no ``app`` fixture (not when the
            ``app`` fixture exists but is itself missing a fixture).
    """
    try:
        return request.getfixturevalue("app")
    except pytest.FixtureLookupError as ex:
        if ex.argname != "app":
            raise
        pytest.fail(_NO_APP.format(fixture=fixture), pytrace=False)


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """A :class:`~oakling.testing.TestClient` for the ``app`` fixture, entered.

    The app's lifespan startup has run when the test starts, and its shutdown
    runs after the test. Requests are plain calls (``client.get("/")``) and
    ``client.websocket_connect(path)`` opens a WebSocket. The app's
    exceptions are re-raised in the test.
    """
    from oakling.testing import TestClient

    with TestClient(_user_app(request, "client")) as test_client:
        yield test_client


@pytest.fixture
async def async_client(request: pytest.FixtureRequest) -> AsyncIterator[AsyncClient]:
    """An :class:`~oakling.testing.AsyncClient` for the ``app`` fixture, entered.

    The app runs on the test's own event loop, with its lifespan around the
    test. Tests using it are ``async def``, marked ``@pytest.mark.anyio``
    (anyio's pytest plugin, installed with httpx, runs them); add an
    ``anyio_backend`` fixture returning ``"asyncio"`` to pick the backend::

        @pytest.fixture
        def anyio_backend():
            return "asyncio"
    """
    from oakling.testing import AsyncClient

    async with AsyncClient(_user_app(request, "async_client")) as test_client:
        yield test_client
