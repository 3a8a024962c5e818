"""In Chromium: an action that asks for input, and inline "Add another" with and without JavaScript.

Same setup as tests/admin/test_admin_browser.py (Playwright, Debian's
Chromium, axe-core); screenshots go to the test's temporary folder.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from oakling.admin import Admin
from tests.browser_support import watch_console
from tests.conftest import skip_or_fail

from .conftest import AuthorAdmin
from .shop import Author, Book, Shelf, ShelfItem
from .test_admin_action_forms import GenreAdmin
from .test_admin_browser import AXE, _free_port, axe_violations, log_in
from .test_admin_inline_extras import ItemInline, ShelfAdmin

pytestmark = pytest.mark.browser


def _site() -> Admin:
    site = Admin()
    site.register(Book, GenreAdmin)
    site.register(Author, AuthorAdmin)
    site.register(Shelf, type("ShelfAdmin", (ShelfAdmin,), {"inlines": (ItemInline,)}))
    return site


@pytest.fixture
def served(admin_app: Any, shelf_tables: None, users: Any) -> Iterator[tuple[str, Any]]:
    import uvicorn

    app = admin_app(_site())
    users(app)
    with app.extensions["db"].session() as session:
        ann = Author(name="Ann")
        books = [Book(title=f"Book {index}", author=ann) for index in range(3)]
        shelf = Shelf(name="Novels")
        session.add_all([ann, *books, shelf, ShelfItem(label="First", shelf=shelf, book=books[0])])
        session.commit()
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


def _check(page: Any, folder: Path, name: str, axe: bool = True) -> None:
    if axe:  # NOTE: axe-core is a script: it cannot run with JavaScript off
        bad = axe_violations(page)
        assert bad == [], f"{name}: {bad}"
    page.screenshot(path=str(folder / f"admin-{name}.png"), full_page=True)


def _script_errors(problems: list[str]) -> list[str]:
    # NOTE: Chromium logs every 4xx answer (the 400 of an invalid form, the
    # favicon's 404) as a console error; only script errors count here.
    return [text for text in problems if not text.startswith("Failed to load resource")]


def _needs_axe() -> None:
    if not AXE.is_file():
        skip_or_fail(f"axe-core is not installed at {AXE}: pip install axe-playwright-python")


def test_action_with_a_form_in_the_browser(
    browser: Any, served: tuple[str, Any], tmp_path: Path
) -> None:
    _needs_axe()
    base, app = served
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    problems = watch_console(page)
    log_in(page, base, "root", "/admin/shop/book")
    page.check("#select-1")
    page.check("#select-2")
    page.select_option("#action", "set_genre")
    page.click(".actions button")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Set the genre of selected books"
    assert sorted(page.locator("ul.selected-objects li").all_inner_texts()) == [
        "Book 1",
        "Book 2",
    ]
    _check(page, tmp_path, "action-form")
    page.fill("input[name=pages]", "0")  # below the form's minimum
    page.click("text=Apply")
    page.wait_for_load_state()
    assert "Please correct the errors below." in page.content()
    _check(page, tmp_path, "action-form-error")
    page.select_option("select[name=genre]", "POETRY")
    page.fill("input[name=pages]", "7")
    page.click("text=Apply")
    page.wait_for_load_state()
    assert page.url == base + "/admin/shop/book"
    context.close()
    with app.extensions["db"].session() as session:
        changed = {book.title: (book.genre.name, book.pages) for book in session.query(Book)}
    assert changed == {
        "Book 0": ("NOVEL", None),
        "Book 1": ("POETRY", 7),
        "Book 2": ("POETRY", 7),
    }
    assert _script_errors(problems) == []


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_inline_add_another_row(
    browser: Any, served: tuple[str, Any], tmp_path: Path, javascript: bool
) -> None:
    _needs_axe()
    base, app = served
    context = browser.new_context(
        viewport={"width": 1100, "height": 800}, java_script_enabled=javascript
    )
    page = context.new_page()
    problems = watch_console(page)
    missing: list[str] = []
    page.on("response", lambda response: response.status == 404 and missing.append(response.url))
    log_in(page, base, "root", "/admin/shop/shelf/1/change")
    rows = page.locator("#shelfitem_set-group tbody tr")
    assert rows.count() == 2  # the child and one blank row
    page.fill("input[name='shelfitem_set-1-label']", "Second")
    url_before = page.url
    page.click("button.add-row")
    page.wait_for_load_state()
    assert rows.count() == 3
    if javascript:
        assert page.url == url_before  # added in place, no round trip
        assert page.input_value("#shelfitem_set-TOTAL_FORMS") == "3"
    assert page.input_value("input[name='shelfitem_set-1-label']") == "Second"
    page.fill("input[name='shelfitem_set-2-label']", "Third <b>")
    book_input = page.locator("input[name='shelfitem_set-2-book_id']")
    if javascript:
        book_input.fill("Book")
        page.wait_for_function(
            "document.querySelectorAll('#shelfitem_set-2-book_id-suggestions option').length > 0"
        )
        book_input.fill("2")
    else:
        book_input.fill("2")
    _check(page, tmp_path, f"inline-add-row-{'js' if javascript else 'no-js'}", javascript)
    if javascript:
        page.click("button[name=_continue]")
        page.wait_for_load_state()
        assert page.url.endswith("/change")
    else:
        # Enter in a field saves (the form's first submit button is Save), not "Add another"
        page.press("input[name='shelfitem_set-2-label']", "Enter")
        page.wait_for_load_state()
        assert page.url == base + "/admin/shop/shelf"
    context.close()
    with app.extensions["db"].session() as session:
        items = sorted((item.label, item.book_id) for item in session.query(ShelfItem))
    assert items == [("First", 1), ("Second", None), ("Third <b>", 2)]
    assert _script_errors(problems) == [], missing
