"""What the demo does so that it can run as many processes (tests/scale runs them).

The scaled topology itself (two hosts, a Celery worker, HAProxy) is
tests/scale, outside the README's test command; these are the pieces of it a
single process can show: the health check, the cached summary and its
invalidation after the commit, the settings that move the cache to Redis, and
the refusal to start several processes with a random key each.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from examples.tasks.app import create_app, demo_settings
from oakling.exceptions import ImproperlyConfigured
from oakling.testing import TestClient
from tests.conftest import skip_or_fail
from tests.examples.accounts import login, make_user

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_scaling_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OAKLING_SECRET_KEY",
        "OAKLING_CHANNELS_URL",
        "OAKLING_TASKS_BROKER_URL",
        "OAKLING_REDIS_URL",
        "OAKLING_CACHES",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(f"sqlite:///{tmp_path / 'tasks.db'}"), follow_redirects=False) as c:
        make_user(c.app, "ann")
        assert login(c, "ann").status_code == 303
        yield c


def test_healthz_answers_without_a_login(tmp_path: Path) -> None:
    with TestClient(create_app(f"sqlite:///{tmp_path / 'tasks.db'}")) as anonymous:
        answer = anonymous.get("/healthz")
        assert answer.status_code == 200 and answer.text == "ok\n"
        assert answer.headers["cache-control"] == "no-store"
        # A forged Host is still refused: HAProxy's check sends an allowed one.
        assert anonymous.get("/healthz", headers={"host": "evil.example"}).status_code == 400


def test_the_summary_is_cached_until_a_change_of_the_users_tasks(client: TestClient) -> None:
    assert client.get("/api/summary").json() == {"total": 0, "completed": 0}
    database = client.app.extensions["db"]
    with database.session() as db:
        owner = db.execute(text("SELECT id FROM auth_user WHERE username = 'ann'")).scalar_one()
        db.execute(
            text("INSERT INTO tasks_task (title, completed, owner_id) VALUES ('raw', 1, :o)"),
            {"o": owner},
        )
        db.commit()
    # Behind the app's back: the cached count is served.
    assert client.get("/api/summary").json() == {"total": 0, "completed": 0}
    # A change through the app deletes it once committed (the announce task).
    assert client.post("/api/tasks", json={"title": "through the app"}).status_code == 201
    assert client.get("/api/summary").json() == {"total": 2, "completed": 1}


def test_the_summary_needs_the_read_scope(client: TestClient) -> None:
    anonymous = TestClient(client.app)
    assert anonymous.get("/api/summary").status_code == 401


def test_redis_url_moves_the_cache_to_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    assert demo_settings().get("CACHES") is None  # memory, one process
    monkeypatch.setenv("OAKLING_REDIS_URL", "redis://cache.internal:6379/3")
    assert demo_settings().get("CACHES") == {
        "default": {
            "BACKEND": "redis",
            "LOCATION": "redis://cache.internal:6379/3",
            "KEY_PREFIX": "tasks-demo",
        }
    }
    monkeypatch.setenv("OAKLING_CACHES", '{"default": {"BACKEND": "dummy"}}')
    assert demo_settings().get("CACHES") == '{"default": {"BACKEND": "dummy"}}'  # kept as set


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OAKLING_CHANNELS_URL", "redis://127.0.0.1:6379/0"),
        ("OAKLING_TASKS_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    ],
)
def test_several_processes_without_a_shared_key_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match="OAKLING_SECRET_KEY") as refused:
        demo_settings()
    assert name.removeprefix("OAKLING_") in str(refused.value)
    monkeypatch.setenv("OAKLING_SECRET_KEY", "k" * 50)
    assert demo_settings().SECRET_KEY == "k" * 50


def test_the_memory_channel_layer_still_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAKLING_CHANNELS_URL", "memory://")
    assert len(demo_settings().SECRET_KEY or "") >= 50


def test_the_shipped_haproxy_config_is_valid() -> None:
    import shutil
    import subprocess

    haproxy = shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin:" + os.defpath)
    if haproxy is None:
        skip_or_fail("HAProxy is not installed (apt-get install haproxy)")
    assert haproxy is not None
    config = ROOT / "examples" / "tasks" / "deploy" / "haproxy.cfg"
    checked = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_pool_is_sized_by_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tasks.db'}"
    assert create_app(url).extensions["db"].engine_options == {}  # oakling's defaults
    monkeypatch.setenv("OAKLING_DATABASE_POOL_SIZE", "4")
    monkeypatch.setenv("OAKLING_DATABASE_MAX_OVERFLOW", "2")
    options = create_app(url).extensions["db"].engine_options
    assert options == {"pool_size": 4, "max_overflow": 2}
    monkeypatch.setenv("OAKLING_DATABASE_POOL_SIZE", "many")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_POOL_SIZE"):
        create_app(url)
