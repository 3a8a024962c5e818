"""The HTML error pages: CSP-safe defaults, a way back, and the app's own templates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from examples.tasks.app import create_app
from oakling import App, abort
from oakling.config import Settings
from oakling.testing import TestClient
from tests.browser_support import watch_console

HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _app(folder: Path | None = None, **settings: Any) -> App:
    app = App(
        debug=False,
        settings=Settings(SECRET_KEY="k" * 50, **settings),
        template_folder=folder,
    )

    @app.get("/missing")
    def missing() -> None:
        abort(404, "Task 7 not found")

    @app.post("/only-post")
    def only_post() -> str:
        return "ok"

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("a bug")

    return app


@pytest.mark.parametrize(
    ("path", "status"), [("/nowhere", 404), ("/only-post", 405), ("/crash", 500)]
)
def test_default_pages_need_no_inline_style_and_link_home(path: str, status: int) -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        response = client.get(path, headers=HTML)
    assert response.status_code == status
    page = response.text
    assert "<style" not in page and "style=" not in page  # a CSP without 'unsafe-inline' allows it
    assert '<a href="/">' in page
    assert f"<h1>{status} " in page


def test_link_home_keeps_the_root_path() -> None:
    with TestClient(_app(), root_path="/app") as client:
        assert '<a href="/app/">' in client.get("/nowhere", headers=HTML).text


def test_app_templates_replace_the_default_pages(tmp_path: Path) -> None:
    (tmp_path / "404.html").write_text(
        "<p>Lost: {{ status_code }} {{ detail }} at {{ request.url.path }}</p>"
    )
    (tmp_path / "500.html").write_text("<p>Sorry ({{ status_code }})</p>")
    with TestClient(_app(tmp_path), raise_server_exceptions=False) as client:
        assert (
            client.get("/missing", headers=HTML).text
            == "<p>Lost: 404 Task 7 not found at /missing</p>"
        )
        crash = client.get("/crash", headers=HTML)
        assert (crash.status_code, crash.text) == (500, "<p>Sorry (500)</p>")
        # No 405.html: the default page, with its Allow header.
        wrong = client.get("/only-post", headers=HTML)
        assert wrong.status_code == 405 and "POST" in wrong.headers["allow"]
        assert '<a href="/">' in wrong.text
        # JSON clients still get JSON.
        assert client.get("/missing").json() == {"detail": "Task 7 not found"}


def test_a_broken_error_template_falls_back_to_the_default_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "500.html").write_text("{{ request.no_such_thing.boom() }}")
    (tmp_path / "404.html").write_text("{% if %}")  # a syntax error
    with TestClient(_app(tmp_path), raise_server_exceptions=False) as client:
        crash = client.get("/crash", headers=HTML)
        missing = client.get("/nowhere", headers=HTML)
    assert crash.status_code == 500 and "<h1>500 Internal Server Error</h1>" in crash.text
    assert missing.status_code == 404 and "<h1>404 Not Found</h1>" in missing.text
    assert any("500.html" in record.getMessage() for record in caplog.records)


@pytest.fixture
def demo(tmp_path: Path) -> TestClient:
    return TestClient(create_app(f"sqlite:///{tmp_path / 'tasks.db'}"), follow_redirects=False)


def test_demo_error_pages_use_its_layout(demo: TestClient) -> None:
    with demo:
        missing = demo.get("/no/such/page", headers=HTML)
        wrong = demo.put("/auth/login", headers=HTML)
    assert missing.status_code == 404
    assert "/static/app.css" in missing.text and 'class="card"' in missing.text
    assert "There is no page at /no/such/page." in missing.text
    assert 'href="/">Back to your tasks' in missing.text
    assert wrong.status_code == 405 and "does not answer PUT requests" in wrong.text
    # The page passes the demo's own CSP: no inline style or script.
    assert "<style" not in missing.text and "style=" not in missing.text


# -- in a browser, under a strict Content-Security-Policy ---------------------------------

SHOTS = os.environ.get("OAKLING_ERROR_SHOTS")  # a folder: screenshots of the error pages


@pytest.mark.browser
def test_default_pages_are_styled_under_a_strict_csp_in_a_browser(browser: Any) -> None:
    from oakling.security import CSP, Security

    app = _app(ALLOWED_HOSTS=["localhost"])
    Security(csp={"default-src": [CSP.SELF]}).install(app)
    origin = "http://localhost:8123"
    client = TestClient(app, base_url=origin, raise_server_exceptions=False)

    def serve(route: Any) -> None:
        # NOTE: the browser's requests answered by the app in-process; the
        # CSP header comes with them and Chromium enforces it.
        asked = route.request
        answer = client.request(asked.method, asked.url.removeprefix(origin), headers=asked.headers)
        route.fulfill(status=answer.status_code, headers=dict(answer.headers), body=answer.content)

    page = browser.new_page(viewport={"width": 800, "height": 500})
    problems = watch_console(page)
    page.route(origin + "/**", serve)
    for path, status in (("/nowhere", 404), ("/only-post", 405), ("/crash", 500)):
        response = page.goto(origin + path)
        assert response is not None and response.status == status
        assert "default-src 'self'" in response.headers["content-security-policy"]
        # The stylesheet applied: not the browser's default serif page.
        font = page.evaluate("getComputedStyle(document.documentElement).fontFamily")
        assert font.startswith("system-ui"), font
        width = page.eval_on_selector("main", "main => getComputedStyle(main).maxWidth")
        assert width == "640px"
        assert page.locator("a:has-text('Back to the home page')").get_attribute("href") == "/"
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/default-{status}.png")
    # No CSP violation: the only console errors are the browser reporting the statuses.
    assert [
        text for text in problems if not any(code in text for code in ("404", "405", "500"))
    ] == []
    page.close()
    client.close()
