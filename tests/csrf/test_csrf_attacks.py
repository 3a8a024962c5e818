"""Attacks on a running app protected by the CSRF battery: each must be refused."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from csrf_support import BEARER, EVIL, CheckedClient, make_app, real_sessions, token_of

from oakling.testing import TestClient

KINDS = ["real", "stub"] if real_sessions() is not None else ["stub"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """The session battery under the CSRF one: the real one, and the test stub."""
    return str(request.param)


@pytest.fixture
def client(kind: str) -> Iterator[TestClient]:
    with CheckedClient(make_app(kind)) as client:
        yield client


@pytest.fixture
def https(kind: str) -> Iterator[TestClient]:
    with CheckedClient(make_app(kind), base_url="https://testserver") as client:
        yield client


def refused(response: object, reason: str) -> None:
    status = getattr(response, "status_code", None)
    text = getattr(response, "text", "")
    assert status == 403, f"expected 403, got {status}: {text}"
    assert reason in response.json()["detail"], response.json()  # type: ignore[attr-defined]


# -- cross-site posts ---------------------------------------------------------------


def test_cross_site_post_without_token_is_refused(client: TestClient) -> None:
    token_of(client)  # the victim has a session with a CSRF secret
    # What a hidden auto-submitting form on another site sends: cookies, no token.
    refused(client.post("/submit", data={"title": "pwned"}), "CSRF token missing.")
    refused(
        client.post("/submit", data={"title": "pwned"}, headers={"Origin": EVIL}),
        f"Origin checking failed - {EVIL} does not match any trusted origins.",
    )


def test_post_without_any_session_is_refused(client: TestClient) -> None:
    refused(client.post("/submit", data={"title": "x"}), "CSRF token missing or session expired.")
    # A token made up by the attacker does not help without a session secret.
    refused(
        client.post("/submit", data={"title": "x", "csrf_token": "a" * 64}),
        "CSRF token missing or session expired.",
    )


def test_token_from_another_session_is_refused(kind: str) -> None:
    with CheckedClient(make_app(kind)) as attacker, CheckedClient(make_app(kind)) as victim:
        # NOTE: both apps share SECRET_KEY, as two visitors of one site do.
        stolen = token_of(attacker)
        token_of(victim)
        refused(
            victim.post("/submit", data={"title": "x", "csrf_token": stolen}),
            "CSRF token incorrect.",
        )
        refused(victim.post("/submit", headers={"X-CSRFToken": stolen}), "CSRF token incorrect.")
        assert attacker.post("/submit", headers={"X-CSRFToken": stolen}).status_code == 200


def test_origin_of_another_site_is_refused_even_with_a_valid_token(client: TestClient) -> None:
    token = token_of(client)
    for origin in (
        EVIL,
        "http://evil.example",
        "http://testserver.evil.example",
        "http://testserver:8080",  # another port is another origin
        "http://sub.testserver",
    ):
        refused(
            client.post("/submit", headers={"X-CSRFToken": token, "Origin": origin}),
            f"Origin checking failed - {origin} does not match",
        )
    assert (
        client.post("/submit", headers={"X-CSRFToken": token, "Origin": "http://testserver"})
    ).status_code == 200


def test_origin_null_is_refused(client: TestClient) -> None:
    # Sandboxed iframes and data: URLs send "null": never same-origin.
    token = token_of(client)
    refused(
        client.post("/submit", headers={"X-CSRFToken": token, "Origin": "null"}),
        "Origin checking failed - null does not match any trusted origins.",
    )


def test_http_origin_posting_to_https_is_refused(https: TestClient) -> None:
    token = token_of(https)
    refused(
        https.post("/submit", headers={"X-CSRFToken": token, "Origin": "http://testserver"}),
        "Origin checking failed - http://testserver does not match",
    )
    ok = https.post("/submit", headers={"X-CSRFToken": token, "Origin": "https://testserver"})
    assert ok.status_code == 200, ok.text


def test_https_needs_a_same_origin_referer_when_origin_is_absent(https: TestClient) -> None:
    token = token_of(https)
    headers = {"X-CSRFToken": token}
    refused(https.post("/submit", headers=headers), "Referer checking failed - no Referer.")
    refused(
        https.post("/submit", headers={**headers, "Referer": f"{EVIL}/page"}),
        f"Referer checking failed - {EVIL}/page does not match any trusted origins.",
    )
    refused(
        https.post("/submit", headers={**headers, "Referer": "http://testserver/form"}),
        "Referer checking failed - Referer is insecure while host is secure.",
    )
    refused(
        https.post("/submit", headers={**headers, "Referer": "not a url"}),
        "Referer checking failed - Referer is malformed.",
    )
    # userinfo tricks: the host part is not this site's.
    refused(
        https.post("/submit", headers={**headers, "Referer": "https://testserver@evil.example/"}),
        "Referer checking failed",
    )
    ok = https.post("/submit", headers={**headers, "Referer": "https://testserver/form"})
    assert ok.status_code == 200, ok.text


def test_plain_http_needs_no_referer(client: TestClient) -> None:
    # Django's rule: Referer is only required over HTTPS (proxies strip it on HTTP).
    token = token_of(client)
    assert client.post("/submit", headers={"X-CSRFToken": token}).status_code == 200


def test_sec_fetch_site_cross_site_is_refused_even_with_a_valid_token(
    client: TestClient,
) -> None:
    token = token_of(client)
    refused(
        client.post("/submit", headers={"X-CSRFToken": token, "Sec-Fetch-Site": "cross-site"}),
        "Cross-site request refused (Sec-Fetch-Site: cross-site).",
    )
    for site in ("same-origin", "none"):
        response = client.post("/submit", headers={"X-CSRFToken": token, "Sec-Fetch-Site": site})
        assert response.status_code == 200, (site, response.text)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"title=pwned"),  # a <form enctype="text/plain">
        ("application/json", b'{"title": "pwned"}'),  # fetch() with no-cors
        (None, b"title=pwned"),
        ("application/xml", b"<t/>"),
    ],
)
def test_any_content_type_is_checked(
    client: TestClient, content_type: str | None, body: bytes
) -> None:
    token_of(client)
    headers = {"content-type": content_type} if content_type else {}
    refused(client.post("/submit", content=body, headers=headers), "CSRF token missing.")


def test_json_with_the_header_token_passes(client: TestClient) -> None:
    token = token_of(client)
    response = client.post("/submit", json={"title": "ok"}, headers={"X-CSRFToken": token})
    assert response.json() == {"ok": True, "method": "POST", "body": '{"title":"ok"}'}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_unsafe_methods_are_checked(client: TestClient, method: str) -> None:
    token = token_of(client)
    refused(client.request(method, "/submit"), "CSRF token missing.")
    refused(client.request(method, "/submit", headers={"Origin": EVIL}), "Origin checking failed")
    ok = client.request(method, "/submit", headers={"X-CSRFToken": token})
    assert ok.json()["method"] == method


def test_safe_methods_are_not_checked(client: TestClient) -> None:
    for method in ("GET", "HEAD", "OPTIONS"):
        response = client.request(method, "/form", headers={"Origin": EVIL})
        assert response.status_code in (200, 204), (method, response.status_code)


# -- tokens ---------------------------------------------------------------------------


def test_form_token_passes_and_the_handler_still_reads_the_form(client: TestClient) -> None:
    token = token_of(client)
    response = client.post("/submit", data={"title": "Write", "csrf_token": token})
    assert response.json() == {"ok": True, "method": "POST", "title": "Write"}


def test_header_tokens_pass(client: TestClient) -> None:
    token = token_of(client)
    for header in ("X-CSRFToken", "X-CSRF-Token", "x-csrftoken"):
        response = client.post("/submit", content=b"raw", headers={header: token})
        assert response.json()["body"] == "raw", header


def test_multipart_form_with_token(client: TestClient) -> None:
    token = token_of(client)
    refused(client.post("/upload", files={"document": ("a.txt", b"hello")}), "CSRF token missing.")
    response = client.post(
        "/upload", data={"csrf_token": token}, files={"document": ("a.txt", b"hello")}
    )
    assert response.json() == {"filename": "a.txt", "size": 5}
    titled = client.post(
        "/submit",
        data={"csrf_token": token, "title": "Multi"},
        files={"attachment": ("b.txt", b"x")},
    )
    assert titled.json()["title"] == "Multi"


def test_tokens_differ_per_call_and_all_validate(client: TestClient) -> None:
    tokens = client.get("/tokens").json()["tokens"] + [token_of(client), token_of(client)]
    assert len(set(tokens)) == len(tokens)
    assert all(len(token) == 64 and token.isalnum() for token in tokens)
    for token in tokens:
        assert client.post("/submit", headers={"X-CSRFToken": token}).status_code == 200


def test_rotated_secret_invalidates_old_tokens(client: TestClient) -> None:
    old = token_of(client)
    new = client.post("/login", headers={"X-CSRFToken": old}).json()["token"]
    refused(client.post("/submit", headers={"X-CSRFToken": old}), "CSRF token incorrect.")
    assert client.post("/submit", headers={"X-CSRFToken": new}).status_code == 200


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("short", "CSRF token from the 'X-CSRFToken' header has incorrect length."),
        ("!" * 64, "CSRF token from the 'X-CSRFToken' header has invalid characters."),
        ("a" * 64, "CSRF token incorrect."),
    ],
)
def test_malformed_and_guessed_tokens_are_refused(
    client: TestClient, token: str, reason: str
) -> None:
    token_of(client)
    refused(client.post("/submit", headers={"X-CSRFToken": token}), reason)


def test_tampered_token_is_refused(client: TestClient) -> None:
    token = token_of(client)
    flipped = token[:-1] + ("a" if token[-1] != "a" else "b")
    refused(client.post("/submit", headers={"X-CSRFToken": flipped}), "CSRF token incorrect.")
    # The unmasked secret itself is not accepted as a token either.
    refused(
        client.post("/submit", headers={"X-CSRFToken": token[32:]}),
        "has incorrect length",
    )


# -- exemptions ------------------------------------------------------------------------


def test_exempt_views_pass(client: TestClient) -> None:
    assert client.post("/webhook", headers={"Origin": EVIL}).json() == {"received": True}
    assert client.post("/view-hook", content=b"x").json() == {"view": "exempt"}


def test_bearer_token_request_is_not_checked(client: TestClient) -> None:
    token_of(client)  # even with a session cookie present
    response = client.post("/submit", content=b"api", headers={"Authorization": BEARER})
    assert response.json()["body"] == "api"
    # Authenticated by the session (cookie): checked.
    refused(client.post("/submit", headers={"X-Test-Login": "1"}), "CSRF token missing.")
    # A wrong bearer token authenticates nothing: checked.
    refused(
        client.post("/submit", headers={"Authorization": "Bearer nope"}),
        "CSRF token missing.",
    )


# -- the 403 answer --------------------------------------------------------------------


def test_json_403_has_detail(client: TestClient) -> None:
    response = client.post("/submit", headers={"Accept": "application/json", "Origin": EVIL})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": f"Origin checking failed - {EVIL} does not match any trusted origins."
    }


def test_html_403_says_why_and_escapes_the_header(client: TestClient) -> None:
    token_of(client)
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    response = client.post("/submit", data={"title": "x"}, headers=browser)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "CSRF verification failed" in response.text
    assert "CSRF token missing." in response.text
    hostile = client.post("/submit", headers={**browser, "Origin": "<script>alert(1)</script>"})
    assert hostile.status_code == 403
    assert "<script>" not in hostile.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile.text


def test_refusal_is_logged_on_oakling_csrf(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="oakling.csrf"):
        client.post("/submit", headers={"Origin": EVIL})
    records = [record for record in caplog.records if record.name == "oakling.csrf"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert "Origin checking failed" in records[0].getMessage()
    assert "/submit" in records[0].getMessage()


def test_an_app_403_handler_replaces_the_csrf_page(kind: str) -> None:
    app = make_app(kind)
    app.add_error_handler(403, lambda request, ex: {"refused": ex.detail})
    with CheckedClient(app) as client:
        assert client.post("/submit").json() == {
            "refused": "CSRF token missing or session expired."
        }


def test_invalid_host_is_the_cores_400(client: TestClient) -> None:
    response = client.post("/submit", headers={"Host": "evil.example/x", "Origin": EVIL})
    assert response.status_code == 400


# -- templates --------------------------------------------------------------------------


def test_template_helpers_render_valid_tokens(client: TestClient) -> None:
    import re

    page = client.get("/page").text
    match = re.fullmatch(
        r'<form method=post><input type="hidden" name="csrf_token" value="(\w{64})"></form>'
        r"<p>(\w{64})</p>",
        page,
    )
    assert match is not None, page
    hidden, shown = match.groups()
    assert hidden != shown
    for token in (hidden, shown):
        ok = client.post("/submit", data={"csrf_token": token, "title": "t"})
        assert ok.status_code == 200
