"""The auth forms' 429s carry the same fields as a route limit's 429.

``Retry-After`` (RFC 9110 section 10.2.3) and the ``RateLimit-Policy`` /
``RateLimit`` fields of draft-ietf-httpapi-ratelimit-headers-10, checked
against the draft's syntax (Structured Field Lists of quoted names with
``q``/``w`` and ``r``/``t`` integer parameters) and against an API route's
429 from the same app. The silent per-address reset cap, which must tell
nothing, adds none.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from oakling.auth.throttling import Throttled
from oakling.ratelimit import Limiter, parse_limits, ratelimit
from oakling.testing import TestClient
from tests.auth.conftest import WEB_PASSWORD
from tests.conftest import peer_from_header

# NOTE: draft-10 section 3 (RateLimit-Policy) and section 4 (RateLimit).
POLICY_RE = re.compile(r'^"(?P<name>[A-Za-z0-9._-]+)";q=(?P<q>\d+);w=(?P<w>\d+)$')
RATELIMIT_RE = re.compile(r'^"(?P<name>[A-Za-z0-9._-]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


def _fields(response: Any) -> tuple[dict[str, str], dict[str, str], int]:
    """Return the parsed policy and ratelimit members and Retry-After; assert their syntax."""
    policy = POLICY_RE.match(response.headers["ratelimit-policy"])
    current = RATELIMIT_RE.match(response.headers["ratelimit"])
    assert policy is not None, response.headers["ratelimit-policy"]
    assert current is not None, response.headers["ratelimit"]
    return policy.groupdict(), current.groupdict(), int(response.headers["retry-after"])


def _post(client: Any, path: str, data: dict[str, str], peer: str = "192.0.2.1") -> Any:
    return client.post(path, data=data, headers={"X-Peer": peer}, follow_redirects=False)


def _login(username: str, password: str = "guess") -> dict[str, str]:
    return {"username": username, "password": password}


def test_login_account_429_has_retry_after_and_ratelimit_fields(
    make_app: Any, add_user: Any
) -> None:
    app = make_app(throttle_account="3 per 15 minutes")
    add_user(app)
    with TestClient(peer_from_header(app)) as client:
        for _ in range(3):
            assert _post(client, "/auth/login", _login("ann")).status_code == 400
        refused = _post(client, "/auth/login", _login("ann", WEB_PASSWORD))
    assert refused.status_code == 429
    policy, current, retry_after = _fields(refused)
    assert policy == {"name": "login-account", "q": "3", "w": "900"}
    assert current["name"] == "login-account"
    assert current["r"] == "0"
    assert int(current["t"]) == retry_after
    assert 890 <= retry_after <= 900


def test_login_ip_429_names_the_ip_policy(make_app: Any, add_user: Any) -> None:
    app = make_app(throttle_ip="2 per 15 minutes")
    add_user(app)
    with TestClient(peer_from_header(app)) as client:
        for number in range(2):
            assert _post(client, "/auth/login", _login(f"user{number}")).status_code == 400
        refused = _post(client, "/auth/login", _login("ann", WEB_PASSWORD))
    assert refused.status_code == 429
    policy, current, retry_after = _fields(refused)
    assert policy == {"name": "login-ip", "q": "2", "w": "900"}
    assert (current["name"], current["r"], int(current["t"])) == ("login-ip", "0", retry_after)


def test_password_reset_and_signup_429s_have_the_fields(make_app: Any) -> None:
    app = make_app(signup=True, throttle_reset_ip="1 per hour", throttle_signup_ip="1 per hour")
    signup = {"username": "ann", "password1": "a long pass 42 x", "password2": "a long pass 42 x"}
    with TestClient(peer_from_header(app)) as client:
        assert _post(client, "/auth/password/reset", {"email": "a@example.com"}).status_code == 303
        reset = _post(client, "/auth/password/reset", {"email": "b@example.com"})
        assert _post(client, "/auth/signup", signup).status_code == 303
        client.post("/auth/logout")
        refused_signup = _post(client, "/auth/signup", {**signup, "username": "bob"})
    assert reset.status_code == 429
    policy, current, retry_after = _fields(reset)
    assert policy == {"name": "password-reset-ip", "q": "1", "w": "3600"}
    assert int(current["t"]) == retry_after
    assert refused_signup.status_code == 429
    policy, current, retry_after = _fields(refused_signup)
    assert policy == {"name": "signup-ip", "q": "1", "w": "3600"}
    assert int(current["t"]) == retry_after


def test_the_silent_per_address_reset_cap_adds_no_fields(make_app: Any, outbox: Any) -> None:
    app = make_app(throttle_reset_email="1 per hour")
    with TestClient(peer_from_header(app)) as client:
        first = _post(client, "/auth/password/reset", {"email": "ann@example.com"}, "192.0.2.1")
        capped = _post(client, "/auth/password/reset", {"email": "ann@example.com"}, "192.0.2.2")
    # the same answer as any request: the cap tells nothing
    assert first.status_code == capped.status_code == 303
    assert "ratelimit" not in capped.headers
    assert "ratelimit-policy" not in capped.headers


def test_form_and_api_429s_of_one_app_use_the_same_fields(make_app: Any, add_user: Any) -> None:
    app = make_app(throttle_account="1 per 15 minutes", after=(Limiter(),))

    @app.get("/api/ping")
    @ratelimit("1/minute")
    def ping() -> dict[str, str]:
        return {"ping": "pong"}

    add_user(app)
    with TestClient(peer_from_header(app)) as client:
        assert client.get("/api/ping").status_code == 200
        api = client.get("/api/ping", headers={"Accept": "application/json"})
        assert _post(client, "/auth/login", _login("ann")).status_code == 400
        form = _post(client, "/auth/login", _login("ann", WEB_PASSWORD))
    assert api.status_code == form.status_code == 429
    api_policy, api_current, api_retry = _fields(api)
    form_policy, form_current, form_retry = _fields(form)
    # the same members and parameters, each naming its own policy
    assert set(api_policy) == set(form_policy) and set(api_current) == set(form_current)
    assert (api_policy["q"], api_policy["w"]) == ("1", "60")
    assert int(api_current["t"]) == api_retry and int(form_current["t"]) == form_retry


@pytest.mark.parametrize(
    ("action", "scope", "name"),
    [
        ("login", "account", "login-account"),
        ("login", "ip", "login-ip"),
        ("password_reset", "ip", "password-reset-ip"),
        ("signup", "ip", "signup-ip"),
    ],
)
def test_throttled_headers_sans_io(action: Any, scope: Any, name: str) -> None:
    (item,) = parse_limits("10 per 15 minutes")
    headers = Throttled(scope, 42, action, item).headers()
    assert headers == {
        "Retry-After": "42",
        "RateLimit-Policy": f'"{name}";q=10;w=900',
        "RateLimit": f'"{name}";r=0;t=42',
    }
    # a refusal built without its limit (older code) still says when to retry
    assert Throttled(scope, 42, action).headers() == {"Retry-After": "42"}
