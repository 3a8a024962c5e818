"""Request and template signals (blinker), sync and async receivers, zero cost unused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from oakling import App, Request, render
from oakling.config import Settings
from oakling.signals import (
    Signal,
    got_request_exception,
    request_finished,
    request_started,
    template_rendered,
)
from oakling.testing import TestClient

SECRET = "signals-test-secret-key-" + "s" * 30


def make_app(tmp_path: Path) -> App:
    (tmp_path / "page.html").write_text("Hello {{ name }}")
    app = App(settings=Settings(SECRET_KEY=SECRET), template_folder=tmp_path)

    @app.get("/")
    def index() -> str:
        return "plain"

    @app.get("/page")
    def page(request: Request) -> Any:
        return render(request, "page.html", name="ann")

    @app.get("/boom")
    def boom() -> None:
        raise ZeroDivisionError("boom")

    return app


def test_request_started_and_finished_with_sync_and_async_receivers(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    seen: list[Any] = []

    def started(sender: Any, scope: Any, **extra: Any) -> None:
        seen.append(("started", sender is app, scope["path"]))

    async def finished(sender: Any, scope: Any, status: int | None, **extra: Any) -> None:
        seen.append(("finished", sender is app, scope["path"], status))

    with request_started.connected_to(started), request_finished.connected_to(finished):
        with TestClient(app) as client:
            assert client.get("/").text == "plain"
            assert client.get("/missing").status_code == 404
    assert seen == [
        ("started", True, "/"),
        ("finished", True, "/", 200),
        ("started", True, "/missing"),
        ("finished", True, "/missing", 404),
    ]
    # Disconnected: nothing more is recorded, and the fast check is off again.
    assert not request_started.on and not request_finished.on
    with TestClient(app) as client:
        client.get("/")
    assert len(seen) == 4


def test_got_request_exception_gets_the_exception(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    errors: list[BaseException] = []

    def record(sender: Any, exception: BaseException, request: Any, **extra: Any) -> None:
        errors.append(exception)

    with got_request_exception.connected_to(record):
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/boom").status_code == 500
            assert client.get("/missing").status_code == 404  # an HTTP error is not sent
    assert [type(error) for error in errors] == [ZeroDivisionError]


def test_template_rendered_gets_the_template_and_context(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    rendered: list[tuple[str, Any]] = []

    def record(sender: Any, template: Any, context: dict[str, Any], **extra: Any) -> None:
        rendered.append((template.name, context["name"]))

    with template_rendered.connected_to(record, sender=app):
        with TestClient(app) as client:
            assert client.get("/page").text == "Hello ann"
        app.templates.render_string("page.html", {"name": "bob"})
    assert rendered == [("page.html", "ann"), ("page.html", "bob")]


def test_a_receiver_for_another_sender_is_not_called(tmp_path: Path) -> None:
    app, other = make_app(tmp_path), make_app(tmp_path)
    calls: list[Any] = []

    def record(sender: Any, **extra: Any) -> None:
        calls.append(sender)

    with request_started.connected_to(record, sender=other):
        with TestClient(app) as client:
            client.get("/")
    assert calls == []


def test_async_receiver_of_a_sync_signal_runs_without_a_loop() -> None:
    signal = Signal("test_signal")
    calls: list[str] = []

    async def receiver(sender: Any, **extra: Any) -> None:
        calls.append(sender)

    with signal.connected_to(receiver):
        signal.send("from-sync-code")
    assert calls == ["from-sync-code"]


def test_decorator_form_and_weak_receivers() -> None:
    signal = Signal("decorated")

    @signal.connect
    def receiver(sender: Any, **extra: Any) -> str:
        return f"got {sender}"

    assert signal.send("x") == [(receiver, "got x")]
    signal.disconnect(receiver)
    assert signal.send("x") == [] and not signal.on


def test_sending_to_nobody_does_not_import_blinker() -> None:
    """Zero cost: an app that serves requests with no receiver never loads blinker."""
    code = (
        "import sys\n"
        "from oakling import App\n"
        "from oakling.testing import TestClient\n"
        "app = App(secret_key='x' * 50)\n"
        "app.get('/')(lambda: 'hi')\n"
        "with TestClient(app) as client:\n"
        "    assert client.get('/').text == 'hi'\n"
        "import oakling.signals\n"
        "assert oakling.signals.request_started.send(app) == []\n"
        "print('blinker' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_connecting_without_blinker_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "blinker", None)
    with pytest.raises(ImportError, match=r"oakling\[signals\]"):
        Signal("needs_blinker").connect(lambda sender: None)
