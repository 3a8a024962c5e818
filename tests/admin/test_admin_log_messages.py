"""Change messages are stored as JSON (Django's shape) and shown in the reader's language."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oakling import App
from oakling.admin import LogEntry
from oakling.admin.changes import render_change_message
from oakling.auth import Auth
from oakling.config import Settings
from oakling.csrf import CSRF
from oakling.db import Database
from oakling.i18n import I18n
from oakling.i18n.translation import override
from oakling.sessions import Sessions
from oakling.testing import TestClient

from .conftest import SECRET, add_books, csrf, login, shop_site


@pytest.fixture
def i18n_app(admin_url: str, users: Any) -> Any:
    app = App(
        settings=Settings(SECRET_KEY=SECRET, extra={"EMAIL_BACKEND": "memory"}),
        plugins=[
            Database(admin_url),
            Sessions(),
            Auth(),
            CSRF(),
            I18n(languages=["en", "de", "fr", "es"], default="en"),
            shop_site(),
        ],
    )
    users(app)
    yield app
    app.extensions["db"].sync_engine().dispose()


def _edit(app: Any, client: TestClient, book_id: int) -> None:
    path = f"/admin/shop/book/{book_id}/change"
    response = client.post(
        path,
        data={
            "csrf_token": csrf(client, path),
            "title": "Dune",
            "author_id": "1",
            "genre": "NOVEL",
            "is_published": "y",
            "pages": "",
            "link": "",
            "published_on": "",
        },
    )
    assert response.status_code == 303, response.text


def test_the_stored_message_is_structured_json(i18n_app: Any) -> None:
    [book_id] = add_books(i18n_app, 1)
    with TestClient(i18n_app, follow_redirects=False) as client:
        login(client, "root")
        _edit(i18n_app, client, book_id)
    with i18n_app.extensions["db"].session() as session:
        entry = session.query(LogEntry).one()
        stored = json.loads(entry.change_message)
        assert stored == [
            {
                "changed": {
                    "fields": [
                        {"field": "title", "old": "Book 000", "new": "Dune"},
                        {"field": "is published", "old": False, "new": True},
                        {"field": "pages", "old": "0", "new": None},
                    ]
                }
            }
        ]
        assert entry.get_change_message() == (
            "Changed title (“Book 000” → “Dune”), is published (No → Yes) and pages (“0” → empty)."
        )


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Changed title (“Book 000” → “Dune”), is published (No → Yes) and pages"),
        (
            "de",
            "title („Book 000“ → „Dune“), is published (Nein → Ja) und pages („0“ → leer) "
            "geändert.",
        ),
        (
            "fr",
            "title (« Book 000 » → « Dune »), is published (Non → Oui) et pages (« 0 » → vide) "
            "modifié.",
        ),
        (
            "es",
            "Modificado title («Book 000» → «Dune»), is published (No → Sí) y pages («0» → vacío).",
        ),
    ],
)
def test_history_shows_the_message_in_the_readers_language(
    i18n_app: Any, language: str, expected: str
) -> None:
    [book_id] = add_books(i18n_app, 1)
    with TestClient(i18n_app, follow_redirects=False) as client:
        login(client, "root")
        _edit(i18n_app, client, book_id)  # written by an English-speaking user
        history = client.get(
            f"/admin/shop/book/{book_id}/history", headers={"accept-language": language}
        )
    assert history.status_code == 200
    assert expected in history.text


def test_every_kind_of_message_renders_in_each_language() -> None:
    parts = [
        {"added": {}},
        {"added": {"name": "book", "object": "Dune"}},
        {"changed": {"name": "book", "object": "Dune", "fields": [{"field": "groups"}]}},
        {"deleted": {"name": "book", "object": "Emma"}},
    ]
    stored = json.dumps(parts)
    assert render_change_message(stored) == (
        "Added. Added book “Dune”. Changed groups for book “Dune”. Deleted book “Emma”."
    )
    with override("de"):
        assert render_change_message(stored) == (
            "Hinzugefügt. book „Dune“ hinzugefügt. groups geändert für book „Dune“. "
            "book „Emma“ gelöscht."
        )
        assert render_change_message("[]") == "Keine Felder geändert."
        assert render_change_message('[{"deleted": {"selected": true}}]') == (
            "Gelöscht (Ausgewählte löschen)."
        )
        assert render_change_message('[{"password": {}}]') == "Passwort geändert."


@pytest.mark.parametrize(
    "stored",
    [
        "Changed title.",  # an entry written before messages were structured
        "",
        '{"changed": {}}',  # JSON, but not a list of parts
        '[{"unknown": {}}]',
        '[{"added": {}, "deleted": {}}]',
        "[1, 2]",
        "<script>alert(1)</script>",
    ],
)
def test_other_text_is_shown_as_it_is(stored: str) -> None:
    assert render_change_message(stored) == stored
