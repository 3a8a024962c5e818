"""The admin in Chromium: a staff user's whole round, and axe-core on every page.

Needs Playwright and Chromium (see tests/browser_support.py) and axe-core,
installed once with ``npm install --prefix tests/admin/.axe`` (the folder's
``node_modules`` is git-ignored). With ``OAKLING_SCREENSHOT=1`` the pages are
of docs/admin.md are saved as ``docs/admin-*.png``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import skip_or_fail

from .conftest import PASSWORD, add_books

pytestmark = pytest.mark.browser


def _axe_script() -> Path:
    """Return axe-core's ``axe.min.js``: npm's copy when installed, else the [dev] wheel's.

    ``npm install --prefix tests/admin/.axe`` gives the newest axe-core; the
    ``axe-playwright-python`` wheel in ``[dev]`` ships one too, so a fresh
    clone's README command runs the audit without npm.
    """
    npm = Path(__file__).parent / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
    if npm.is_file():
        return npm
    try:
        from importlib.resources import files

        return Path(str(files("axe_playwright_python") / "axe.min.js"))
    except ModuleNotFoundError:
        return npm


AXE = _axe_script()
DOCS = Path(__file__).resolve().parents[2] / "docs"
PORTS = range(18300, 18350)
DOC_SHOTS = ("index", "changelist", "change", "history", "change-inline", "change-inline-phone")


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18300-18349")


@pytest.fixture
def served(admin_app: Any, users: Any) -> Iterator[tuple[str, Any]]:
    import uvicorn

    from .test_admin_inlines import inline_site

    app = admin_app(inline_site())  # authors with their books inline
    users(app)
    add_books(app, 7, author_name="Ann")
    add_books(app, 2, author_name="Bob")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/auth/login", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield url, app
    finally:
        server.should_exit = True
        thread.join(10)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(" "))}));
        }"""
    )
    return [item for item in found if item["impact"] in ("serious", "critical")]


class Checker:
    def __init__(self, page: Any, shots: Path, docs: bool) -> None:
        self.page = page
        self.shots = shots
        self.docs = docs
        self.checked: list[str] = []

    def __call__(self, name: str) -> None:
        bad = axe_violations(self.page)
        assert bad == [], f"{name} ({self.page.url}): {bad}"
        self.checked.append(name)
        folder = DOCS if self.docs and name in DOC_SHOTS else self.shots
        self.page.screenshot(path=str(folder / f"admin-{name}.png"), full_page=True)


def log_in(page: Any, base: str, username: str, path: str = "/admin/") -> None:
    page.goto(base + path)
    assert "/auth/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()


def titles(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("#result_list tbody th a").all_inner_texts()]


def test_a_staff_users_round_in_the_browser(
    browser: Any, served: tuple[str, Any], tmp_path: Path
) -> None:
    if not AXE.is_file():
        skip_or_fail(f"axe-core is not installed at {AXE}: pip install axe-playwright-python")
    base, _app = served
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    check = Checker(page, tmp_path, os.environ.get("OAKLING_SCREENSHOT") == "1")

    log_in(page, base, "root")
    assert page.url == base + "/admin/"
    check("index")

    page.click("text=Books")
    assert titles(page)[:1] == ["Book 001"]  # newest first: Bob's two are 000 and 001
    check("changelist")

    # search
    page.fill("#searchbar", "book 00")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    assert "q=book+00" in page.url
    assert len(titles(page)) == 5  # 9 books match, 5 per page
    # filter by author, then sort by title, then the next page
    page.click(".filters >> text=Ann")
    assert "author__exact=" in page.url
    page.click("#result_list thead >> text=Title")
    assert titles(page) == ["Book 000", "Book 001", "Book 002", "Book 003", "Book 004"]
    page.click("#result_list thead >> text=Title")  # descending now
    assert titles(page)[0] == "Book 006"
    page.click("text=Next")
    assert titles(page) == ["Book 001", "Book 000"]
    check("changelist-filtered")

    # add with a validation error, then fix it
    page.goto(base + "/admin/shop/book")
    page.click("text=Add book")
    check("add")
    page.select_option("select[name=author_id]", label="Bob")
    page.click("button[name=_save]")
    page.wait_for_load_state()
    assert page.locator(".errorlist").first.inner_text() == "This field is required."
    check("add-error")
    page.fill("input[name=title]", "A new book <b>bold</b>")
    page.click("button[name=_continue]")
    page.wait_for_load_state()
    assert page.url.endswith("/change")
    assert page.input_value("input[name=title]") == "A new book <b>bold</b>"
    check("change")

    # history of that book
    page.click("text=History")
    assert "Added" in page.inner_text("#change-history")
    check("history")

    # edit an author with an inline child: change one, add one, in one save
    page.goto(base + "/admin/shop/author")
    page.click("#result_list >> text=Ann")
    assert page.locator("#book_set-group tbody tr").count() == 9  # 7 books, 2 blank rows
    check("change-inline")
    page.fill("input[name='book_set-0-pages']", "321")
    page.fill("input[name='book_set-7-title']", "Inline <i>child</i>")
    page.click("button[name=_continue]")
    page.wait_for_load_state()
    assert page.url.endswith("/change")
    assert page.input_value("input[name='book_set-0-pages']") == "321"
    assert page.input_value("input[name='book_set-7-title']") == "Inline <i>child</i>"
    # at a phone's width: no sideways scrolling of the page (the table scrolls in its box)
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    check("change-inline-phone")
    page.click("text=History")
    assert "Added book “Inline <i>child</i>”." in page.inner_text("#change-history")
    page.goto(base + "/admin/shop/book")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    check("changelist-phone")
    page.set_viewport_size({"width": 1100, "height": 800})

    # delete one through its confirmation page
    page.goto(base + "/admin/shop/book?q=A+new+book")
    page.click("#result_list tbody >> text=A new book")
    page.click("text=Delete")
    check("delete-confirmation")
    page.click("text=No, take me back")

    # bulk delete through the confirmation page
    page.goto(base + "/admin/shop/book?o=0")
    page.check("#select-1")
    page.check("#select-2")
    page.select_option("#action", "delete_selected")
    page.click(".actions button")
    page.wait_for_load_state()
    assert "Are you sure?" in page.inner_text("h1")
    listed = page.locator("ul.deleted li").all_inner_texts()
    assert sorted(listed) == ["Book: A new book <b>bold</b>", "Book: Book 000"]
    check("delete-selected-confirmation")
    page.click("text=Yes, I’m sure")
    page.wait_for_load_state()
    assert "A new book" not in page.content()

    # the users' pages
    page.goto(base + "/admin/auth/user")
    check("users")
    page.click("text=Add user")
    check("user-add")
    context.close()
    assert len(check.checked) == 14


def test_a_user_without_change_permission_gets_403_on_get_and_post(
    browser: Any, served: tuple[str, Any]
) -> None:
    base, _app = served
    context = browser.new_context()
    page = context.new_page()
    log_in(page, base, "staff")
    response = page.goto(base + "/admin/shop/book/1/change")
    assert response is not None and response.status == 403
    assert "Permission denied" in page.inner_text("h1")
    page.goto(base + "/admin/")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    posted = context.request.post(
        base + "/admin/shop/book/1/change",
        form={"csrf_token": token, "title": "Hacked", "author_id": "1", "genre": "NOVEL"},
        headers={"Origin": base, "Referer": base + "/admin/"},
    )
    assert posted.status == 403
    context.close()
