from __future__ import annotations

import html
from typing import Any

import pytest

from oakling import App, HTTPException
from oakling._debug import MAX_FRAMES, MAX_REPR, debug_response, safe_repr
from oakling.requests import Request
from oakling.testing import TestClient

BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
SECRET_VALUE = "hunter2-do-not-show"


def failing_app(debug: bool) -> App:
    app = App(debug=debug, secret_key="x" * 40)

    @app.get("/boom")
    def boom() -> str:
        visible_local = "a-visible-local-value"
        user_input = SECRET_VALUE
        raise ValueError(f"bad value {len(visible_local)} {len(user_input)}")

    @app.get("/xss")
    def xss() -> str:
        payload = "<img src=x onerror=alert(2)>"
        raise RuntimeError(f"<script>alert(1)</script> {payload}")

    return app


def get(app: App, path: str, headers: dict[str, str] | None = None) -> Any:
    with TestClient(app, raise_server_exceptions=False) as client:
        return client.get(path, headers=headers)


def test_debug_page_shows_exception_source_line_and_locals() -> None:
    response = get(failing_app(debug=True), "/boom", BROWSER)

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    text = response.text
    assert "ValueError" in text
    assert "bad value 21 19" in text
    assert __file__ in text
    assert "in failing_app.&lt;locals&gt;.boom" in text
    # The failing line is shown and highlighted.
    failing_line = html.escape(
        'raise ValueError(f"bad value {len(visible_local)} {len(user_input)}")'
    )
    highlighted = text.split('<span class="hl">')
    assert any(part.split("</span>")[0].strip().endswith(failing_line) for part in highlighted[1:])
    # A local variable and its repr.
    assert "visible_local" in text
    assert html.escape(repr("a-visible-local-value")) in text
    assert "<script" not in text


def test_debug_page_escapes_html_in_message_and_locals() -> None:
    response = get(failing_app(debug=True), "/xss", BROWSER)

    assert response.status_code == 500
    text = response.text
    assert "<script>" not in text
    assert "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text
    # Defence in depth: the page may not run scripts even if one slipped through.
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_debug_page_escapes_the_request_path_and_headers() -> None:
    app = failing_app(debug=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(
            "/boom?q=<script>x</script>", headers={**BROWSER, "x-evil": "<script>y</script>"}
        )
    assert response.status_code == 500
    assert "<script>" not in response.text


def test_debug_page_masks_secret_looking_locals_and_headers() -> None:
    app = App(debug=True, secret_key="x" * 40)

    @app.get("/login")
    def login() -> str:
        # Built at run time: the source lines are on the page, the values must not be.
        password = "-".join(["p4ssw0rd", "value"])
        api_key = "-".join(["key", "value", "123"])
        raise RuntimeError(f"login failed ({len(password)}, {len(api_key)})")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(
            "/login",
            headers={**BROWSER, "authorization": "Bearer tok-123", "cookie": "sid=cookie-456"},
        )
    text = response.text
    assert "password" in text and "api_key" in text
    for value in ("p4ssw0rd-value", "key-value-123", "tok-123", "cookie-456"):
        assert value not in text


def test_debug_page_shows_chained_exceptions() -> None:
    app = App(debug=True)

    @app.get("/chain")
    def chain() -> str:
        try:
            values: dict[str, int] = {}
            values["missing-key"]
        except KeyError as ex:
            raise RuntimeError("lookup failed") from ex
        return ""

    response = get(app, "/chain", BROWSER)
    text = response.text
    cause = "KeyError: &#x27;missing-key&#x27;"
    assert text.index("RuntimeError: lookup failed") < text.index(cause)
    assert "The direct cause of the exception above" in text


def test_debug_page_shows_implicit_context() -> None:
    app = App(debug=True)

    @app.get("/context")
    def context() -> str:
        try:
            raise OSError("disk gone")
        except OSError:
            raise LookupError("while recovering")  # noqa: B904

    text = get(app, "/context", BROWSER).text
    assert "LookupError: while recovering" in text
    assert "OSError: disk gone" in text
    assert "Being handled when the exception above happened" in text


def test_debug_json_for_api_clients() -> None:
    response = get(failing_app(debug=True), "/boom", {"accept": "application/json"})

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["detail"] == "ValueError: bad value 21 19"
    assert body["exception"] == "ValueError"
    assert any("raise ValueError" in line for line in body["traceback"])
    assert body["traceback"][-1] == "ValueError: bad value 21 19"


def test_no_accept_header_gets_json_like_other_error_pages() -> None:
    with TestClient(failing_app(debug=True), raise_server_exceptions=False) as client:
        client.headers.pop("accept", None)
        response = client.get("/boom")
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_production_500_shows_no_traceback_or_locals(accept: str) -> None:
    response = get(failing_app(debug=False), "/boom", {"accept": accept})

    assert response.status_code == 500
    text = response.text
    for leak in (SECRET_VALUE, "a-visible-local-value", "visible_local", "Traceback", "bad value"):
        assert leak not in text
    assert __file__ not in text


def test_http_exceptions_do_not_get_the_debug_page() -> None:
    app = App(debug=True)

    @app.get("/missing")
    def missing() -> str:
        raise HTTPException(404, "no such task")

    response = get(app, "/missing", {"accept": "application/json"})
    assert response.status_code == 404
    assert response.json() == {"detail": "no such task"}


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str exploded")


def test_broken_repr_and_str_do_not_break_the_page() -> None:
    app = App(debug=True)

    @app.get("/bad")
    def bad() -> str:
        thing = BadRepr()
        raise BadStr(thing)

    response = get(app, "/bad", BROWSER)
    assert response.status_code == 500
    assert "&lt;repr failed: RuntimeError&gt;" in response.text
    assert "&lt;str() failed: RuntimeError&gt;" in response.text


def test_long_reprs_are_cut() -> None:
    assert len(safe_repr("y" * 100_000)) <= MAX_REPR
    assert len(safe_repr(list(range(100_000)))) <= MAX_REPR
    assert safe_repr(BadRepr()) == "<repr failed: RuntimeError>"


def test_deep_recursion_is_trimmed() -> None:
    def recurse(depth: int) -> None:
        if depth == 0:
            raise ValueError("bottom")
        recurse(depth - 1)

    try:
        recurse(MAX_FRAMES * 2)
    except ValueError as ex:
        error = ex
    request = Request({"type": "http", "headers": [(b"accept", b"text/html")], "path": "/"})
    response = debug_response(request, error)
    text = response.body.decode()
    assert response.status_code == 500
    assert "frames omitted" in text
    assert text.count("in test_deep_recursion_is_trimmed.&lt;locals&gt;.recurse") <= MAX_FRAMES


def test_debug_response_falls_back_to_plain_text() -> None:
    # A malformed scope (a buggy middleware's str query string) breaks the page.
    scope = {
        "type": "http",
        "headers": [(b"accept", b"text/html")],
        "path": "/",
        "query_string": "q=1",
    }
    try:
        raise ValueError("original <b>")
    except ValueError as ex:
        error = ex
    response = debug_response(Request(scope), error)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert b"Traceback" in response.body
    assert b"ValueError: original <b>" in response.body
