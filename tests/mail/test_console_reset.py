"""The demo's password-reset mail on the console: the printed link works when followed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from examples.tasks.app import create_app
from oakling.auth.services import create_user_sync
from oakling.testing import TestClient
from tests.examples.accounts import PASSWORD, csrf_from


def test_reset_link_copied_from_the_console_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OAKLING_EMAIL_BACKEND", raising=False)  # the demo's default: console
    app = create_app(f"sqlite:///{tmp_path / 'tasks.db'}")
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as client:
        with app.extensions["db"].session() as db:
            create_user_sync(db, "ann", PASSWORD, email="ann@example.com")
            db.commit()
        form = client.get("/auth/password/reset")
        sent = client.post(
            "/auth/password/reset",
            data={"csrf_token": csrf_from(form.text), "email": "ann@example.com"},
        )
        assert sent.status_code == 303, sent.text
        printed = capsys.readouterr().out
        # What a person selects in the terminal: one line, from http to its end.
        lines = [line for line in printed.splitlines() if "/auth/password/reset/" in line]
        assert len(lines) == 1, printed
        found = re.search(r"https?://\S+", lines[0])
        assert found is not None and found.group(0) == lines[0].strip(), printed
        opened = client.get(found.group(0))
        assert (opened.status_code, opened.headers["location"]) == (
            302,
            "/auth/password/reset/set",
        )
        assert client.get("/auth/password/reset/set").status_code == 200
