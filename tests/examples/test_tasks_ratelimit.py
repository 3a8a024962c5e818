"""The demo's API is rate-limited per token (API_RATE_LIMIT)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from examples.tasks.app import DEFAULT_API_RATE_LIMIT, create_app
from oakling.auth.services import get_user_by_username_sync
from oakling.auth.tokens import create_token_sync
from oakling.testing import TestClient
from tests.examples.accounts import login, make_user


def test_api_is_limited_per_token_and_pages_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAKLING_API_RATE_LIMIT", "3/minute")
    app = create_app(f"sqlite:///{tmp_path / 'tasks.db'}")
    with TestClient(app, follow_redirects=False) as client:
        make_user(app, "ann")
        make_user(app, "bob")
        with app.extensions["db"].session() as db:
            ann = get_user_by_username_sync(db, "ann")
            bob = get_user_by_username_sync(db, "bob")
            assert ann is not None and bob is not None
            _, ann_token = create_token_sync(db, ann, name="script", scopes=["tasks:read"])
            _, bob_token = create_token_sync(db, bob, name="script", scopes=["tasks:read"])
            db.commit()
        as_ann = {"authorization": f"Bearer {ann_token}"}
        as_bob = {"authorization": f"Bearer {bob_token}"}
        statuses = [client.get("/api/tasks", headers=as_ann).status_code for _ in range(3)]
        refused = client.get("/api/tasks", headers=as_ann)
        # another token has its own bucket, spoofed addresses change nothing
        bob_statuses = [
            client.get(
                "/api/tasks", headers={**as_bob, "X-Forwarded-For": f"203.0.113.{n}"}
            ).status_code
            for n in range(3)
        ]
        # the pages are not limited
        assert login(client, "ann").status_code == 303
        pages = [client.get("/").status_code for _ in range(5)]
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["detail"] == "Rate limit exceeded: 3 per 1 minute"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-policy"] == '"api";q=3;w=60'
    assert re.fullmatch(r'"api";r=0;t=\d+', refused.headers["ratelimit"])
    assert bob_statuses == [200, 200, 200]
    assert pages == [200] * 5


def test_default_api_limit_is_generous() -> None:
    amount, _, _ = DEFAULT_API_RATE_LIMIT.partition("/")
    assert int(amount) >= 600
