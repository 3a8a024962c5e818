"""The documentation's examples: the pages show the files, and the files do what the pages say.

Every fenced ``python`` block in ``docs/*.md`` whose first line is
``# docs/examples/<file>.py`` (or ``html`` block starting with the Jinja comment
``{# docs/examples/<file>.html #}``) must equal that file byte for byte, so the
docs and the tested code cannot drift apart. Each example module is then imported
by path (``docs`` is not a package) and exercised with the test client.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from oakling import WebSocketDisconnect
from oakling.cli import main
from oakling.exceptions import ImproperlyConfigured
from oakling.testing import TestClient

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"

_BLOCK = re.compile(
    r"^```(?:python|html)\n((?:# |\{# )(docs/examples/[\w./-]+?)(?: #\})?\n.*?)^```[ \t]*$",
    re.M | re.S,
)
_FENCE = re.compile(r"^```", re.M)

Loader = Callable[[str], types.ModuleType]


def _pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def _included_blocks() -> list[tuple[str, str, str]]:
    """Return ``(page, example path, block text)`` for every included example."""
    found = []
    for page in _pages():
        for match in _BLOCK.finditer(page.read_text(encoding="utf-8")):
            found.append((page.name, match.group(2), match.group(1)))
    return found


def _example_files(suffixes: tuple[str, ...] = (".py",)) -> list[str]:
    return sorted(
        path.relative_to(ROOT).as_posix()
        for path in EXAMPLES.rglob("*")
        if path.suffix in suffixes and "__pycache__" not in path.parts
    )


# -- the pages and the files agree ----------------------------------------------


@pytest.mark.parametrize(
    ("page", "example", "block"),
    _included_blocks(),
    ids=[f"{page}:{example}" for page, example, _ in _included_blocks()],
)
def test_block_equals_its_example_file(page: str, example: str, block: str) -> None:
    path = ROOT / example
    assert path.is_file(), f"{page} includes {example}, which does not exist"
    assert block == path.read_text(encoding="utf-8"), (
        f"{page}: the block for {example} differs from the file; copy the file into the page"
    )


def test_every_example_is_shown_on_a_page() -> None:
    shown = {example for _, example, _ in _included_blocks()}
    assert sorted(set(_example_files((".py", ".html"))) - shown) == []


def test_every_example_names_its_file_on_the_page() -> None:
    for page, example, block in _included_blocks():
        prose = (DOCS / page).read_text(encoding="utf-8").replace(block, "")
        assert example in prose, f"{page} must name {example} outside its code block"


def test_every_example_has_a_test() -> None:
    # NOTE: a battery's examples may be tested next to the battery's tests
    # (tests/<battery>/test_*_docs.py or *_examples.py), the core's are here.
    names = set(globals())
    for path in Path(__file__).parent.glob("*/test_*.py"):
        if path.stem.endswith(("_docs", "_examples")):
            names.update(re.findall(r"^def (test_\w+)", path.read_text("utf-8"), re.M))
    for example in _example_files():
        stem = Path(example).stem
        assert any(name.startswith(f"test_{stem}") for name in names), f"no test for {example}"


def test_fences_are_balanced_and_pages_are_in_the_index() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        assert len(_FENCE.findall(text)) % 2 == 0, f"{page.name} has an unclosed code fence"
        if page.name != "index.md":
            assert f"({page.name})" in index, f"index.md does not link to {page.name}"
        for target in re.findall(r"\]\(([\w-]+\.md)\)", text):
            assert (DOCS / target).is_file(), f"{page.name} links to missing {target}"


# -- loading examples -------------------------------------------------------------


@pytest.fixture
def load(load_example: Loader) -> Loader:
    """The shared example loader (``tests/conftest.py``), under a short name."""
    return load_example


@pytest.fixture(autouse=True)
def _quiet_development_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="oakling.config")


# -- routing.md -------------------------------------------------------------------


def test_routing_basics(load: Loader) -> None:
    app = load("routing_basics").app
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/").text == "Hello"
        assert client.get("/tasks/7").json() == {"id": 7}
        assert client.get("/tasks/abc").status_code == 404  # int converter: no match
        assert client.get("/tasks/-1").status_code == 404
        assert client.get("/tasks/latest").json() == {"id": 3}
        assert client.get("/files/a/b/c.txt").json() == {"name": "a/b/c.txt"}
        assert client.get("/users/5").json() == {"user": 5}
        assert client.post("/notes").json() == {"method": "POST"}
        not_allowed = client.delete("/notes")
        assert not_allowed.status_code == 405
        assert not_allowed.headers["allow"] == "GET, HEAD, OPTIONS, POST"
        head = client.head("/")
        assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "5")
        options = client.options("/tasks/7")
        assert (options.status_code, options.headers["allow"]) == (204, "GET, HEAD, OPTIONS")
        redirect = client.get("/reports?page=2")
        assert redirect.status_code == 308
        assert redirect.headers["location"] == "/reports/?page=2"
        assert client.get("/reports/").json() == []
    assert app.url_path_for("task_detail", task_id=7) == "/tasks/7"
    assert app.url_path_for("show_file", name="a/b.txt") == "/files/a/b.txt"
    assert app.url_path_for("task_detail", task_id=7, tab="notes") == "/tasks/7?tab=notes"


def test_routing_blueprints(load: Loader) -> None:
    app = load("routing_blueprints").app
    key = {"x-api-key": "secret"}
    with TestClient(app) as client:
        denied = client.get("/api/tasks/1")
        assert (denied.status_code, denied.json()) == (401, {"detail": "Missing API key"})
        found = client.get("/api/tasks/1", headers=key)
        assert found.json() == {"id": 1, "title": "Write the docs"}
        assert found.headers["cache-control"] == "no-store"
        missing = client.get("/api/tasks/2", headers=key)
        assert missing.status_code == 404
        assert missing.json() == {"error": "no such task", "path": "/api/tasks/2"}
        # An unknown URL under the prefix matched no route of the router: the app answers.
        assert client.get("/api/nothing", headers=key).json() == {"detail": "Not Found"}
        assert client.get("/api/v2/ping", headers=key).text == "pong"
        assert client.get("/api/v2/ping").status_code == 401  # the parent's hooks apply
        assert client.get("/").json() == {
            "task": "/api/tasks/1",
            "ping": "http://testserver/api/v2/ping",
        }
    assert app.url_path_for("api:v2:ping") == "/api/v2/ping"


def test_routing_mount(load: Loader) -> None:
    app = load("routing_mount").app
    with TestClient(app) as client:
        assert client.get("/legacy/a/b").text == "legacy saw path=/a/b root_path=/legacy"
        assert client.get("/").json() == {"report": "/legacy/reports/2024.csv"}
        assert client.get("/legacyish").status_code == 404


def test_routing_views(load: Loader) -> None:
    module = load("routing_views")
    with TestClient(module.app) as client:
        assert client.get("/tasks/1").json() == {"id": 1, "title": "Write the docs"}
        assert client.get("/tasks/x").status_code == 404
        assert client.put("/tasks/2", json={"title": "Ship"}).json() == {"id": 2, "title": "Ship"}
        assert client.put("/tasks/2", json={}).status_code == 422
        assert client.delete("/tasks/1").status_code == 204
        assert client.get("/tasks/1").status_code == 404
        post = client.post("/tasks/1")
        assert (post.status_code, post.headers["allow"]) == (405, "DELETE, GET, HEAD, OPTIONS, PUT")
    assert module.app.url_path_for("TaskView", task_id=3) == "/tasks/3"


# -- handlers.md ------------------------------------------------------------------


def test_handlers_params(load: Loader) -> None:
    module = load("handlers_params")
    with TestClient(module.app) as client:
        response = client.get(
            "/tasks?page=2&done=true&tags=a&tags=b&page-size=5",
            headers={"User-Agent": "probe", "Cookie": "theme=dark"},
        )
        assert response.json() == {
            "page": 2,
            "done": True,
            "tags": ["a", "b"],
            "size": 5,
            "agent": "probe",
            "theme": "dark",
        }
        invalid = client.get("/tasks?page=0&done=maybe")
        assert invalid.status_code == 422
        assert [error["loc"] for error in invalid.json()["detail"]] == [
            ["query", "page"],
            ["query", "done"],
        ]
        assert client.get("/tasks/3?x=1").json() == {
            "id": 3,
            "url": "http://testserver/tasks/3?x=1",
        }
        created = client.post("/tasks", json={"title": "Write"})
        assert (created.status_code, created.json()) == (
            201,
            {"title": "Write", "completed": False},
        )
        assert module.SENT == ["Write"]
        assert client.post("/tasks", json={}).json() == {
            "detail": [{"loc": ["body", "title"], "msg": "Field required", "type": "missing"}]
        }
        too_long = client.post("/tasks", json={"title": "x" * 101})
        assert too_long.json()["detail"][0]["loc"] == ["body", "title"]
        malformed = client.post(
            "/tasks", content=b'{"title": ', headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 422
        assert malformed.json()["detail"][0]["type"] == "json_invalid"
        assert client.post("/tasks", data={"title": "x"}).status_code == 415
        assert len(module.TASKS) == 1


def test_handlers_models(load: Loader) -> None:
    app = load("handlers_models").app
    cases = [
        ("/tasks", {"title": "t"}, 200, {"title": "t"}),
        ("/notes", {"text": "n", "stars": 2}, 200, {"text": "n", "stars": 2}),
        ("/points", {"x": 1, "y": 2}, 200, {"x": 1, "y": 2}),
        ("/users", {"name": "ann", "age": 3}, 200, {"name": "ann", "age": 3}),
        ("/pair", {"task": {"title": "t"}, "note": {"text": "n"}, "priority": 2}, 200, None),
    ]
    with TestClient(app) as client:
        for path, payload, status, body in cases:
            response = client.post(path, json=payload)
            assert response.status_code == status, response.text
            if body is not None:
                assert response.json() == body
        assert client.post(
            "/pair", json={"task": {"title": "t"}, "note": {"text": "n"}}
        ).json() == {
            "task": "t",
            "note": "n",
            "priority": 0,
        }
        for path, payload, loc in [
            ("/tasks", {"title": "x" * 101}, ["body", "title"]),
            ("/points", {"x": "a", "y": 1}, ["body", "x"]),
            ("/users", {"name": "ann", "age": -1}, ["body", "age"]),
            ("/pair", {"task": {"title": "t"}}, ["body", "note"]),
        ]:
            response = client.post(path, json=payload)
            assert response.status_code == 422
            assert response.json()["detail"][0]["loc"] == loc


def test_handlers_models_dataclass_defaults_survive_a_round_trip(load: Loader) -> None:
    app = load("handlers_models").app
    with TestClient(app) as client:
        assert client.post("/notes", json={"text": "n"}).json() == {"text": "n", "stars": 0}


def test_handlers_dependencies(load: Loader) -> None:
    module = load("handlers_dependencies")
    app = module.app
    token = {"Authorization": "Bearer let-me-in"}
    with TestClient(app) as client:
        anonymous = client.get("/me")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        assert client.get("/me", headers=token).json() == {"user": "ann"}
        created = client.post("/tasks?title=Write", headers=token)
        assert created.status_code == 201
        assert module.EVENTS == ["open", "commit", "close"]
        assert module.SAVED == ["Write"]
        module.EVENTS.clear()
        duplicate = client.post("/tasks?title=Write", headers=token)
        assert duplicate.status_code == 409
        assert module.EVENTS == ["open", "rollback", "close"]
        assert module.SAVED == ["Write"]
        app.dependency_overrides[module.current_user] = lambda: "tester"
        assert client.get("/me").json() == {"user": "tester"}
        app.dependency_overrides.clear()
        assert client.get("/me").status_code == 401


def test_handlers_returns(load: Loader) -> None:
    app = load("handlers_returns").app
    with TestClient(app) as client:
        for path, content_type in [
            ("/text", "text/plain; charset=utf-8"),
            ("/html", "text/html; charset=utf-8"),
            ("/tasks", "application/json"),
            ("/logo", "application/octet-stream"),
            ("/page", "text/html; charset=utf-8"),
            ("/export", "text/csv; charset=utf-8"),
        ]:
            response = client.get(path)
            assert (response.status_code, response.headers["content-type"]) == (200, content_type)
        assert client.get("/tasks").json() == {"tasks": [{"id": 1, "title": "Write the docs"}]}
        deleted = client.delete("/tasks/1")
        assert (deleted.status_code, deleted.content) == (204, b"")
        created = client.post("/tasks")
        assert created.status_code == 201
        assert created.headers["location"] == "/tasks/2"
        assert created.json() == {"id": 2, "title": "Ship it"}


def test_handlers_forms(load: Loader) -> None:
    app = load("handlers_forms").app
    with TestClient(app) as client:
        response = client.post(
            "/attachments",
            data={"title": "Report"},
            files=[
                ("document", ("report.txt", b"hello")),
                ("extra", ("a.txt", b"1")),
                ("extra", ("b.txt", b"2")),
            ],
        )
        assert response.json() == {
            "title": "Report",
            "filename": "report.txt",
            "size": 5,
            "extra": 2,
        }
        missing = client.post("/attachments", data={"title": "Report"})
        assert missing.status_code == 422
        assert missing.json()["detail"][0]["loc"] == ["file", "document"]
        assert client.post(
            "/signup", data={"email": "a@example.com", "newsletter": "true"}
        ).json() == {
            "email": "a@example.com",
            "newsletter": True,
        }
        assert client.post("/signup", data={"email": "a@example.com"}).json()["newsletter"] is False
        assert client.post("/signup", data={}).json()["detail"][0]["loc"] == ["form", "email"]
        assert client.post("/signup", json={"email": "a@example.com"}).status_code == 415


# -- requests.md ------------------------------------------------------------------


def test_requests_basics(load: Loader) -> None:
    app = load("requests_basics").app
    with TestClient(app) as client:
        response = client.post(
            "/inspect/note?page=2&tag=a&tag=b",
            json={"a": 1},
            headers={"User-Agent": "probe", "Cookie": "theme=dark"},
        )
        assert response.json() == {
            "method": "POST",
            "path": "/inspect/note",
            "kind": "note",
            "page": "2",
            "tags": ["a", "b"],
            "agent": "probe",
            "theme": "dark",
            "json": {"a": 1},
        }
        malformed = client.post(
            "/inspect/x", content=b"{", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 400
        assert client.post("/inspect/x", content=b"1" * (64 * 1024 + 1)).status_code == 413
        uploaded = client.post(
            "/upload",
            data={"title": "Notes"},
            files={"document": ("notes.txt", b"hello", "text/plain")},
        )
        assert uploaded.json() == {
            "title": "Notes",
            "filename": "notes.txt",
            "type": "text/plain",
            "size": 5,
        }
        three = [("document", (f"{index}.txt", b"x", "text/plain")) for index in range(3)]
        assert client.post("/upload", files=three).status_code == 400  # MAX_FORM_FILES=2
        assert client.post("/upload", data={"title": "Notes"}).status_code == 400
        assert (
            client.post(
                "/upload", content=b"{}", headers={"content-type": "application/json"}
            ).status_code
            == 415
        )
        assert client.put("/raw", content=b"x" * 100_000).json() == {"received": 100_000}


# -- responses.md -----------------------------------------------------------------


def test_responses_basics(load: Loader) -> None:
    app = load("responses_basics").app
    with TestClient(app, follow_redirects=False) as client:
        status = client.get("/api/status")
        assert (status.json(), status.headers["cache-control"]) == ({"ok": True}, "no-store")
        assert client.get("/hello").headers["content-type"] == "text/html; charset=utf-8"
        login = client.post("/login")
        assert (login.status_code, login.headers["location"]) == (303, "/dashboard")
        cookie = login.headers["set-cookie"]
        for part in ("theme=dark", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"):
            assert part in cookie
        assert client.get("/dashboard").json() == {"theme": "dark"}
        assert "Max-Age=0" in client.post("/logout").headers["set-cookie"]
        assert client.get("/dashboard").json() == {"theme": "light"}
        export = client.get("/export.csv")
        assert export.headers["content-type"] == "text/csv; charset=utf-8"
        assert export.text == "id,title\n1,Task 1\n2,Task 2\n3,Task 3\n"
        events = client.get("/events")
        assert events.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert events.headers["cache-control"] == "no-cache"
        assert events.text.startswith('event: tick\nid: 0\ndata: {"tick":0}\n\n')
        assert events.text.count("event: tick") == 3


def test_responses_files(load: Loader) -> None:
    app = load("responses_files").app
    with TestClient(app) as client:
        full = client.get("/reports/2025-03.csv")
        assert full.status_code == 200
        assert full.text.startswith("id,title,done\n")
        assert full.headers["content-type"] == "text/csv; charset=utf-8"
        assert full.headers["content-disposition"] == 'attachment; filename="tasks-2025-03.csv"'
        assert full.headers["accept-ranges"] == "bytes"
        size = int(full.headers["content-length"])
        etag = full.headers["etag"]
        assert (
            client.get("/reports/2025-03.csv", headers={"If-None-Match": etag}).status_code == 304
        )
        part = client.get("/reports/2025-03.csv", headers={"Range": "bytes=0-7"})
        assert (part.status_code, part.text) == (206, "id,title")
        assert part.headers["content-range"] == f"bytes 0-7/{size}"
        past = client.get("/reports/2025-03.csv", headers={"Range": "bytes=999-"})
        assert (past.status_code, past.headers["content-range"]) == (416, f"bytes */{size}")
        assert client.get("/reports/2025-03.csv", headers={"Range": "pages=1"}).status_code == 200
        assert client.get("/reports/2025-04.csv").json() == {"detail": "No report named 2025-04"}
        for attack in ("/reports/..%2f..%2fsecret.csv", "/reports/a.b.csv", "/reports/..csv"):
            assert client.get(attack).status_code == 404


# -- errors.md --------------------------------------------------------------------


def test_errors_handlers(load: Loader, caplog: pytest.LogCaptureFixture) -> None:
    app = load("errors_handlers").app
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/tasks/2").json() == {"detail": "Task 2 does not exist"}
        page = client.get("/tasks/2", headers=browser)
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "Lost?" in page.text
        assert client.get("/nowhere").json() == {"detail": "Not Found"}
        limited = client.get("/limited")
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "30")
        assert limited.json() == {"detail": {"retry_after": 30}}
        default_page = client.get("/limited", headers=browser)
        assert default_page.headers["content-type"] == "text/html; charset=utf-8"
        assert "429 Too Many Requests" in default_page.text
        with caplog.at_level(logging.ERROR, logger="oakling.error"):
            crash = client.get("/crash")
        assert (crash.status_code, crash.json()) == (500, {"detail": "Internal Server Error"})
        assert "a bug" not in crash.text
        assert "RuntimeError: a bug" in caplog.text
        assert client.post("/api/tasks/1/done").json() == {"error": "locked", "task": 1}
        assert client.post("/api/tasks/1/done").status_code == 423
        assert client.delete("/tasks/1").status_code == 405


def test_errors_handlers_debug_page(load: Loader) -> None:
    app = load("errors_handlers").app
    app.debug = True
    with TestClient(app, raise_server_exceptions=False) as client:
        page = client.get("/crash", headers={"Accept": "text/html"})
        assert page.status_code == 500
        assert "RuntimeError" in page.text and "a bug" in page.text
        data = client.get("/crash").json()
        assert data["detail"] == "RuntimeError: a bug"
    with TestClient(app) as client, pytest.raises(RuntimeError, match="a bug"):
        client.get("/crash")  # the test client re-raises server errors by default


# -- websockets.md ----------------------------------------------------------------


def test_websockets_chat(load: Loader) -> None:
    module = load("websockets_chat")
    with TestClient(module.app) as client:
        with client.websocket_connect("/echo") as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "echo: hi"
        with (
            client.websocket_connect("/rooms/lobby?name=ann") as ann,
            client.websocket_connect("/rooms/lobby?name=bob") as bob,
        ):
            ann.send_json({"text": "hello"})
            assert ann.receive_json() == {"from": "ann", "text": "hello"}
            assert bob.receive_json() == {"from": "ann", "text": "hello"}
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/rooms/private"):
                pass
        assert (refused.value.code, refused.value.reason) == (1008, "This room is private")
        with client.websocket_connect("/rooms/lobby") as ws:
            ws.send_text("not json")
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1007
    assert module.ROOMS["lobby"] == set()


# -- settings.md ------------------------------------------------------------------


def test_settings_custom(load: Loader, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "OAKLING_PAGE_SIZE=30\nOAKLING_ADMIN_EMAILS=ann@example.com, bob@example.com\n"
    )
    monkeypatch.setenv("OAKLING_PAGE_SIZE", "50")  # the environment beats .env
    monkeypatch.setenv("OAKLING_REDIS_URL", "redis://localhost:6379/0")
    monkeypatch.setenv("PAGE_SIZE", "999")  # unprefixed: ignored
    module = load("settings_custom")
    with TestClient(module.app) as client:
        assert client.get("/about").json() == {
            "page_size": 50,
            "admins": ["ann@example.com", "bob@example.com"],
            "cache": "redis",
        }
    assert module.settings.sources["PAGE_SIZE"] == "OAKLING_PAGE_SIZE (environment)"
    assert module.settings.sources["DEBUG"] == "DEBUG (code)"
    monkeypatch.setenv("OAKLING_PAGE_SIZE", "many")
    with pytest.raises(ImproperlyConfigured, match="OAKLING_PAGE_SIZE .environment.: expected int"):
        load("settings_custom")


def test_settings_secret_key_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from oakling import App

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OAKLING_SECRET_KEY", raising=False)
    monkeypatch.delenv("OAKLING_DEBUG", raising=False)
    # The app refuses to start; the test client reports the failed startup.
    with pytest.raises((RuntimeError, ImproperlyConfigured), match="SECRET_KEY is not set"):
        with TestClient(App()):
            pass
    with pytest.raises(ImproperlyConfigured, match="too short"):
        App(secret_key="short").check_settings()
    monkeypatch.setenv("OAKLING_SECRET_KEY", "k" * 50)
    with TestClient(App()) as client:
        assert client.get("/").status_code == 404


# -- templates.md -----------------------------------------------------------------


def test_templates_pages(load: Loader) -> None:
    app = load("templates_pages").app
    with TestClient(app) as client:
        page = client.get("/")
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "<title>Home · Tasks</title>" in page.text
        assert '<a href="/tasks/1">Write the docs</a> 01 Mar' in page.text
        assert "&lt;script&gt;" in page.text and "<script>" not in page.text
        assert '<a href="/blog/">Blog</a>' in page.text
        blog = client.get("/blog/", headers={"x-user": "ann"})
        assert "<title>Blog · Tasks</title>" in blog.text
        assert "Signed in as ann." in blog.text


# -- testing.md -------------------------------------------------------------------


def test_testing_tasks(load: Loader) -> None:
    app = load("testing_tasks").app
    with TestClient(app) as client:
        assert client.get("/tasks").status_code == 401
        token = {"Authorization": "Bearer ann"}
        assert client.post("/tasks", json={"title": "x"}, headers=token).status_code == 201
        assert client.get("/tasks", headers=token).json() == [{"title": "x", "owner": "ann"}]


def test_testing_test_tasks_pass_under_pytest() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(EXAMPLES / "testing_test_tasks.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


# -- deployment.md ----------------------------------------------------------------


def test_deployment_wsgi(load: Loader) -> None:
    from wsgiref.util import setup_testing_defaults

    module = load("deployment_wsgi")
    application = module.application
    try:
        environ: dict[str, object] = {}
        setup_testing_defaults(environ)
        started: list[str] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None):
            started.append(status)

        body = b"".join(application(environ, start_response))
        assert started == ["200 OK"]
        assert body == b'{"ready":true}'
    finally:
        application.close()


def test_deployment_routes_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    try:
        result = CliRunner().invoke(main, ["routes", "routing_blueprints:app"])
    finally:
        sys.modules.pop("routing_blueprints", None)
    assert result.exit_code == 0, result.output
    rows = [line.split()[:3] for line in result.output.splitlines()]
    assert rows[0] == ["Methods", "Path", "Name"]
    assert ["GET", "/api/tasks/{task_id}", "api:task_detail"] in rows
    assert ["GET", "/api/v2/ping", "api:v2:ping"] in rows


# -- index.md ---------------------------------------------------------------------


def test_index_hello(load: Loader) -> None:
    app = load("index_hello").app
    with TestClient(app) as client:
        assert client.get("/hello/ann?excited=true").json() == {"hello": "ann!"}
        assert client.get("/hello/ann").json() == {"hello": "ann"}
        invalid = client.get("/hello/ann?excited=maybe")
        assert invalid.status_code == 422
        assert invalid.json()["detail"][0]["loc"] == ["query", "excited"]


# -- plugins.md -------------------------------------------------------------------


def test_plugins_health(load: Loader, monkeypatch: pytest.MonkeyPatch) -> None:
    from oakling import Plugin

    module = load("plugins_health")
    app = module.app
    plugin = app.extensions["health"]
    assert isinstance(plugin, Plugin)
    assert plugin.started_at is None
    with TestClient(app) as client:
        assert plugin.started_at is not None  # the startup hook ran
        health = client.get("/healthz")
        assert health.json()["status"] == "ok"
        assert health.headers["server-timing"].startswith("app;dur=")
        assert client.get("/").headers["server-timing"].startswith("app;dur=")
    assert app.url_path_for("health:health") == "/healthz"
    assert app.template_globals["health_url"] == "/healthz"
    with pytest.raises(RuntimeError):
        app.install(module.HealthPlugin())  # too late: the app has started

    monkeypatch.setenv("OAKLING_HEALTH_PATH", "/status")
    from oakling import App

    configured = App(debug=True, plugins=[module.HealthPlugin()])
    assert configured.url_path_for("health:health") == "/status"
    explicit = App(debug=True, plugins=[module.HealthPlugin("/up")])
    assert explicit.url_path_for("health:health") == "/up"


def test_plugins_health_cli_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setenv("OAKLING_APP", "plugins_health:app")
    try:
        result = CliRunner().invoke(main, ["health"])
    finally:
        sys.modules.pop("plugins_health", None)
    assert result.exit_code == 0, result.output
    assert result.output == "health check at /healthz\n"


# -- middleware.md ----------------------------------------------------------------


def test_middleware_stack(load: Loader) -> None:
    app = load("middleware_stack").app
    origin = {"Origin": "https://app.example.com"}
    with TestClient(app, base_url="http://api.example.com") as client:
        response = client.get("/api/tasks", headers={**origin, "Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert len(response.json()) == 100
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        assert response.headers["access-control-allow-credentials"] == "true"
        assert "Accept-Encoding" in response.headers["vary"]
        preflight = client.options(
            "/api/tasks",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-methods"] == "GET, POST"
        assert "authorization" in preflight.headers["access-control-allow-headers"]
        refused = client.options(
            "/api/tasks",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert refused.status_code == 400
        foreign = client.get("/api/tasks", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in foreign.headers
        plain = client.get("/api/tasks", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        bad_host = client.get("/api/tasks", headers={"Host": "evil.com"})
        assert (bad_host.status_code, bad_host.text) == (400, "Invalid host header")
    with TestClient(app, base_url="http://localhost:8000") as client:
        assert client.get("/api/tasks").status_code == 200


def test_middleware_custom(load: Loader) -> None:
    app = load("middleware_custom").app
    with TestClient(app) as client:
        fresh = client.get("/")
        assert fresh.json()["request_id"] == fresh.headers["x-request-id"]
        assert len(fresh.headers["x-request-id"]) == 32
        kept = client.get("/", headers={"X-Request-ID": "abc-123"})
        assert kept.json() == {"request_id": "abc-123"}
        assert kept.headers["x-request-id"] == "abc-123"
        replaced = client.get("/", headers={"X-Request-ID": "no spaces; please"})
        assert replaced.json()["request_id"] != "no spaces; please"
        maintenance = client.get("/admin/")
        assert (maintenance.status_code, maintenance.text) == (503, "Down for maintenance")
        assert maintenance.headers["retry-after"] == "600"
        assert "x-request-id" in maintenance.headers  # the app's middleware wraps the router's
        assert client.get("/admin/nope").json() == {"detail": "Not Found"}


# -- static.md --------------------------------------------------------------------


def test_static_site(load: Loader) -> None:
    app = load("static_site").app
    with TestClient(app) as client:
        page = client.get("/")
        assert '<link rel="stylesheet" href="/static/css/site.css">' in page.text
        assert '<a href="/downloads/2025-03.csv">' in page.text
        css = client.get("/static/css/site.css")
        assert css.status_code == 200
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        assert "cache-control" not in css.headers
        etag = css.headers["etag"]
        assert (
            client.get("/static/css/site.css", headers={"If-None-Match": etag}).status_code == 304
        )
        download = client.get("/downloads/2025-03.csv")
        assert download.headers["cache-control"] == "public, max-age=3600"
        assert client.get("/static/robots.txt").text.startswith("User-agent: *")
        for attack in (
            "/static/../static_site.py",
            "/static/%2e%2e/static_site.py",
            "/static/css/..%2f..%2fstatic_site.py",
            "/static/css",
            "/static/missing.css",
        ):
            assert client.get(attack).status_code == 404, attack
        not_allowed = client.post("/static/robots.txt")
        assert (not_allowed.status_code, not_allowed.headers["allow"]) == (405, "GET, HEAD")
        browser = client.get("/static/missing.css", headers={"Accept": "text/html"})
        assert browser.headers["content-type"] == "text/html; charset=utf-8"


# -- db.md ------------------------------------------------------------------------


def _close_example(name: str) -> None:
    module = sys.modules.pop(name)
    database = getattr(getattr(module, "app", None), "extensions", {}).get("db")
    if database is not None:
        for key in [None, *database.bind_keys]:
            database.sync_engine(key).dispose()


def _forget_db_examples(known_tables: set[str]) -> None:
    """Drop the examples' models from the shared ``Model`` so the next test can define them."""
    import gc

    from oakling.db import Model

    for name in [name for name in sys.modules if name.startswith(("db_", "from_"))]:
        if Path(getattr(sys.modules[name], "__file__", None) or "").parent == EXAMPLES:
            _close_example(name)  # NOTE: no local may keep the module alive here
    for name in set(Model.metadata.tables) - known_tables:
        Model.metadata.remove(Model.metadata.tables[name])
    # NOTE: the registry holds its classes weakly; once collected, the same
    # class names can be declared again without SQLAlchemy's duplicate warning.
    gc.collect()


@pytest.fixture
def db_load(
    load: Loader,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Loader]:
    """Load oakling.db examples with their SQLite files in ``tmp_path``."""
    from oakling.db import Model

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OAKLING_DATABASE_URL", f"sqlite:///{tmp_path / 'docs.db'}")
    monkeypatch.delenv("OAKLING_DATABASE_BINDS", raising=False)
    # NOTE: a logged database error holds its traceback, hence the example modules.
    caplog.set_level(logging.CRITICAL, logger="oakling.db")
    known = set(Model.metadata.tables)
    try:
        yield load
    finally:
        _forget_db_examples(known)


def _tables(path: Path) -> set[str]:
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        return {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    finally:
        connection.close()


def test_db_models(db_load: Loader) -> None:
    import sqlalchemy as sa

    module = db_load("db_models")
    names = {
        constraint.name
        for model in (module.Project, module.Task)
        for constraint in model.__table__.constraints
    }
    assert names == {"pk_project", "uq_project_name", "pk_task", "fk_task_project_id_project"}
    engine = sa.create_engine("sqlite://")
    try:
        module.Model.metadata.create_all(engine, tables=[module.Project.__table__])
        unique = sa.inspect(engine).get_unique_constraints("project")
        assert [constraint["name"] for constraint in unique] == ["uq_project_name"]
    finally:
        engine.dispose()


def test_db_app(db_load: Loader) -> None:
    app = db_load("db_app").app
    app.extensions["db"].create_all()
    with TestClient(app) as client:
        created = client.post("/tasks", json={"title": "Write"})
        assert created.status_code == 201
        task = {"id": 1, "title": "Write", "done": False, "project": None}
        assert created.json() == task
        assert client.get("/tasks/1").json() == task
        assert client.get("/tasks/99").json() == {"detail": "Task not found"}
        assert client.post("/tasks/1/done").json()["done"] is True
        assert client.get("/tasks/1").json()["done"] is True  # committed
        assert client.post("/tasks/1/done").status_code == 404  # already done
        for number in range(2, 46):
            client.post("/tasks", json={"title": f"Task {number}"})
        second = client.get("/tasks?page=2&size=20").json()
        assert (second["total"], second["page"], second["pages"]) == (45, 2, 3)
        assert [item["id"] for item in second["items"]] == list(range(21, 41))
        assert client.get("/tasks?page=9").status_code == 404
        assert client.get("/tasks?size=0").status_code == 400
        assert len(client.get("/tasks?size=1000").json()["items"]) == 45  # capped at 100
        seen: list[int] = []
        url = "/api/tasks?size=20"
        while True:
            feed = client.get(url).json()
            seen += [item["id"] for item in feed["items"]]
            if feed["next"] is None:
                break
            url = f"/api/tasks?size=20&after={feed['next']}"
        assert seen == list(range(1, 46))
        assert client.get("/api/tasks?after=not-a-cursor").status_code == 400
        assert client.post("/projects?name=docs").status_code == 201
        duplicate = client.post("/projects?name=docs")
        assert duplicate.status_code == 409
        assert duplicate.json()["detail"].startswith(
            "Conflict: a record with this value already exists"
        )
        orphan = client.post("/tasks", json={"title": "x", "project": 999})
        assert orphan.status_code == 409
        assert "refers to a record that does not exist" in orphan.json()["detail"]
        assert client.post("/tasks", json={"title": "y", "project": 1}).status_code == 201


def test_db_app_database_down(
    db_load: Loader, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OAKLING_DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    app = db_load("db_app").app
    with TestClient(app) as client:
        for response in (client.get("/tasks"), client.get("/tasks/1")):  # sync and async
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            assert response.json()["detail"].startswith("Database unavailable")


def test_db_app_migrations(db_load: Loader, tmp_path: Path) -> None:
    def run(*args: str) -> str:
        result = CliRunner().invoke(main, ["db", "--app", "db_app:app", *args])
        assert result.exit_code == 0, result.output
        return result.output

    sys.path.insert(0, str(EXAMPLES))
    try:
        run("init")
        created = run("makemigrations", "-m", "initial")
        assert created.startswith("Created ")
        assert created.endswith("/migrations/versions/0001_initial.py\n")
        assert run("migrate") == "Applying 0001_initial... OK\n"
        assert run("current") == "0001_initial\n"
        assert run("check") == "No changes detected: models and database match\n"
        assert run("makemigrations") == "No changes detected\n"
        assert run("history") == "0001_initial (head)  initial\n"
        assert {"project", "task", "alembic_version"} <= _tables(tmp_path / "docs.db")
        assert run("downgrade") == "Reverting 0001_initial... OK\n"
        left = _tables(tmp_path / "docs.db")
        # NOTE: other models imported in this process (the demo's) share Model.metadata.
        assert "alembic_version" in left and not {"project", "task"} & left
    finally:
        sys.path.remove(str(EXAMPLES))


def test_db_transactions(db_load: Loader) -> None:
    from sqlalchemy import select

    module = db_load("db_transactions")
    database = module.app.extensions["db"]
    database.create_all()
    task = sys.modules["db_models"].Task

    def titles() -> list[str]:
        with database.session() as session:
            return list(session.scalars(select(task.title).order_by(task.id)))

    with TestClient(module.app) as client:
        assert client.post("/tasks/fail").status_code == 400
        assert client.post("/tasks/upstream").status_code == 502
        assert titles() == []  # both rolled back
        imported = client.post("/tasks/import?titles=a&titles=orphan&titles=b")
        assert imported.json() == {"imported": ["a", "b"], "skipped": ["orphan"]}
        assert titles() == ["a", "b"]
        assert client.post("/tasks/batch?count=250").json() == {"added": 250}
        assert len(titles()) == 252


def test_db_binds(db_load: Loader, tmp_path: Path) -> None:
    module = db_load("db_binds")
    module.db.create_all()
    with TestClient(module.app) as client:
        assert client.get("/stats/home").json() == {"views": 1, "tasks": 0}
        assert client.get("/stats/home").json() == {"views": 2, "tasks": 0}
        assert client.get("/stats/about").json() == {"views": 1, "tasks": 0}
    assert {"project", "task"} <= _tables(tmp_path / "main.db")
    assert "page_view" not in _tables(tmp_path / "main.db")
    assert "page_view" in _tables(tmp_path / "analytics.db")


def test_db_test_tasks_pass_under_pytest(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "OAKLING_DATABASE_URL": f"sqlite:///{tmp_path / 'tests.db'}"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(EXAMPLES / "db_test_tasks.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_requests_globals(load: Loader) -> None:
    module = load("requests_globals")
    with TestClient(module.app) as client:
        assert client.get("/", params={"name": "ann"}).text == "Hello, ANN!"
        assert client.get("/").text == "Hello, WORLD!"


def test_signals_app(load: Loader, caplog: pytest.LogCaptureFixture) -> None:
    module = load("signals_app")
    try:
        with caplog.at_level(logging.INFO, logger="tasks.audit"):
            with TestClient(module.app, raise_server_exceptions=False) as client:
                assert client.post("/notes", params={"text": "oak"}).json() == {"added": "oak"}
                assert client.post("/notes").status_code == 500
        assert module.INDEXED == ["oak"]  # the rolled-back note was never indexed
        assert "POST /notes -> 200" in caplog.text and "POST /notes -> 500" in caplog.text
    finally:
        module.post_save.disconnect(module.index_note)
        module.request_finished.disconnect(module.log_status)
        module.database.sync_engine().dispose()
        from oakling.db import Model

        Model.metadata.remove(module.Note.__table__)


# -- from-flask.md ------------------------------------------------------------------


def test_from_flask_port(db_load: Loader) -> None:
    module = db_load("from_flask_port")
    app = module.create_app()
    app.extensions["db"].create_all()
    with TestClient(app) as client:
        page = client.get("/")
        assert "<title>Port</title>" in page.text
        assert 'href="/static/css/site.css"' in page.text
        assert 'action="/create"' in page.text
        created = client.post(
            "/create", data={"title": "Hello <b>", "body": "First"}, follow_redirects=False
        )
        assert (created.status_code, created.headers["location"]) == (303, "http://testserver/")
        page = client.get("/").text
        assert '<a href="/1">Hello &lt;b&gt;</a>' in page
        assert client.get("/1").json() == {"title": "Hello <b>", "body": "First"}
        assert client.get("/2").status_code == 404
        assert client.post("/create", data={"body": "no title"}).status_code == 422
        assert client.get(app.url_for("static", filename="css/site.css")).status_code == 200


def test_from_flask_port_cli_command(db_load: Loader, monkeypatch: pytest.MonkeyPatch) -> None:
    # NOTE: db_load's folder, URL and model cleanup; the CLI imports the module itself.
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.delitem(sys.modules, "from_flask_port", raising=False)
    result = CliRunner().invoke(main, ["--app", "from_flask_port:create_app()", "--help"])
    assert "init-db" in result.output, result.output
    result = CliRunner().invoke(main, ["--app", "from_flask_port:create_app()", "init-db"])
    assert result.exit_code == 0, result.output
    assert result.output == "Initialized the database.\n"
    sys.modules.pop("from_flask_port", None)
