"""Flask's tutorial tests (flaskr), ported: no CSRF tokens, no plumbing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from flaskr_app import create_app, init_db
from werkzeug.security import generate_password_hash

from oakling import App
from oakling.testing import TestClient


@pytest.fixture
def app(tmp_path: Path) -> App:
    path = str(tmp_path / "flaskr.sqlite")
    init_db(path)
    with sqlite3.connect(path) as db:
        # NOTE: a cheap hash keeps the tests fast; the app uses werkzeug's default.
        for name, password in (("test", "test"), ("other", "other")):
            db.execute(
                "INSERT INTO user (username, password) VALUES (?, ?)",
                (name, generate_password_hash(password, method="pbkdf2:sha256:1000")),
            )
        db.execute(
            "INSERT INTO post (title, body, author_id, created)"
            " VALUES ('test title', 'test' || x'0a' || 'body', 1, '2018-01-01 00:00:00')"
        )
    return create_app(path)


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    # NOTE: Flask's client does not follow redirects; the tests assert on them.
    with TestClient(app, follow_redirects=False) as client:
        yield client


class AuthActions:
    def __init__(self, client: TestClient) -> None:
        self._client = client

    def login(self, username: str = "test", password: str = "test") -> object:
        return self._client.post("/auth/login", data={"username": username, "password": password})

    def logout(self) -> object:
        return self._client.get("/auth/logout")


@pytest.fixture
def auth(client: TestClient) -> AuthActions:
    return AuthActions(client)


def _db(app: App) -> sqlite3.Connection:
    return sqlite3.connect(app.state.database)


def test_register(client: TestClient, app: App) -> None:
    assert client.get("/auth/register").status_code == 200
    response = client.post("/auth/register", data={"username": "a", "password": "a"})
    assert response.headers["location"] == "/auth/login"
    with _db(app) as db:
        assert db.execute("SELECT * FROM user WHERE username = 'a'").fetchone() is not None


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("", "", "Username is required."),
        ("a", "", "Password is required."),
        ("test", "test", "already registered"),
    ],
)
def test_register_validate_input(
    client: TestClient, username: str, password: str, message: str
) -> None:
    response = client.post("/auth/register", data={"username": username, "password": password})
    assert message in response.text
    assert 'class="flash error" role="status"' in response.text


def test_login(client: TestClient, auth: AuthActions) -> None:
    assert client.get("/auth/login").status_code == 200
    response = auth.login()
    assert response.headers["location"] == "/"  # type: ignore[attr-defined]
    page = client.get("/")
    assert "<span>test</span>" in page.text  # g.user in the template
    assert "Log Out" in page.text


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [("a", "test", "Incorrect username."), ("test", "a", "Incorrect password.")],
)
def test_login_validate_input(
    auth: AuthActions, username: str, password: str, message: str
) -> None:
    response = auth.login(username, password)
    assert message in response.text  # type: ignore[attr-defined]


def test_logout(client: TestClient, auth: AuthActions) -> None:
    auth.login()
    auth.logout()
    assert "Log In" in client.get("/").text


def test_index(client: TestClient, auth: AuthActions) -> None:
    response = client.get("/")
    assert "Log In" in response.text and "Register" in response.text
    auth.login()
    response = client.get("/")
    assert "Log Out" in response.text
    assert "test title" in response.text
    assert "by test" in response.text
    assert "test\nbody" in response.text


@pytest.mark.parametrize("path", ["/create", "/1/update", "/1/delete"])
def test_login_required(client: TestClient, path: str) -> None:
    method = client.get if path == "/create" else client.post
    response = method(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/login"


def test_author_required(app: App, client: TestClient, auth: AuthActions) -> None:
    with _db(app) as db:
        db.execute("UPDATE post SET author_id = 2 WHERE id = 1")
    auth.login()
    assert client.post("/1/update", data={"title": "x"}).status_code == 403
    assert client.post("/1/delete").status_code == 403
    assert "test title" in client.get("/").text


def test_exists_required(client: TestClient, auth: AuthActions) -> None:
    auth.login()
    assert client.post("/2/update", data={"title": "x"}).status_code == 404
    assert client.post("/2/delete").status_code == 404


def test_create_flashes_and_redirects(client: TestClient, auth: AuthActions, app: App) -> None:
    auth.login()
    assert client.get("/create").status_code == 200
    response = client.post("/create", data={"title": "created", "body": ""})
    assert response.status_code == 303
    page = client.get("/")
    assert '<div class="flash message" role="status">Posted created.</div>' in page.text
    assert "Posted created." not in client.get("/").text  # shown once
    with _db(app) as db:
        assert db.execute("SELECT COUNT(id) FROM post").fetchone()[0] == 2


def test_update(client: TestClient, auth: AuthActions, app: App) -> None:
    auth.login()
    client.post("/1/update", data={"title": "updated", "body": ""})
    with _db(app) as db:
        assert db.execute("SELECT title FROM post WHERE id = 1").fetchone()[0] == "updated"


def test_create_update_validate(client: TestClient, auth: AuthActions) -> None:
    auth.login()
    assert "Title is required." in client.post("/create", data={"title": ""}).text
    client.post("/1/update", data={"title": ""})
    assert "Title is required." in client.get("/").text


def test_delete(client: TestClient, auth: AuthActions, app: App) -> None:
    auth.login()
    response = client.post("/1/delete")
    assert response.headers["location"] == "/"
    with _db(app) as db:
        assert db.execute("SELECT * FROM post WHERE id = 1").fetchone() is None


def test_flashed_messages_are_escaped(client: TestClient) -> None:
    response = client.post(
        "/auth/register", data={"username": "<script>x</script>", "password": ""}
    )
    assert "<script>x</script>" not in response.text


def test_csrf_stays_on_outside_tests(app: App) -> None:
    """The same app refuses a tokenless post from a client that enforces the checks."""
    with TestClient(app, enforce_csrf_checks=True, fill_csrf_token=False) as client:
        response = client.post("/auth/login", data={"username": "test", "password": "test"})
    assert response.status_code == 403


def test_one_connection_per_request_closed_after_it(app: App, client: TestClient) -> None:
    opened: list[_Tracked] = []
    real_connect = sqlite3.connect

    def spy(*args: object, **kwargs: object) -> sqlite3.Connection:
        # NOTE: the connection belongs to the request's thread (sqlite3's
        # check_same_thread); it records its own close.
        connection = real_connect(*args, factory=_Tracked, **kwargs)  # type: ignore[arg-type, call-overload]
        opened.append(connection)
        return connection

    import flaskr_app

    original = flaskr_app.sqlite3.connect
    flaskr_app.sqlite3.connect = spy  # type: ignore[assignment]
    try:
        AuthActions(client).login()
        client.get("/")
    finally:
        flaskr_app.sqlite3.connect = original  # type: ignore[assignment]
    assert len(opened) == 2
    assert [connection.closed for connection in opened] == [True, True]


class _Tracked(sqlite3.Connection):
    """A connection that remembers being closed."""

    closed = False

    def close(self) -> None:
        super().close()
        self.closed = True
