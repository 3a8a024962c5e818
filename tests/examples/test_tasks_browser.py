"""The Tasks demo in a real browser: ``oakling demo`` served by uvicorn, driven by Chromium.

People sign up, log in and out through the auth battery's pages; scripts
reach the API with a bearer token made on the page.

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

from tests.browser_support import watch_console
from tests.examples.accounts import PASSWORD, csrf_from

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "demo-after-add.png"


class DemoServer:
    """``python -m oakling.cli demo`` on a free port, its output in a log file."""

    def __init__(self, log: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # The demo starts with no configuration.
        for name in ("OAKLING_SECRET_KEY", "OAKLING_ALLOWED_HOSTS", "OAKLING_EMAIL_BACKEND"):
            env.pop(name, None)
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
                if httpx.get(self.url + "/auth/login", timeout=1).status_code == 200:
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


def sign_up(page: Any, server: DemoServer, username: str) -> None:
    """Sign up through the pages, starting from the list (which asks to log in first)."""
    from playwright.sync_api import expect

    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/auth/login\?next=%2F$"))
    page.click("a:has-text('Sign up')")
    expect(page).to_have_title("Sign up · oakling Tasks")
    page.fill("input[name=username]", username)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button:has-text('Sign up')")
    expect(page).to_have_url(server.url + "/")
    expect(page.locator("#username")).to_have_text(username)


def log_in(page: Any, username: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")


def make_token(page: Any, server: DemoServer) -> str:
    """Create an API token on the page; return it (shown once), back on the list."""
    page.fill("#token-name", "browser test")
    page.click("button:has-text('Create a token')")
    token: str = page.locator("#new-token").inner_text()
    assert token.startswith("oak_")
    page.goto(server.url + "/")
    return token


def http_user(server: DemoServer, username: str) -> tuple[httpx.Client, str]:
    """Sign up over plain HTTP (as curl would); return the client and an API token."""
    client = httpx.Client(base_url=server.url, timeout=5)
    form = {"csrf_token": csrf_from(client.get("/auth/signup").text), "username": username}
    response = client.post(
        "/auth/signup", data={**form, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 303, response.text
    page = client.post("/tokens", data={"csrf_token": csrf_from(client.get("/").text)})
    found = re.search(r'<code id="new-token">([^<]+)</code>', page.text)
    assert found is not None, page.text
    return client, found.group(1)


def test_sign_up_add_toggle_delete_live_updates_and_log_out(
    server: DemoServer, browser: Any
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 900, "height": 720})
    problems = watch_console(page)
    titles = page.locator(".task .title")

    sign_up(page, server, "ann")
    # Log out, then in again through the login form.
    page.click("button:text-is('Log out')")
    expect(page).to_have_url(re.compile(r"/auth/login\?next=%2F$"))
    expect(page.locator("#username")).to_have_count(0)
    log_in(page, "ann")
    expect(page).to_have_url(server.url + "/")
    expect(page).to_have_title("oakling · Tasks")
    expect(page.locator(".empty")).to_have_text("Nothing to do yet. Add a task above.")
    # The stylesheet loaded: the card is 36rem wide at most.
    assert page.eval_on_selector(".card", "card => getComputedStyle(card).maxWidth") == "576px"

    token = make_token(page, server)
    bearer = {"authorization": f"Bearer {token}"}

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
    assert httpx.get(server.url + "/api/tasks/1", headers=bearer).json()["completed"] is True

    page.fill("#title", "Water the oak")
    page.press("#title", "Enter")
    expect(titles).to_have_text(["Read the oakling docs", "Water the oak"])
    expect(page.locator("#summary")).to_have_text("1 of 2 done")
    if os.environ.get("OAKLING_SCREENSHOT") == "1":
        page.wait_for_selector("html[data-live='on']")
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    # A script adds a task with the bearer token: it shows up live (server-sent
    # events), without a reload, and what is being typed stays.
    page.wait_for_selector("html[data-live='on']")
    page.fill("#title", "half-typed")
    response = httpx.post(
        server.url + "/api/tasks", json={"title": "Added through the API"}, headers=bearer
    )
    assert response.status_code == 201
    expect(titles).to_have_text(["Read the oakling docs", "Water the oak", "Added through the API"])
    expect(page.locator("#title")).to_have_value("half-typed")
    httpx.patch(server.url + "/api/tasks/2", json={"completed": True}, headers=bearer)
    expect(page.locator("#task-2")).to_have_class(re.compile(r"\bcompleted\b"))
    expect(page.locator("#summary")).to_have_text("2 of 3 done")
    # Without the token the API answers 401, not the tasks.
    assert httpx.get(server.url + "/api/tasks").status_code == 401

    # Delete through the form.
    page.click("#task-1 .delete")
    expect(titles).to_have_text(["Water the oak", "Added through the API"])
    tasks = httpx.get(server.url + "/api/tasks", headers=bearer).json()
    assert [task["id"] for task in tasks] == [2, 3]

    # A title that is only spaces: the page comes back with the message.
    page.fill("#title", "   ")
    page.click("button:has-text('Add')")
    expect(page.locator(".error")).to_have_text("Please enter a title.")
    expect(titles).to_have_count(2)

    # Log out: the list is out of reach again.
    page.click("button:text-is('Log out')")
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/auth/login\?next=%2F$"))

    # The only console error is the browser reporting the 422 itself.
    assert [text for text in problems if "422" not in text] == []
    page.close()


def test_two_users_do_not_see_each_others_tasks(server: DemoServer, browser: Any) -> None:
    from playwright.sync_api import expect

    contexts = [browser.new_context(), browser.new_context()]  # two people, two cookie jars
    ann, bob = (context.new_page() for context in contexts)
    problems = watch_console(ann) + watch_console(bob)
    sign_up(ann, server, "ann")
    sign_up(bob, server, "bob")
    for page in (ann, bob):
        page.wait_for_selector("html[data-live='on']")
    ann.fill("#title", "Ann's task")
    ann.click("button:has-text('Add')")
    expect(ann.locator(".task .title")).to_have_text(["Ann's task"])
    bob.fill("#title", "Bob's task")
    bob.click("button:has-text('Add')")
    expect(bob.locator(".task .title")).to_have_text(["Bob's task"])
    # Bob's page got no live update of Ann's task, nor she of his: reload to be sure.
    for page, title in ((ann, "Ann's task"), (bob, "Bob's task")):
        page.reload()
        expect(page.locator(".task .title")).to_have_text([title])
    # Ann's task (id 1), tried by Bob from his page, with his own CSRF token: 404.
    status = bob.evaluate(
        """async () => {
            const token = document.querySelector("input[name=csrf_token]").value;
            const response = await fetch("/tasks/1/delete", {
                method: "POST", headers: {"X-CSRFToken": token}, redirect: "manual"});
            return response.status;
        }"""
    )
    assert status == 404
    ann.reload()
    expect(ann.locator(".task .title")).to_have_text(["Ann's task"])
    for context in contexts:
        context.close()
    # The only console error is the browser reporting Bob's 404.
    assert [text for text in problems if "404" not in text] == []


def test_two_tabs_see_each_others_changes(server: DemoServer, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    first = context.new_page()
    sign_up(first, server, "ann")
    second = context.new_page()  # the same browser: the same session
    for tab in (first, second):
        tab.goto(server.url + "/")
        tab.wait_for_selector("html[data-live='on']")
    first.fill("#title", "From the first tab")
    first.click("button:has-text('Add')")
    expect(second.locator(".task .title")).to_have_text(["From the first tab"])
    second.click("#task-1 .toggle")
    expect(first.locator("#task-1")).to_have_class(re.compile(r"\bcompleted\b"))
    context.close()


def test_log_out_everywhere_ends_the_other_browsers_session(
    server: DemoServer, browser: Any
) -> None:
    from playwright.sync_api import expect

    laptop_context, phone_context = browser.new_context(), browser.new_context()
    laptop, phone = laptop_context.new_page(), phone_context.new_page()
    sign_up(laptop, server, "ann")
    phone.goto(server.url + "/")
    log_in(phone, "ann")
    expect(phone.locator("#username")).to_have_text("ann")
    # The phone's cookie, copied by someone before the logout.
    copied = {cookie["name"]: cookie["value"] for cookie in phone_context.cookies()}
    laptop.click("button:text-is('Log out everywhere')")
    expect(laptop).to_have_url(re.compile(r"/auth/login\?next=%2F$"))
    phone.reload()
    expect(phone).to_have_url(re.compile(r"/auth/login\?next=%2F$"))
    assert httpx.get(server.url + "/api/tasks", cookies=copied).status_code == 401
    for context in (laptop_context, phone_context):
        context.close()


def test_ctrl_c_stops_the_demo_while_a_page_listens(server: DemoServer) -> None:
    client, token = http_user(server, "ann")
    received: list[bytes] = []

    def listen() -> None:
        try:
            with client.stream("GET", "/events", timeout=None) as response:
                for chunk in response.iter_raw():
                    received.append(chunk)
        except httpx.HTTPError:
            pass

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    deadline = time.monotonic() + 5
    bearer = {"authorization": f"Bearer {token}"}
    try:
        while not received and time.monotonic() < deadline:  # until the stream is subscribed
            httpx.post(server.url + "/api/tasks", json={"title": "Listen"}, headers=bearer)
            time.sleep(0.2)
        assert received, "the feed announced nothing"
        took = server.interrupt(timeout=8)
        assert took is not None, f"Ctrl+C left the server waiting:\n{server.output()}"
        assert took < 5
        listener.join(5)
    finally:
        client.close()  # NOTE: no socket of its pool outlives the test


ERROR_SHOTS = os.environ.get("OAKLING_ERROR_SHOTS")  # a folder: screenshots of the error pages


@pytest.mark.parametrize(("path", "status"), [("/no/such/page", 404), ("/tasks", 405)])
def test_error_pages_pass_the_csp_and_link_back(
    server: DemoServer, browser: Any, path: str, status: int
) -> None:
    page = browser.new_page(viewport={"width": 900, "height": 600})
    problems = watch_console(page)
    response = page.goto(server.url + path)  # /tasks takes POST only: GET is a 405
    assert response is not None and response.status == status
    # The demo's stylesheet applied (the card is 36rem wide at most).
    assert page.eval_on_selector(".card", "card => getComputedStyle(card).maxWidth") == "576px"
    assert page.locator("h1").inner_text().startswith(str(status))
    link = page.locator("a:has-text('Back to your tasks')")
    assert link.get_attribute("href") == "/"
    if ERROR_SHOTS:
        page.screenshot(path=f"{ERROR_SHOTS}/demo-{status}.png", full_page=True)
    # No CSP violation: the only console error is the browser reporting the status.
    assert [text for text in problems if str(status) not in text] == []
    page.close()


def test_german_by_accept_language_then_english_by_the_selector_persists(
    server: DemoServer, browser: Any
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(extra_http_headers={"Accept-Language": "de"})
    page = context.new_page()
    problems = watch_console(page)
    page.goto(server.url + "/")
    expect(page).to_have_title("Anmelden · oakling Tasks")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("button[type=submit]").first).to_have_text("Anmelden")
    # The footer's selector (Django's set_language): English, kept in a cookie.
    page.select_option("#language", "en")
    page.click("button:has-text('Sprache ändern')")
    expect(page).to_have_title("Log in · oakling Tasks")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()  # still sending Accept-Language: de
    expect(page).to_have_title("Log in · oakling Tasks")
    page.click("a:has-text('Sign up')")
    page.fill("input[name=username]", "lena")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button:has-text('Sign up')")
    expect(page).to_have_url(server.url + "/")
    expect(page.locator("h1")).to_have_text("Tasks")
    # Back to German through the selector; dates follow the chosen zone.
    page.select_option("#language", "de")
    page.click("button:has-text('Change language')")
    expect(page.locator("h1")).to_have_text("Aufgaben")
    page.select_option("#timezone", "Asia/Tokyo")
    page.click("button:has-text('Zeitzone ändern')")
    expect(page.locator("#timezone")).to_have_value("Asia/Tokyo")
    assert problems == []
    context.close()
