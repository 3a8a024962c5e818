"""The security page's example does what docs/security.md says.

``tests/test_docs_examples.py`` finds ``test_security_app`` here by its name.
"""

from __future__ import annotations

import re

from oakling.checks import run_checks
from oakling.testing import TestClient
from tests.conftest import Loader


def test_security_app(load_example: Loader) -> None:
    module = load_example("security_app")
    app = module.app
    with TestClient(app, base_url="https://www.example.com") as client:
        home = client.get("/")
        assert home.status_code == 200
        header = home.headers["content-security-policy"]
        (nonce,) = re.findall(r"'nonce-([\w-]+)'", header)
        assert f'<script nonce="{nonce}">' in home.text
        assert home.headers["strict-transport-security"] == (
            "max-age=31536000; includeSubDomains; preload"
        )
        assert home.headers["x-frame-options"] == "DENY"
        assert "x-frame-options" not in client.get("/embed").headers
        assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    with TestClient(app, base_url="http://example.com", follow_redirects=False) as client:
        redirect = client.get("/?page=2")
        assert (redirect.status_code, redirect.headers["location"]) == (
            301,
            "https://example.com/?page=2",
        )
        assert client.get("/healthz").text == "ok"  # exempt: load balancers probe over http
    assert [m.id for m in run_checks(app, deploy=True) if m.id.startswith("security.")] == []
