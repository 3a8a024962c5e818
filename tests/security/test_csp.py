"""Content-Security-Policy: per-request nonces shared with templates, report-only mode."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from oakling import App, Request
from oakling.config import Settings
from oakling.security import CSP, Security, compile_policy, csp_nonce
from oakling.templating import render
from oakling.testing import TestClient

KEY = "k" * 40
NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]+)'")


def make_app(tmp_path: Path, **options: Any) -> App:
    (tmp_path / "page.html").write_text(
        '<script nonce="{{ csp_nonce() }}">go()</script>', encoding="utf-8"
    )
    app = App(
        settings=Settings(SECRET_KEY=KEY, ALLOWED_HOSTS=["testserver"]),
        plugins=[Security(**options)],
        template_folder=tmp_path,
    )

    @app.get("/page")
    def page(request: Request) -> Any:
        return render(request, "page.html")

    @app.get("/nonce")
    def nonce(request: Request) -> dict[str, str]:
        return {"nonce": csp_nonce(request), "scope": request.scope.get("csp_nonce", "")}

    return app


POLICY = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "object-src": CSP.NONE,
    "upgrade-insecure-requests": True,
    "report-uri": False,
}


def test_nonce_differs_per_request_and_matches_the_template(tmp_path: Path) -> None:
    app = make_app(tmp_path, csp=POLICY)
    seen: set[str] = set()
    with TestClient(app) as client:
        for _ in range(5):
            response = client.get("/page")
            header = response.headers["content-security-policy"]
            nonces = NONCE.findall(header)
            assert len(nonces) == 2 and nonces[0] == nonces[1]  # script-src and style-src
            assert response.text == f'<script nonce="{nonces[0]}">go()</script>'
            assert len(nonces[0]) >= 22  # 16 random bytes
            seen.add(nonces[0])
        assert header == (
            f"default-src 'self'; script-src 'self' 'nonce-{nonces[0]}'; "
            f"style-src 'self' 'nonce-{nonces[0]}'; object-src 'none'; upgrade-insecure-requests"
        )
        data = client.get("/nonce")
        assert data.json()["nonce"] == data.json()["scope"]
        assert NONCE.findall(data.headers["content-security-policy"])[0] == data.json()["nonce"]
    assert len(seen) == 5


def test_policy_without_nonce_is_static_and_creates_none(tmp_path: Path) -> None:
    app = make_app(tmp_path, csp="default-src 'self'")
    with TestClient(app) as client:
        response = client.get("/page")
        assert response.headers["content-security-policy"] == "default-src 'self'"
        assert response.text == '<script nonce="">go()</script>'
        assert client.get("/nonce").json() == {"nonce": "", "scope": ""}


def test_report_only_and_both_policies(tmp_path: Path) -> None:
    app = make_app(
        tmp_path,
        csp={"default-src": [CSP.SELF]},
        csp_report_only={"script-src": [CSP.NONCE, CSP.STRICT_DYNAMIC], "report-uri": "/csp"},
    )
    with TestClient(app) as client:
        response = client.get("/page")
        assert response.headers["content-security-policy"] == "default-src 'self'"
        report = response.headers["content-security-policy-report-only"]
        (nonce,) = NONCE.findall(report)
        assert report == f"script-src 'nonce-{nonce}' 'strict-dynamic'; report-uri /csp"
        assert f'nonce="{nonce}"' in response.text


def test_no_policy_no_header(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        response = client.get("/page")
        assert "content-security-policy" not in response.headers
        assert "content-security-policy-report-only" not in response.headers


def test_policy_from_settings_string_and_json(tmp_path: Path) -> None:
    for value in (
        "default-src 'self'; script-src 'nonce'",
        '{"default-src": ["\'self\'"], "script-src": ["\'nonce\'"]}',
    ):
        app = App(
            settings=Settings(
                SECRET_KEY=KEY, ALLOWED_HOSTS=["testserver"], extra={"SECURE_CSP": value}
            ),
            plugins=[Security()],
        )

        @app.get("/")
        def index() -> str:
            return "ok"

        with TestClient(app) as client:
            header = client.get("/").headers["content-security-policy"]
            assert re.fullmatch(r"default-src 'self'; script-src 'nonce-[\w-]+'", header), header


@pytest.mark.parametrize(
    "policy",
    [
        {"script-src": ["'self'; script-src *"]},  # a value smuggling a directive
        {"script-src": ["a,b"]},  # a value starting a second policy
        {"script-src": ["x\r\nSet-Cookie: a=b"]},  # header injection
        {"script src": ["'self'"]},
        {"script-src": ["https://bücher.example"]},
        {},
        "",
    ],
)
def test_unsafe_policies_are_refused(policy: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        compile_policy(policy)


def test_bad_source_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        compile_policy({"script-src": 5})
    with pytest.raises(TypeError):
        compile_policy({"script-src": ["'self'", 5]})
