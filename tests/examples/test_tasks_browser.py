"""The Tasks demo in a real browser: ``oakling demo`` served by uvicorn, driven by Chromium.

Needs Playwright (``pip install -e '.[dev]'``) and Chromium at ``/usr/bin/chromium``
(``apt-get install chromium``); without them the tests skip, except in CI
(``CI=true`` or ``OAKLING_REQUIRE_SERVICES=1``) where they fail. With
``OAKLING_SCREENSHOT=1`` the page after adding a task is saved to
``docs/demo-after-add.png`` (unset in CI, so the tracked file is not rewritten).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOT = ROOT / "docs" / "demo-after-add.png"
REQUIRE = os.environ.get("CI") == "true" or os.environ.get("OAKLING_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip on a newcomer's machine; fail in CI, where everything must run."""
    if REQUIRE:
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)


class DemoServer:
    """``python -m oakling.cli demo`` on a free port, its output in a log file."""

    def __init__(self, log: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("OAKLING_SECRET_KEY", None)  # the demo starts with no configuration
        # NOTE: a fresh database per server, outside the repository (the demo's
        # default is tasks-demo.db in the current folder).
        env["OAKLING_DATABASE_URL"] = f"sqlite:///{log.parent / 'tasks.db'}"
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "oakling.cli", "demo", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the demo server exited early:\n{self.output()}")
            try:
                if httpx.get(self.url + "/api/tasks", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"the demo server did not answer within 20 s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def interrupt(self, timeout: float) -> float | None:
        """Press Ctrl+C; return the seconds it took to exit, None if it did not."""
        start = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - start

    def stop(self) -> None:
        if self.process.poll() is None and self.interrupt(10) is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DemoServer]:
    demo = DemoServer(tmp_path / "server.log")
    try:
        yield demo
    finally:
        demo.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright is not installed (pip install -e '.[dev]')")
    if not os.access(CHROMIUM, os.X_OK):
        skip_or_fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_add_toggle_delete_and_live_updates(server: DemoServer, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 900, "height": 560})
    problems: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    titles = page.locator(".task .title")

    page.goto(server.url + "/")
    expect(page).to_have_title("oakling · Tasks")
    expect(page.locator(".empty")).to_have_text("Nothing to do yet. Add a task above.")
    # The stylesheet loaded: the card is 36rem wide at most.
    assert page.eval_on_selector(".card", "card => getComputedStyle(card).maxWidth") == "576px"

    # Add through the form (POST, 303, GET) and see it listed.
    page.fill("#title", "Read the oakling docs")
    page.click("button:has-text('Add')")
    expect(titles).to_have_text(["Read the oakling docs"])
    expect(page).to_have_url(server.url + "/")

    # Toggle it: struck through, and the API agrees.
    page.click("#task-1 .toggle")
    expect(page.locator("#task-1")).to_have_class(re.compile(r"\bcompleted\b"))
    assert page.eval_on_selector(
        "#task-1 .title", "title => getComputedStyle(title).textDecorationLine"
    ) == ("line-through")
    assert httpx.get(server.url + "/api/tasks/1").json()["completed"] is True

    page.fill("#title", "Water the oak")
    page.press("#title", "Enter")
    expect(titles).to_have_text(["Read the oakling docs", "Water the oak"])
    expect(page.locator("#summary")).to_have_text("1 of 2 done")
    if os.environ.get("OAKLING_SCREENSHOT") == "1":
        page.wait_for_selector("html[data-live='on']")
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Another client adds a task: it shows up live (server-sent events), without
    # a reload, and what is being typed stays.
    page.wait_for_selector("html[data-live='on']")
    page.fill("#title", "half-typed")
    response = httpx.post(server.url + "/api/tasks", json={"title": "Added through the API"})
    assert response.status_code == 201
    expect(titles).to_have_text(["Read the oakling docs", "Water the oak", "Added through the API"])
    expect(page.locator("#title")).to_have_value("half-typed")
    httpx.patch(server.url + "/api/tasks/2", json={"completed": True})
    expect(page.locator("#task-2")).to_have_class(re.compile(r"\bcompleted\b"))
    expect(page.locator("#summary")).to_have_text("2 of 3 done")

    # Delete through the form.
    page.click("#task-1 .delete")
    expect(titles).to_have_text(["Water the oak", "Added through the API"])
    assert [task["id"] for task in httpx.get(server.url + "/api/tasks").json()] == [2, 3]

    # A title that is only spaces: the page comes back with the message.
    page.fill("#title", "   ")
    page.click("button:has-text('Add')")
    expect(page.locator(".error")).to_have_text("Please enter a title.")
    expect(titles).to_have_count(2)

    # The only console error is the browser reporting the 422 itself.
    assert [text for text in problems if "422" not in text] == []
    page.close()


def test_two_tabs_see_each_others_changes(server: DemoServer, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    first, second = context.new_page(), context.new_page()
    for tab in (first, second):
        tab.goto(server.url + "/")
        tab.wait_for_selector("html[data-live='on']")
    first.fill("#title", "From the first tab")
    first.click("button:has-text('Add')")
    expect(second.locator(".task .title")).to_have_text(["From the first tab"])
    second.click("#task-1 .toggle")
    expect(first.locator("#task-1")).to_have_class(re.compile(r"\bcompleted\b"))
    context.close()


def test_ctrl_c_stops_the_demo_while_a_page_listens(server: DemoServer) -> None:
    received: list[bytes] = []

    def listen() -> None:
        try:
            with httpx.stream("GET", server.url + "/events", timeout=None) as response:
                for chunk in response.iter_raw():
                    received.append(chunk)
        except httpx.HTTPError:
            pass

    threading.Thread(target=listen, daemon=True).start()
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:  # until the stream is subscribed
        httpx.post(server.url + "/api/tasks", json={"title": "Listen"})
        time.sleep(0.2)
    assert received, "the feed announced nothing"
    took = server.interrupt(timeout=8)
    assert took is not None, f"Ctrl+C left the server waiting:\n{server.output()}"
    assert took < 5
