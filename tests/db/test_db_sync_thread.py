"""A sync handler's injected Session: made, used and committed in the request's one thread."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from oakling import App, Request
from oakling.db import Database
from oakling.testing import TestClient


def test_session_setup_handler_and_commit_share_the_requests_thread(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'thread.db'}")
    app = App(secret_key="sync-thread-secret-" + "t" * 30, plugins=[database])
    seen: dict[str, int] = {}

    @app.before_request
    def hook() -> None:
        seen["hook"] = threading.get_ident()

    @app.post("/")
    def write(db: Session, request: Request) -> str:
        seen["handler"] = threading.get_ident()
        db.connection()  # NOTE: begin the transaction, so that there is one to commit
        seen["transaction begun"] = db.info["made_in"]

        @event.listens_for(db, "after_commit")
        def committed(session: Session) -> None:
            seen["commit"] = threading.get_ident()

        @event.listens_for(db, "after_transaction_end")
        def ended(session: Session, transaction: object) -> None:
            seen.setdefault("close", threading.get_ident())

        return "ok"

    @event.listens_for(Session, "after_begin")
    def tag(session: Session, transaction: object, connection: object) -> None:
        session.info.setdefault("made_in", threading.get_ident())

    try:
        with TestClient(app) as client:
            response = client.post("/")
        assert response.status_code == 200, response.text
        assert set(seen) == {"hook", "handler", "transaction begun", "commit", "close"}
        assert len(set(seen.values())) == 1, seen
    finally:
        event.remove(Session, "after_begin", tag)
        database.sync_engine().dispose()
