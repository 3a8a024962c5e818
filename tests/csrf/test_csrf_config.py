"""Configuration of the CSRF battery: trusted origins, names, install order, checks."""

from __future__ import annotations

import pytest
from csrf_support import (
    EVIL,
    SECRET,
    CheckedClient,
    StubSessions,
    make_app,
    real_sessions,
    token_of,
)

from oakling import App
from oakling.checks import run_checks
from oakling.config import Settings
from oakling.csrf import CSRF
from oakling.exceptions import ImproperlyConfigured
from oakling.testing import TestClient

KIND = "real" if real_sessions() is not None else "stub"


def post_from(client: TestClient, origin: str, token: str) -> int:
    return client.post("/submit", headers={"Origin": origin, "X-CSRFToken": token}).status_code


def test_trusted_origins_exact_and_wildcard() -> None:
    app = make_app(
        KIND, trusted_origins=["https://admin.example.com", "https://*.partner.example:8443"]
    )
    with CheckedClient(app) as client:
        token = token_of(client)
        assert post_from(client, "https://admin.example.com", token) == 200
        assert post_from(client, "https://ADMIN.example.com:443", token) == 200
        assert post_from(client, "http://admin.example.com", token) == 403  # scheme counts
        assert post_from(client, "https://admin.example.com.evil.example", token) == 403
        assert post_from(client, "https://a.b.partner.example:8443", token) == 200
        assert post_from(client, "https://partner.example:8443", token) == 200
        assert post_from(client, "https://partner.example", token) == 403  # port counts
        assert post_from(client, "http://x.partner.example:8443", token) == 403
        assert post_from(client, "https://evilpartner.example:8443", token) == 403
        assert post_from(client, EVIL, token) == 403


def test_trusted_origins_from_settings_and_the_argument_wins() -> None:
    extra = {"CSRF_TRUSTED_ORIGINS": "https://a.example,https://b.example"}
    with CheckedClient(make_app(KIND, extra=extra)) as client:
        token = token_of(client)
        assert post_from(client, "https://a.example", token) == 200
        assert post_from(client, "https://b.example", token) == 200
    app = make_app(KIND, extra=extra, trusted_origins=["https://c.example"])
    with CheckedClient(app) as client:
        token = token_of(client)
        assert post_from(client, "https://a.example", token) == 403
        assert post_from(client, "https://c.example", token) == 200


def test_trusted_origin_satisfies_the_https_referer_check() -> None:
    app = make_app(KIND, trusted_origins=["https://*.example.com"])
    with CheckedClient(app, base_url="https://testserver") as client:
        token = token_of(client)
        headers = {"X-CSRFToken": token, "Referer": "https://shop.example.com/cart"}
        assert client.post("/submit", headers=headers).status_code == 200
        headers["Referer"] = "https://shop.example.org/cart"
        assert client.post("/submit", headers=headers).status_code == 403


def test_header_and_field_names_from_settings() -> None:
    extra = {"CSRF_HEADER_NAME": "HTTP_X_XSRF_TOKEN", "CSRF_FIELD_NAME": "_csrf"}
    app = make_app(KIND, extra=extra)
    assert app.extensions["csrf"].header_name == "X-XSRF-TOKEN"
    with CheckedClient(app) as client:
        token = token_of(client)
        assert client.post("/submit", headers={"X-XSRF-Token": token}).status_code == 200
        assert client.post("/submit", headers={"X-CSRF-Token": token}).status_code == 200
        assert client.post("/submit", data={"_csrf": token, "title": "t"}).status_code == 200
        assert client.post("/submit", data={"csrf_token": token}).status_code == 403
        assert 'name="_csrf"' in client.get("/page").text
    app = make_app(KIND, extra=extra, field_name="token", header_name="X-Token")
    with CheckedClient(app) as client:
        token = token_of(client)
        assert client.post("/submit", headers={"X-Token": token}).status_code == 200
        assert client.post("/submit", data={"token": token}).status_code == 200


def test_install_without_sessions_names_the_sessions_battery() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"sessions battery.*Sessions\(\), CSRF\(\)"):
        App(settings=Settings(SECRET_KEY=SECRET), plugins=[CSRF()])


def test_extension_and_a_second_plugin() -> None:
    csrf = CSRF()
    app = App(settings=Settings(SECRET_KEY=SECRET), plugins=[StubSessions(), csrf])
    assert app.extensions["csrf"] is csrf
    with pytest.raises(ImproperlyConfigured, match="already has a CSRF plugin"):
        app.install(CSRF())


def test_deploy_check_reports_origins_without_scheme() -> None:
    app = make_app(KIND, trusted_origins=["admin.example.com", "https://ok.example"])
    found = [message for message in run_checks(app, deploy=True) if message.id.startswith("csrf")]
    assert [(message.id, message.level) for message in found] == [("csrf.E001", "error")]
    assert "'admin.example.com'" in found[0].message
    assert "https://admin.example.com" in found[0].hint
    # Not run without --deploy; nothing reported for good settings.
    assert not [m for m in run_checks(app) if m.id.startswith("csrf")]
    good = make_app(KIND, trusted_origins=["https://ok.example"])
    assert not [m for m in run_checks(good, deploy=True) if m.id.startswith("csrf")]
    # ...and such an entry indeed never matches.
    with CheckedClient(app) as client:
        assert post_from(client, "https://admin.example.com", token_of(client)) == 403
