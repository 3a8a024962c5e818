"""Attacks on the Tasks demo: issue 4's "done when" list, run against the real app.

Each test builds the demo (``create_app``) on a fresh SQLite file, with every
security battery installed as the demo installs them, and attacks it through
HTTP the way a hostile site, a thief of cookies or a curious user would. The
tests of one user reaching another user's tasks also run on PostgreSQL
(skipped when it is unreachable, except in CI).
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import itsdangerous
import pytest
from sqlalchemy import text

from examples.tasks.app import create_app
from oakling.auth import User
from oakling.auth.services import create_user_sync
from oakling.auth.tokens import create_token_sync
from oakling.testing import TestClient
from tests.examples.accounts import PASSWORD, csrf_from, demo_with_users, login, make_user
from tests.examples.test_tasks_database import PG_URL, demo_database, skip_or_fail, unreachable

LOGIN_ERROR = "Please enter a correct username and password."


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tasks.db'}"


@pytest.fixture
def app(database_url: str) -> Iterator[Any]:
    """The demo, started (so migrated), with users "ann" and "bob"."""
    yield from demo_with_users(database_url, "ann", "bob")


def browser(app: Any, username: str | None = None) -> TestClient:
    """Return a client (a browser) of the running ``app``, logged in as ``username``.

    The client does not send the CSRF token on its own: attacks post without
    it; honest requests add it (``honest(client)``).
    """
    client = TestClient(
        app, follow_redirects=False, enforce_csrf_checks=True, fill_csrf_token=False
    )
    if username is not None:
        assert login(client, username).status_code == 303
        client.headers.pop("x-csrftoken")
    return client


def honest(client: TestClient) -> dict[str, str]:
    """Return the header a page of the site would add: a CSRF token of the session."""
    return {"x-csrftoken": csrf_from(client.get("/").text)}


def task_rows(app: Any) -> list[tuple[Any, ...]]:
    with app.extensions["db"].sync_engine().connect() as connection:
        rows = connection.execute(
            text("SELECT id, title, completed, owner_id FROM tasks_task ORDER BY id")
        )
        return [tuple(row) for row in rows]


# -- CSRF -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/tasks", {"data": {"title": "Forged"}}),
        # <form enctype="text/plain"> needs no preflight: still checked.
        ("POST", "/tasks", {"content": b"title=Forged", "headers": {"content-type": "text/plain"}}),
        ("POST", "/api/tasks", {"json": {"title": "Forged"}}),
        ("POST", "/tasks/1/delete", {}),
        ("POST", "/tasks/1/toggle", {}),
        ("DELETE", "/api/tasks/1", {}),
        ("POST", "/tokens", {"data": {"name": "stolen"}}),
        ("POST", "/auth/logout", {}),
    ],
)
def test_a_cross_site_post_without_a_token_is_refused(
    app: Any, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    ann = browser(app, "ann")
    ann.post("/api/tasks", json={"title": "Mine"}, headers=honest(ann))
    before = task_rows(app)
    response = ann.request(method, path, **kwargs)
    assert response.status_code == 403
    assert "CSRF token missing" in response.text
    assert task_rows(app) == before  # nothing changed
    assert "oak_" not in response.text  # no token was made
    assert ann.get("/").status_code == 200  # still logged in


def test_a_token_from_another_session_is_refused(app: Any) -> None:
    ann, bob = browser(app, "ann"), browser(app, "bob")
    bobs_token = csrf_from(bob.get("/").text)  # valid, but for Bob's session
    response = ann.post("/tasks", data={"title": "Forged", "csrf_token": bobs_token})
    assert response.status_code == 403
    assert "CSRF token incorrect." in response.text
    response = ann.post("/api/tasks", json={"title": "Forged"}, headers={"x-csrftoken": bobs_token})
    assert response.status_code == 403
    # A token from Ann's own session before she logged in is void too (rotated).
    anonymous = browser(app)
    early = csrf_from(anonymous.get("/auth/login").text)
    assert login(anonymous, "ann").status_code == 303
    anonymous.headers.pop("x-csrftoken")
    assert anonymous.post("/tasks", data={"title": "x", "csrf_token": early}).status_code == 403
    assert task_rows(app) == []
    # The control: her own current token works.
    assert ann.post("/tasks", data={"title": "Mine"}, headers=honest(ann)).status_code == 303


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://evil.example"},
        {"origin": "https://testserver"},  # another scheme is another origin
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
    ],
)
def test_a_post_from_another_origin_is_refused_even_with_a_token(
    app: Any, headers: dict[str, str]
) -> None:
    ann = browser(app, "ann")
    sent = {**honest(ann), **headers}
    response = ann.post("/tasks", data={"title": "Forged"}, headers=sent)
    assert response.status_code == 403
    assert "Origin checking failed" in response.text or "Cross-site" in response.text
    response = ann.post("/api/tasks", json={"title": "Forged"}, headers=sent)
    assert response.status_code == 403
    assert task_rows(app) == []
    # The control: the site's own origin passes.
    same = {**honest(ann), "origin": "http://testserver", "sec-fetch-site": "same-origin"}
    assert ann.post("/tasks", data={"title": "Mine"}, headers=same).status_code == 303


# -- the session cookie -----------------------------------------------------------------


def _forge(payload: dict[str, Any]) -> str:
    """Sign ``payload`` as the cookie backend does, with a key that is not the app's."""
    return itsdangerous.URLSafeTimedSerializer("attacker-key-" + "z" * 40).dumps(payload)


def test_a_tampered_or_forged_session_cookie_is_anonymous_never_a_500(app: Any) -> None:
    ann = browser(app, "ann")
    cookie = ann.cookies["session"]
    with app.extensions["db"].session() as db:
        bob_id = db.execute(text("SELECT id FROM auth_user WHERE username = 'bob'")).scalar()
    body, _, signature = cookie.rpartition(".")
    # The signature's first character: every bit of it is signature data. (The last
    # character of unpadded base64 carries spare bits, so changing "A" to "B" there can
    # leave the decoded signature, and so the cookie, valid.)
    flipped = body + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    forged_payload = {"_auth_user_id": bob_id, "_auth_user_hash": "0" * 64}
    attacks = [
        flipped,  # one character of the signature changed
        cookie[:-6],  # truncated
        body + "." + signature[::-1],  # another signature
        _forge(forged_payload),  # signed with the wrong key
        _forge({"_auth_user_id": "1 OR 1=1"}),
        "garbage",
        "." * 200,
        "%00%ff",
        cookie + "x" * 3000,
    ]
    for attack in attacks:
        thief = TestClient(
            app,
            follow_redirects=False,
            enforce_csrf_checks=True,
            fill_csrf_token=False,
            cookies={"session": attack},
        )
        page = thief.get("/")
        assert page.status_code == 302, attack
        assert page.headers["location"].startswith("/auth/login?next=")
        api = thief.get("/api/tasks")
        assert api.status_code == 401, attack
        assert api.json()["detail"].startswith("Authentication required")
        assert thief.post("/tasks", data={"title": "x"}).status_code == 403
        assert thief.get("/auth/login").status_code == 200
        thief.close()
    assert task_rows(app) == []


def test_the_session_cookie_changes_at_login(app: Any) -> None:
    client = browser(app)
    client.get("/auth/login")  # the login form's token starts a session
    before = client.cookies["session"]
    assert login(client, "ann").status_code == 303
    after = client.cookies["session"]
    assert after != before
    # Session fixation: the cookie from before the login is not logged in.
    planted = TestClient(
        app,
        follow_redirects=False,
        enforce_csrf_checks=True,
        fill_csrf_token=False,
        cookies={"session": before},
    )
    assert planted.get("/").status_code == 302
    planted.close()
    # The logged-in cookie works; it is HttpOnly and SameSite=Lax.
    response = client.post("/tasks", data={"title": "x"}, headers=honest(client))
    assert response.status_code == 303
    page = browser(app).get("/auth/login")
    set_cookie = page.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie


# -- the login form ------------------------------------------------------------------------


def _post_login(client: TestClient, username: str, password: str) -> tuple[Any, float]:
    token = csrf_from(client.get("/auth/login").text)
    start = time.perf_counter()
    response = client.post(
        "/auth/login", data={"csrf_token": token, "username": username, "password": password}
    )
    return response, time.perf_counter() - start


def _answer(response: Any, username: str) -> tuple[int, str]:
    """Return the response's status and body, minus what differs by design.

    The masked CSRF token differs in every response (BREACH); the form keeps
    what was typed as the username.
    """
    body = re.sub(r'name="csrf_token" value="[A-Za-z0-9]+"', "TOKEN", response.text)
    return response.status_code, body.replace(f'value="{username}"', 'value="USERNAME"')


def test_an_unknown_user_and_a_wrong_password_look_the_same(app: Any) -> None:
    client = browser(app)
    unknown_times, wrong_times = [], []
    answers = set()
    for _ in range(5):
        response, took = _post_login(client, "nobody-here", "Wrong-password-1")
        answers.add(_answer(response, "nobody-here"))
        unknown_times.append(took)
        response, took = _post_login(client, "ann", "Wrong-password-1")
        answers.add(_answer(response, "ann"))
        wrong_times.append(took)
    assert len(answers) == 1  # the same status and page, byte for byte
    ((status, body),) = answers
    assert status == 400
    assert LOGIN_ERROR in body
    ratio = statistics.median(unknown_times) / statistics.median(wrong_times)
    assert 0.5 <= ratio <= 2.0, (unknown_times, wrong_times)


def test_the_eleventh_rapid_wrong_password_is_throttled(app: Any) -> None:
    client = browser(app)
    for attempt in range(10):
        response, _ = _post_login(client, "ann", f"Wrong-password-{attempt}")
        assert response.status_code == 400, attempt
    response, _ = _post_login(client, "ann", "Wrong-password-10")
    assert response.status_code == 429
    assert "Too many failed login attempts for this account." in response.text
    assert int(response.headers["retry-after"]) > 0
    # Throttled means throttled: even the right password waits.
    response, _ = _post_login(client, "ann", PASSWORD)
    assert response.status_code == 429
    assert client.get("/").status_code == 302
    # Another account is not locked by attacks on Ann's.
    assert login(browser(app), "bob").status_code == 303


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example",
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "http://testserver.evil.example/",
    ],
)
def test_next_after_login_stays_on_the_site(app: Any, next_url: str) -> None:
    client = browser(app)
    # Through the query string, as login_required's redirect passes it...
    page = client.get("/auth/login", params={"next": next_url})
    token = csrf_from(page.text)
    response = client.post(
        "/auth/login",
        params={"next": next_url},
        data={"csrf_token": token, "username": "ann", "password": PASSWORD, "next": next_url},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    # ...and the control: a path on the site is followed.
    other = browser(app)
    assert login(other, "bob", next_url="/?from=login").headers["location"] == "/?from=login"


def test_a_title_with_a_script_is_escaped(app: Any) -> None:
    ann = browser(app, "ann")
    ann.post("/tasks", data={"title": "<script>alert(1)</script>"}, headers=honest(ann))
    page = ann.get("/")
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    # The API sends it as JSON data, never as HTML.
    api = ann.get("/api/tasks")
    assert api.headers["content-type"].startswith("application/json")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.json()[0]["title"] == "<script>alert(1)</script>"


def test_a_forged_host_cannot_poison_a_password_reset_link(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oakling.mail import outbox

    monkeypatch.setenv("OAKLING_EMAIL_BACKEND", "memory")
    monkeypatch.delenv("OAKLING_ALLOWED_HOSTS", raising=False)
    app = create_app(database_url)
    with TestClient(
        app, follow_redirects=False, enforce_csrf_checks=True, fill_csrf_token=False
    ) as client:
        with app.extensions["db"].session() as db:
            create_user_sync(db, "ann", PASSWORD, email="ann@example.com")
            db.commit()
        outbox.clear()

        def ask(headers: dict[str, str]) -> Any:
            token = csrf_from(client.get("/auth/password/reset").text)
            data = {"csrf_token": token, "email": "ann@example.com"}
            return client.post("/auth/password/reset", data=data, headers=headers)

        # A Host the site does not serve: refused before any view runs.
        for host in ("evil.example", "testserver.evil.example", "evil.example:80"):
            assert ask({"host": host}).status_code == 400
        assert outbox == []
        # Proxy headers are not trusted for the link's host.
        response = ask({"x-forwarded-host": "evil.example", "forwarded": "host=evil.example"})
        assert response.status_code == 303
        response = ask({"host": "localhost:8000"})  # an allowed name: links name it
        assert response.status_code == 303
        links = [
            re.search(r"^(https?://[^/\s]+)(/auth/password/reset/\S+)$", message.body, re.M)
            for message in list(outbox)
        ]
        assert [link.group(1) for link in links if link] == [
            "http://testserver",
            "http://localhost:8000",
        ]
        # The link works (so the test would see a broken one).
        assert links[0] is not None
        assert client.get(links[0].group(2)).status_code == 302
        outbox.clear()


def _django_hash(password: str) -> str:
    """Return ``password`` hashed by Django's own PBKDF2 hasher."""
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            SECRET_KEY="django-insecure-" + "k" * 40,
            PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"],
        )
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    return PBKDF2PasswordHasher().encode(password, PBKDF2PasswordHasher().salt())


def test_a_django_pbkdf2_hash_logs_in_and_is_upgraded_to_argon2id(app: Any) -> None:
    encoded = _django_hash("moved-from-django-7")
    assert encoded.startswith("pbkdf2_sha256$")
    with app.extensions["db"].session() as db:
        user = create_user_sync(db, "django-user", None)
        db.execute(
            text("UPDATE auth_user SET password = :hash WHERE id = :id"),
            {"hash": encoded, "id": user.id},
        )
        db.commit()
    client = browser(app)
    assert login(client, "django-user", "wrong-password-7").status_code == 400
    assert login(client, "django-user", "moved-from-django-7").status_code == 303
    assert client.get("/").status_code == 200
    with app.extensions["db"].session() as db:
        stored = db.execute(
            text("SELECT password FROM auth_user WHERE username = 'django-user'")
        ).scalar()
    assert stored.startswith("argon2$argon2id$")
    # The new hash works too, and the old one is gone.
    assert login(browser(app), "django-user", "moved-from-django-7").status_code == 303


# -- one user, another user's tasks (SQLite and PostgreSQL) --------------------------------


class Visitors:
    """Several users of one app, taking turns on one test client.

    One client, so one event loop: asyncpg's pooled connections belong to
    the loop that opened them, and each test client runs its own.

    Args:
        client: The started client of the app.
    """

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.identities: dict[str, tuple[dict[str, str], dict[str, str]]] = {}

    def log_in(self, username: str) -> None:
        self.client.cookies.clear()
        assert login(self.client, username).status_code == 303
        token = self.client.headers.pop("x-csrftoken")
        self.identities[username] = (dict(self.client.cookies.items()), {"x-csrftoken": token})

    def be(self, username: str | None) -> dict[str, str]:
        """Switch to ``username``'s cookies (None: none); return their CSRF header."""
        self.client.cookies.clear()
        if username is None:
            return {}
        cookies, headers = self.identities[username]
        for name, value in cookies.items():
            self.client.cookies.set(name, value)
        return headers


@pytest.fixture(params=["sqlite", "postgresql"])
def visitors(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Visitors]:
    """The demo on each backend, with "ann" and "bob" logged in."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tasks.db'}"
        with TestClient(
            create_app(url), follow_redirects=False, enforce_csrf_checks=True, fill_csrf_token=False
        ) as client:
            yield _visitors(client)
        return
    problem = unreachable(PG_URL)
    if problem:
        skip_or_fail(problem)
    with demo_database(PG_URL) as url:
        app = create_app(url)
        try:
            with TestClient(
                app, follow_redirects=False, enforce_csrf_checks=True, fill_csrf_token=False
            ) as client:
                yield _visitors(client)
        finally:
            app.extensions["db"].sync_engine().dispose()


def _visitors(client: TestClient) -> Visitors:
    make_user(client.app, "ann")
    make_user(client.app, "bob")
    users = Visitors(client)
    users.log_in("ann")
    users.log_in("bob")
    return users


def _without_task_id(page: str) -> str:
    return re.sub(r"Task \d+ not found", "Task N not found", page)


def test_a_user_cannot_reach_another_users_task_through_the_pages(visitors: Visitors) -> None:
    client, app = visitors.client, visitors.client.app
    headers = visitors.be("ann")
    assert client.post(
        "/tasks", data={"title": "The secret plan of Ann"}, headers=headers
    ).status_code
    before = task_rows(app)
    ((task_id, _, _, _),) = before
    bob = {**visitors.be("bob"), "accept": "text/html"}
    assert "The secret plan of Ann" not in client.get("/").text
    unknown = client.post("/tasks/999999/toggle", headers=bob)
    for action in ("toggle", "delete"):
        response = client.post(f"/tasks/{task_id}/{action}", headers=bob)
        assert response.status_code == 404  # not 403: the id does not leak
        assert _without_task_id(response.text) == _without_task_id(unknown.text)
    assert task_rows(app) == before
    visitors.be("ann")
    assert "The secret plan of Ann" in client.get("/").text


def test_a_user_cannot_reach_another_users_task_through_the_api(visitors: Visitors) -> None:
    client, app = visitors.client, visitors.client.app
    created = client.post("/api/tasks", json={"title": "Ann's"}, headers=visitors.be("ann")).json()
    task_id = created["id"]
    before = task_rows(app)
    with app.extensions["db"].session() as db:
        bob_id = db.execute(text("SELECT id FROM auth_user WHERE username = 'bob'")).scalar()
        bob_user = db.get(User, bob_id)
        assert bob_user is not None
        _, bob_token = create_token_sync(
            db, bob_user, name="t", scopes=["tasks:read", "tasks:write"]
        )
        db.commit()
    for identity in ("session", "token"):
        if identity == "session":
            headers = visitors.be("bob")
        else:
            visitors.be(None)
            headers = {"authorization": f"Bearer {bob_token}"}
        assert client.get("/api/tasks", headers=headers).json() == []
        for method, body in (
            ("GET", None),
            ("PATCH", {"title": "Bob's now"}),
            ("PATCH", {"completed": True}),
            ("DELETE", None),
        ):
            response = client.request(method, f"/api/tasks/{task_id}", json=body, headers=headers)
            assert response.status_code == 404, (identity, method, response.text)
            assert response.json() == {"detail": f"Task {task_id} not found"}
    assert task_rows(app) == before
    visitors.be("ann")
    assert client.get(f"/api/tasks/{task_id}").json() == created
