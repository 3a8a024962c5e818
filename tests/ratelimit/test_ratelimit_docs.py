"""The rate-limit page's example does what docs/ratelimit.md says.

``tests/test_docs_examples.py`` finds ``test_ratelimit_app`` here by its name.
"""

from __future__ import annotations

from oakling.testing import TestClient
from tests.conftest import Loader


def test_ratelimit_app(load_example: Loader) -> None:
    app = load_example("ratelimit_app").app
    json = {"Accept": "application/json"}
    with TestClient(app) as client:
        assert [client.get("/report").status_code for _ in range(3)] == [200, 200, 429]
        assert [client.post("/search?q=x").status_code for _ in range(6)] == [200] * 5 + [429]
        assert [client.get("/health").status_code for _ in range(120)] == [200] * 120
        homes = [client.get("/").status_code for _ in range(101)]
        assert homes == [200] * 100 + [429]
        tenant = {"X-Tenant": "acme", **json}
        exports = [client.get("/export", headers=tenant).status_code for _ in range(4)]
        assert exports == [200, 200, 200, 429]
        # no tenant header: the key is None, nothing is counted
        assert [client.get("/export").status_code for _ in range(4)] == [200] * 4
        token = {"Authorization": "Bearer abc", **json}
        assert client.get("/api/tasks", headers=token).headers.get("retry-after") is None
        refused = client.get("/report", headers=json)
        assert refused.status_code == 429
        assert refused.headers["ratelimit-policy"] == '"2-per-minute";q=2;w=60'
