"""``/docs`` of the demo in Chromium with the network off: Swagger UI's "Try it out".

Every request to a host other than the demo's is aborted and recorded; the
test fails if there was any. The page runs under the demo's strict CSP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import watch_console
from tests.examples.test_tasks_browser import DemoServer, make_token, sign_up

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DemoServer]:
    demo = DemoServer(tmp_path / "server.log")
    try:
        yield demo
    finally:
        demo.stop()


def offline(page: Any, server: DemoServer) -> list[str]:
    """Abort every request that would leave the machine; return the list of them."""
    left: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(server.url + "/") or url.startswith("data:"):
            route.continue_()
        else:
            left.append(url)
            route.abort()

    page.route("**/*", guard)
    return left


def open_operation(page: Any, operation_id: str) -> Any:
    from playwright.sync_api import expect

    block = page.locator(f"#operations-api-{operation_id}")
    expect(block).to_be_visible(timeout=20000)
    block.locator(".opblock-summary").first.click()
    block.locator("button.try-out__btn").click()
    return block


def execute(block: Any) -> str:
    from playwright.sync_api import expect

    block.locator("button.execute").click()
    status = block.locator(".live-responses-table .response .response-col_status").first
    expect(status).to_be_visible(timeout=20000)
    return str(status.inner_text()).strip()


def test_try_it_out_with_the_session_and_csrf_header_offline(
    browser: Any, server: DemoServer
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    left = offline(page, server)
    problems = watch_console(page)
    sign_up(page, server, "swagger-session")
    page.goto(server.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("oakling Tasks")
    # A POST through the session: only the CSRF header from the page makes it pass.
    block = open_operation(page, "api_create_task")
    block.locator("textarea.body-param__text").fill('{"title": "from Swagger UI"}')
    assert execute(block) == "201"
    listed = open_operation(page, "api_list_tasks")
    assert execute(listed) == "200"
    expect(
        listed.locator(".live-responses-table .response .response-col_description")
    ).to_contain_text("from Swagger UI")
    assert left == []
    assert not [problem for problem in problems if "Content Security Policy" in problem]


def test_try_it_out_with_a_bearer_token_offline(browser: Any, server: DemoServer) -> None:
    from playwright.sync_api import expect

    owner = browser.new_page()
    sign_up(owner, server, "swagger-token")
    token = make_token(owner, server)
    owner.close()
    # A fresh browser context: no session cookie, only the token.
    context = browser.new_context()
    page = context.new_page()
    left = offline(page, server)
    page.goto(server.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("oakling Tasks")
    page.locator("button.authorize").first.click()
    dialog = page.locator(".modal-ux")
    dialog.locator("input[type=text], input[type=password]").first.fill(token)
    dialog.locator("button.authorize").first.click()
    dialog.locator("button.btn-done").first.click()
    block = open_operation(page, "api_list_tasks")
    assert execute(block) == "200"
    curl = block.locator(".curl-command").inner_text()
    assert re.search(r"Authorization: Bearer oak_", curl)
    assert left == []
    context.close()


def test_redoc_renders_offline(browser: Any, server: DemoServer) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    left = offline(page, server)
    page.goto(server.url + "/redoc")
    heading = page.get_by_role("heading", name="List the user's tasks, oldest first.")
    expect(heading).to_be_visible(timeout=20000)
    assert left == []


def test_docs_work_under_a_nonce_only_policy(browser: Any) -> None:
    """Scripts and styles allowed by nonce alone: every tag of /docs carries it."""
    from playwright.sync_api import expect

    from oakling import App
    from oakling.config import Settings
    from oakling.openapi import OpenAPI
    from oakling.security import CSP, Security
    from oakling.testing import TestClient

    policy = {
        "default-src": [CSP.SELF],
        "script-src": [CSP.NONCE],
        "style-src": [CSP.SELF, CSP.NONCE],
        "img-src": [CSP.SELF, "data:"],
    }
    app = App(
        settings=Settings(SECRET_KEY="n" * 50, ALLOWED_HOSTS=["localhost"]),
        plugins=[Security(csp=policy), OpenAPI(title="Nonce")],
    )

    @app.get("/api/ping", tags=["api"])
    def ping() -> dict[str, str]:
        """Answer pong."""
        return {"ping": "pong"}

    origin = "http://localhost:8124"
    client = TestClient(app, base_url=origin)
    left: list[str] = []

    def serve(route: Any) -> None:
        asked = route.request
        if not asked.url.startswith(origin + "/"):
            left.append(asked.url)
            route.abort()
            return
        answer = client.request(asked.method, asked.url.removeprefix(origin), headers=asked.headers)
        route.fulfill(status=answer.status_code, headers=dict(answer.headers), body=answer.content)

    with client:
        page = browser.new_page()
        problems = watch_console(page)
        page.route("**/*", serve)
        response = page.goto(origin + "/docs")
        assert response is not None
        assert "'nonce-" in response.headers["content-security-policy"]
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Nonce")
        block = open_operation(page, "ping")
        assert execute(block) == "200"
    assert left == []
    assert not [problem for problem in problems if "Content Security Policy" in problem]
