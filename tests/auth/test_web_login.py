"""The login and logout pages, attacked through the running app."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
from sqlalchemy import select

from oakling import Request
from oakling.auth import User
from oakling.auth.views import LOGIN_ERROR, is_safe_redirect
from oakling.testing import TestClient
from tests.auth.conftest import WEB_PASSWORD
from tests.conftest import peer_from_header


def _whoami(app: Any) -> None:
    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, Any]:
        user = request.user
        auth = request.auth
        return {
            "user": user.username,
            "authenticated": user.is_authenticated,
            "method": auth.method if auth is not None else None,
        }


def _login(client: TestClient, username: str = "ann", password: str = WEB_PASSWORD, **extra: str):
    return client.post(
        "/auth/login",
        data={"username": username, "password": password, **extra},
        follow_redirects=False,
    )


@pytest.mark.parametrize("web_url", ["sqlite", "postgresql"], indirect=True)
def test_login_sets_the_user_and_changes_the_session_id(make_app: Any, add_user: Any) -> None:
    app = make_app()
    _whoami(app)
    add_user(app)
    with TestClient(app) as client:
        assert client.get("/whoami").json() == {
            "user": "",
            "authenticated": False,
            "method": None,
        }
        # Something in the session before login: a fixation attempt's cookie.
        client.post("/auth/login", data={"username": "ann", "password": "wrong"})
        form = client.get("/auth/login")
        assert form.status_code == 200
        assert 'name="password"' in form.text
        assert form.headers["cache-control"] == "no-cache, no-store, must-revalidate, private"
        client.cookies.set("session", "planted-by-attacker", domain="testserver.local")
        before = client.cookies.get("session")
        assert before == "planted-by-attacker"
        response = _login(client)
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        after = client.cookies.get("session")
        assert after and after != before
        assert client.get("/whoami").json() == {
            "user": "ann",
            "authenticated": True,
            "method": "session",
        }
        # Logout is POST only: a link or an <img> cannot log anyone out.
        assert client.get("/auth/logout").status_code == 405
        out = client.post("/auth/logout", follow_redirects=False)
        assert (out.status_code, out.headers["location"]) == (303, "/")
        assert client.get("/whoami").json()["authenticated"] is False


def test_session_id_changes_even_when_the_session_had_data(make_app: Any, add_user: Any) -> None:
    app = make_app()
    add_user(app)

    @app.get("/visit")
    def visit(request: Request) -> dict[str, int]:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return {"visits": request.session["visits"]}

    with TestClient(app) as client:
        client.get("/visit")
        before = client.cookies.get("session")
        assert before
        _login(client)
        after = client.cookies.get("session")
        assert after != before
        assert client.get("/visit").json() == {"visits": 2}  # data kept, id changed


def test_unknown_user_and_wrong_password_look_the_same(make_app: Any, add_user: Any) -> None:
    app = make_app(throttle_account="1000 per minute", throttle_ip="1000 per minute")
    add_user(app, "ann")
    with TestClient(app) as client:
        wrong = _login(client, "ann", "not the password")
        unknown = _login(client, "bob", "not the password")
        inactive_id = add_user(app, "cid")
        with app.extensions["db"].session() as session:
            session.get(User, inactive_id).is_active = False
            session.commit()
        inactive = _login(client, "cid", WEB_PASSWORD)
        assert wrong.status_code == unknown.status_code == inactive.status_code == 400
        assert LOGIN_ERROR in wrong.text
        # The bodies differ only by the echoed username.
        assert wrong.text.replace("ann", "X") == unknown.text.replace("bob", "X")
        assert wrong.text.replace("ann", "X") == inactive.text.replace("cid", "X")
        assert wrong.headers.get("set-cookie") == unknown.headers.get("set-cookie")

        def timed(username: str) -> float:
            started = time.perf_counter()
            _login(client, username, "not the password")
            return time.perf_counter() - started

        timed("ann")  # warm up
        # Interleaved, so a burst of load on a shared machine slows both alike.
        pairs = [(timed("ann"), timed("ghost")) for _ in range(5)]
        known = statistics.median(pair[0] for pair in pairs)
        ghost = statistics.median(pair[1] for pair in pairs)
        assert 0.5 <= known / ghost <= 2.0, pairs


def test_eleventh_wrong_password_is_throttled_even_when_right(make_app: Any, add_user: Any) -> None:
    app = make_app()
    _whoami(app)
    add_user(app)
    with TestClient(app) as client:
        for _ in range(10):
            assert _login(client, "ann", "guess").status_code == 400
        # Look-alike spellings share the account's counter.
        blocked = _login(client, "ANN", WEB_PASSWORD)
        assert blocked.status_code == 429
        assert (
            "Too many failed login attempts for this account. Try again in 15 minutes."
            in blocked.text
        )
        assert 890 <= int(blocked.headers["retry-after"]) <= 900
        assert client.get("/whoami").json()["authenticated"] is False
        # Another account from the same address is not blocked by this one.
        add_user(app, "bob")
        assert _login(client, "bob", WEB_PASSWORD).status_code == 303


def test_success_clears_the_account_counter(make_app: Any, add_user: Any) -> None:
    app = make_app(throttle_account="3 per 15 minutes")
    add_user(app)
    with TestClient(app) as client:
        for _ in range(2):
            assert _login(client, "ann", "guess").status_code == 400
        assert _login(client).status_code == 303
        for _ in range(2):
            assert _login(client, "ann", "guess").status_code == 400
        assert _login(client).status_code == 303  # 5 attempts, never 3 failures in a row


def test_per_ip_limit(make_app: Any, add_user: Any) -> None:
    app = make_app(throttle_ip="5 per 15 minutes")
    add_user(app)
    # One client (one event loop, so one set of memory counters), two addresses.
    with TestClient(peer_from_header(app)) as client:
        client.headers["X-Peer"] = "203.0.113.7"
        for number in range(5):
            assert _login(client, f"user{number}", "guess").status_code == 400
        blocked = _login(client)  # even the right password of another account
        assert blocked.status_code == 429
        assert "from your network address" in blocked.text
        assert int(blocked.headers["retry-after"]) > 0
        client.headers["X-Peer"] = "198.51.100.2"
        assert _login(client).status_code == 303


def test_throttle_on_redis(make_app: Any, add_user: Any, redis_url: str) -> None:
    import uuid

    import redis

    url = redis_url
    app = make_app(throttle_storage=url, throttle_account="3 per 15 minutes")
    username = f"r{uuid.uuid4().hex[:10]}"  # runs sharing the server don't collide
    add_user(app, username)
    try:
        with TestClient(app) as client:
            for _ in range(3):
                assert _login(client, username, "guess").status_code == 400
            assert _login(client, username, WEB_PASSWORD).status_code == 429
        keys = redis.Redis.from_url(url).keys("LIMITS:LIMITER/oakling-login/account/*")
        assert keys  # the counters live in Redis, shared by every worker
    finally:
        import asyncio

        throttle = app.extensions["auth"].throttle

        async def clean() -> None:
            await throttle.reset(username, ip="testclient")  # the TestClient's address
            await throttle.close()

        asyncio.run(clean())


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        " https://evil.example",
        "http:/evil.example",
        "///evil.example",
        "/%0a/evil",
    ],
)
def test_next_never_leaves_the_site(make_app: Any, add_user: Any, target: str) -> None:
    app = make_app()
    add_user(app)
    with TestClient(app) as client:
        response = _login(client, next=target)
        assert response.status_code == 303
        location = response.headers["location"]
        if target == "/%0a/evil":
            # A percent-encoded path is a path on this site.
            assert location.startswith("/%")
        else:
            assert location == "/", location
        # Through the query string (the login_required redirect's form) too.
        client.post("/auth/logout")
        response = client.post(
            "/auth/login?next=" + target.replace("\t", "%09"),
            data={"username": "ann", "password": WEB_PASSWORD},
            follow_redirects=False,
        )
        assert response.headers["location"] in ("/", "/%0a/evil")


def test_next_on_the_site_is_followed(make_app: Any, add_user: Any) -> None:
    app = make_app()
    add_user(app)
    with TestClient(app) as client:
        response = _login(client, next="/tasks?page=2")
        assert response.headers["location"] == "/tasks?page=2"
        client.post("/auth/logout")
        form = client.get("/auth/login?next=/tasks")
        assert 'name="next" value="/tasks"' in form.text


def test_is_safe_redirect() -> None:
    assert is_safe_redirect("/a/b?c=d#e")
    for bad in ("", "a/b", "//x", "/\\x", "https://x", "/\x00", "/\x7f", "/" + "a" * 3000):
        assert not is_safe_redirect(bad), bad


def test_echoed_username_is_escaped(make_app: Any) -> None:
    app = make_app()
    with TestClient(app) as client:
        response = _login(client, '"><script>alert(1)</script>', "x")
        assert "<script>alert(1)</script>" not in response.text
        assert "&lt;script&gt;" in response.text


def test_tampered_session_cookie_is_anonymous(make_app: Any, add_user: Any) -> None:
    app = make_app()
    _whoami(app)
    add_user(app)
    with TestClient(app) as client:
        _login(client)
        cookie = client.cookies.get("session")
        assert cookie
    for forged in (cookie[:-3] + "abc", "garbage", cookie + "x", "a" * 5000, '%C3%A9"x'):
        with TestClient(app, cookies={"session": forged}) as attacker:
            response = attacker.get("/whoami")
            assert response.status_code == 200
            assert response.json()["authenticated"] is False


def test_forged_session_contents_are_anonymous(make_app: Any, add_user: Any) -> None:
    """A session holding a user id but no valid hash (a server-side leak) logs nobody in."""
    app = make_app()
    _whoami(app)
    user_id = add_user(app)

    @app.post("/plant")
    def plant(request: Request, value: str = "") -> None:
        request.session["_auth_user_id"] = user_id
        request.session["_auth_user_hash"] = value

    @app.post("/plant-id")
    def plant_id(request: Request) -> None:
        request.session["_auth_user_id"] = "not-an-id"
        request.session["_auth_user_hash"] = "x"

    with TestClient(app) as client:
        client.post("/plant?value=0000")
        assert client.get("/whoami").json()["authenticated"] is False
        client.post("/plant-id")
        assert client.get("/whoami").json()["authenticated"] is False


def test_django_pbkdf2_user_logs_in_and_is_upgraded(
    make_app: Any, add_user: Any, django_hashers: Any
) -> None:
    app = make_app()
    _whoami(app)
    user_id = add_user(app, "dj")
    django_hash = django_hashers.make_password("s3cret-from-django", hasher="pbkdf2_sha256")
    assert django_hash.startswith("pbkdf2_sha256$")
    database = app.extensions["db"]
    with database.session() as session:
        session.get(User, user_id).password = django_hash
        session.commit()
    with TestClient(app) as client:
        assert _login(client, "dj", "s3cret-from-django").status_code == 303
        assert client.get("/whoami").json()["user"] == "dj"
    with database.session() as session:
        stored = session.scalar(select(User.password).where(User.id == user_id))
    assert "$argon2id$" in stored and not stored.startswith("pbkdf2")
    with TestClient(app) as client:  # the new hash works, and the session is checked against it
        assert _login(client, "dj", "s3cret-from-django").status_code == 303
        assert client.get("/whoami").json()["user"] == "dj"


def test_huge_password_is_refused_without_hashing(make_app: Any, add_user: Any) -> None:
    app = make_app()
    add_user(app)
    with TestClient(app) as client:
        started = time.perf_counter()
        response = _login(client, "ann", "x" * 1_000_000)
        assert response.status_code == 400
        assert LOGIN_ERROR in response.text
        assert time.perf_counter() - started < 5


def test_login_form_carries_the_csrf_token_and_login_rotates_it(
    make_app: Any, add_user: Any
) -> None:
    from oakling.csrf import CSRF

    app = make_app(after=(CSRF(),))
    _whoami(app)
    add_user(app)
    with TestClient(app, enforce_csrf_checks=True, fill_csrf_token=False) as client:
        form = client.get("/auth/login")
        assert 'name="csrf_token"' in form.text
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        # Without the token the POST is refused by the csrf battery.
        assert _login(client).status_code == 403
        secret_before = client.cookies.get("session")
        response = _login(client, csrf_token=token)
        assert response.status_code == 303
        assert client.cookies.get("session") != secret_before
        # The token from before login no longer works: it was rotated.
        stale = client.post("/auth/logout", data={"csrf_token": token}, follow_redirects=False)
        assert stale.status_code == 403
        page = client.get("/auth/password/change")
        fresh = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        out = client.post("/auth/logout", data={"csrf_token": fresh}, follow_redirects=False)
        assert out.status_code == 303
        assert client.get("/whoami").json()["authenticated"] is False


def test_sessions_survive_a_secret_key_rotation(make_app: Any, add_user: Any) -> None:
    old_key = "old-secret-key-" + "o" * 40
    app = make_app(settings={"SECRET_KEY": old_key})
    _whoami(app)
    add_user(app)
    with TestClient(app) as client:
        assert _login(client).status_code == 303
        assert client.get("/whoami").json()["user"] == "ann"
        cookie = client.cookies.get("session")
    rotated = make_app(settings={"SECRET_KEY_FALLBACKS": [old_key]})
    _whoami(rotated)
    with TestClient(rotated, cookies={"session": cookie}) as client:
        assert client.get("/whoami").json()["user"] == "ann"  # verified with the fallback
    forgotten = make_app()  # the old key dropped: the session no longer logs in
    _whoami(forgotten)
    with TestClient(forgotten, cookies={"session": cookie}) as client:
        assert client.get("/whoami").json()["authenticated"] is False
