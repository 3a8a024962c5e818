"""Sign-up and password-reset throttles, attacked through the running app."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import make_url, select

from oakling import App, Request
from oakling.auth import Auth, PasswordResetThrottle, SignupThrottle, User
from oakling.config import Settings
from oakling.db import Database, Model
from oakling.exceptions import ImproperlyConfigured
from oakling.mail import outbox
from oakling.sessions import Sessions
from oakling.testing import AsyncClient, TestClient
from tests.auth.conftest import AUTH_TABLES
from tests.conftest import peer_from_header, skip_or_fail

MARIADB_URL = os.environ.get("OAKLING_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")

PASSWORD = "a brand new passphrase 42"
RESET_REFUSED = (
    "Too many password reset requests from your network address. Try again in 60 minutes."
)
SIGNUP_REFUSED = (
    "Too many accounts were created from your network address. Try again in 60 minutes."
)


@pytest.fixture(autouse=True)
def _empty_outbox(outbox: list[Any]) -> None:
    """Every test here counts mails."""


def _reset(client: Any, email: str, peer: str = "192.0.2.1") -> Any:
    return client.post(
        "/auth/password/reset",
        data={"email": email},
        headers={"X-Peer": peer},
        follow_redirects=False,
    )


def _answer(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    return response.status_code, response.headers.multi_items(), response.content


def _signup(client: Any, username: str, peer: str = "192.0.2.1", **fields: str) -> Any:
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD, **fields}
    return client.post("/auth/signup", data=data, headers={"X-Peer": peer}, follow_redirects=False)


def _usernames(app: App) -> list[str]:
    with app.extensions["db"].session() as session:
        return list(session.scalars(select(User.username).order_by(User.id)))


# -- password reset, per address ---------------------------------------------------------


def test_fourth_reset_for_an_address_sends_nothing_and_looks_the_same(
    make_app: Any, add_user: Any
) -> None:
    app = make_app()
    add_user(app, email="ann@example.com")
    with TestClient(peer_from_header(app)) as client:
        first = _reset(client, "ann@example.com")
        assert (first.status_code, first.headers["location"]) == (303, "/auth/password/reset/sent")
        answers = [_answer(first)]
        # Spellings the lookup treats as one address share its counter.
        for spelling in (" ANN@example.com ", "Ann@Example.COM", "ann@example.com"):
            answers.append(_answer(_reset(client, spelling)))
        assert len(outbox) == 3
        assert {message.to for message in outbox} == {("ann@example.com",)}
        # Beyond the cap: the very same answer, and no mail.
        assert answers == [answers[0]] * 4
        # An address without an account is counted and answered the same way,
        # before and beyond its cap: nothing tells the two apart.
        for _ in range(3):
            assert _answer(_reset(client, "nobody@example.com")) == answers[0]
        add_user(app, "nobody", email="nobody@example.com")
        assert _answer(_reset(client, "nobody@example.com")) == answers[0]
        assert len(outbox) == 3  # its three requests were counted before it existed
        # Other addresses are not affected.
        add_user(app, "bob", email="bob@example.com")
        assert _answer(_reset(client, "bob@example.com")) == answers[0]
        assert [message.to for message in outbox][-1] == ("bob@example.com",)


def test_throttle_store_down_after_the_answer_logs_one_line_not_a_traceback(
    make_app: Any, add_user: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from oakling.exceptions import ServiceUnavailable

    async def store_down(self: Any, *args: Any) -> bool:
        raise ServiceUnavailable("Redis")

    app = make_app()
    add_user(app, email="ann@example.com")
    # NOTE: the recipient check runs in the background task, after the answer.
    monkeypatch.setattr(PasswordResetThrottle, "may_mail_recipient", store_down)
    with TestClient(peer_from_header(app), raise_server_exceptions=False) as client:
        assert _reset(client, "ann@example.com").status_code == 303
    assert outbox == []
    lines = [record for record in caplog.records if "reset mail" in record.getMessage()]
    assert [record.levelname for record in lines] == ["WARNING"]
    assert "Redis is unavailable" in lines[0].getMessage()
    assert not any(record.exc_info for record in caplog.records)


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A private MariaDB database with the auth tables (accent-insensitive collation)."""
    import pymysql

    url = make_url(MARIADB_URL)
    try:
        admin = pymysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            autocommit=True,
            connect_timeout=3,
        )
    except pymysql.Error as ex:
        skip_or_fail(f"MariaDB at {MARIADB_URL} unreachable: {ex}")
    name = f"oakling_auth_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    database_url = url.set(database=name).render_as_string(hide_password=False)
    setup = Database(database_url)
    try:
        Model.metadata.create_all(setup.sync_engine(), tables=AUTH_TABLES)
        yield database_url
    finally:
        setup.sync_engine().dispose()
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def test_spellings_the_database_matches_share_the_mailbox_cap(
    mariadb_url: str, add_user: Any
) -> None:
    # MariaDB's collations ignore accents: the lookup finds ann@example.com
    # for "ánn@example.com" too, a spelling with a counter of its own. The
    # mails to the account's own address are capped as well.
    config = Settings(SECRET_KEY="k" * 40, extra={"EMAIL_BACKEND": "memory"})
    app = App(settings=config, plugins=[Database(mariadb_url), Sessions(), Auth()])
    add_user(app, email="ann@example.com")
    try:
        with TestClient(peer_from_header(app)) as client:
            for _ in range(2):
                assert _reset(client, "\u00e1nn@example.com").status_code == 303
            assert len(outbox) == 2  # the database did match the other spelling
            for _ in range(3):
                assert _reset(client, "ann@example.com").status_code == 303
            assert len(outbox) == 3
            assert {message.to for message in outbox} == {("ann@example.com",)}
    finally:
        app.extensions["db"].sync_engine().dispose()


# -- password reset, per IP ---------------------------------------------------------------


def test_twenty_first_reset_from_one_ip_is_refused(make_app: Any, add_user: Any) -> None:
    app = make_app()
    add_user(app, email="ann@example.com")
    with TestClient(peer_from_header(app)) as client:
        for number in range(20):
            assert _reset(client, f"user{number}@example.com", "203.0.113.7").status_code == 303
        refused = _reset(client, "ann@example.com", "203.0.113.7")
        assert refused.status_code == 429
        assert 3590 <= int(refused.headers["retry-after"]) <= 3600
        assert RESET_REFUSED in refused.text
        assert 'name="email" value="ann@example.com"' in refused.text  # the form, filled in
        assert refused.headers["cache-control"] == "no-cache, no-store, must-revalidate, private"
        assert outbox == []
        # Refused requests do not extend the wait.
        assert _reset(client, "ann@example.com", "203.0.113.7").status_code == 429
        # Another address is served, and the refused request did not use up
        # the account's own cap.
        for _ in range(3):
            assert _reset(client, "ann@example.com", "198.51.100.2").status_code == 303
        assert len(outbox) == 3


def test_ipv6_clients_are_counted_by_their_64_network(make_app: Any) -> None:
    app = make_app(throttle_reset_ip="2 per hour")
    with TestClient(peer_from_header(app)) as client:
        assert _reset(client, "a@example.com", "2001:db8:0:7::1").status_code == 303
        assert _reset(client, "b@example.com", "2001:db8:0:7::2").status_code == 303
        # Hopping to another address of the same /64 does not escape the cap.
        assert _reset(client, "c@example.com", "2001:db8:0:7:ffff::9").status_code == 429
        assert _reset(client, "c@example.com", "2001:db8:0:8::1").status_code == 303
        # An IPv4 client seen through an IPv4-mapped address is that client.
        assert _reset(client, "d@example.com", "198.51.100.9").status_code == 303
        assert _reset(client, "e@example.com", "::ffff:198.51.100.9").status_code == 303
        assert _reset(client, "f@example.com", "198.51.100.9").status_code == 429


# -- sign-up --------------------------------------------------------------------------------


def test_eleventh_account_from_one_ip_is_refused(make_app: Any) -> None:
    app = make_app(signup=True)

    @app.get("/whoami")
    def whoami(request: Request) -> str:
        return request.user.username or "anonymous"

    with TestClient(peer_from_header(app)) as client:
        for number in range(10):
            # A user fumbling the form is not counted.
            mismatch = _signup(client, f"user{number}", password2="not the same")
            assert mismatch.status_code == 400
            assert "do not match" in mismatch.text
            assert _signup(client, f"user{number}").status_code == 303
        client.post("/auth/logout")
        refused = _signup(client, "mallory", email="mallory@example.com")
        assert refused.status_code == 429
        assert 3590 <= int(refused.headers["retry-after"]) <= 3600
        assert SIGNUP_REFUSED in refused.text
        assert 'value="mallory@example.com"' in refused.text  # the form, filled in
        assert client.get("/whoami").text == "anonymous"  # not logged in either
        assert _usernames(app) == [f"user{number}" for number in range(10)]
        # Once capped, an address is told so at once, before any hashing.
        assert _signup(client, "mallory", password2="typo").status_code == 429
        # Another address may still sign up.
        assert _signup(client, "zoe", "198.51.100.2").status_code == 303
        assert _usernames(app)[-1] == "zoe"


@pytest.mark.anyio
@pytest.mark.parametrize("web_url", ["postgresql"], indirect=True)  # SQLite writes one at a time
async def test_concurrent_signups_cannot_pass_the_cap(make_app: Any) -> None:
    app = make_app(signup=True, throttle_signup_ip="1 per hour")
    async with AsyncClient(app, client=("192.0.2.50", 4000), follow_redirects=False) as client:

        async def signup(username: str) -> int:
            data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
            return (await client.post("/auth/signup", data=data)).status_code

        # Both pass the first check while the other one is still hashing.
        statuses = await asyncio.gather(signup("ann"), signup("bob"))
    assert sorted(statuses) == [303, 429]
    assert len(_usernames(app)) == 1


# -- settings ---------------------------------------------------------------------------


def test_limits_come_from_settings_and_arguments_win(make_app: Any, add_user: Any) -> None:
    tiny = {
        "PASSWORD_RESET_THROTTLE_EMAIL": "1 per hour",
        "PASSWORD_RESET_THROTTLE_IP": "2 per hour",
        "SIGNUP_THROTTLE_IP": "1 per hour",
    }
    app = make_app(signup=True, extra=tiny)
    add_user(app, email="ann@example.com")
    auth = app.extensions["auth"]
    assert repr(auth.reset_throttle) == (
        "PasswordResetThrottle(memory, per_email='1 per 1 hour', per_ip='2 per 1 hour')"
    )
    with TestClient(peer_from_header(app)) as client:
        assert _reset(client, "ann@example.com").status_code == 303
        assert _reset(client, "ann@example.com").status_code == 303
        assert len(outbox) == 1
        assert _reset(client, "ann@example.com").status_code == 429
        assert _signup(client, "bob").status_code == 303
        assert _signup(client, "cid").status_code == 429
    wins = make_app(signup=True, extra=tiny, throttle_reset_email="2 per hour")
    outbox.clear()
    with TestClient(peer_from_header(wins)) as client:  # same database: ann is there
        for peer in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):  # under the IP cap of 2
            assert _reset(client, "ann@example.com", peer).status_code == 303
        assert len(outbox) == 2


@pytest.mark.parametrize(
    "setting", ["PASSWORD_RESET_THROTTLE_EMAIL", "PASSWORD_RESET_THROTTLE_IP", "SIGNUP_THROTTLE_IP"]
)
@pytest.mark.parametrize(
    "value",
    ["often", "3 per fortnight", "3 per hour; 10 per day", ""],
)
def test_bad_limit_refused_at_startup(tmp_path: Any, setting: str, value: str) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    settings = Settings(SECRET_KEY="k" * 40, extra={setting: value})
    with pytest.raises(ImproperlyConfigured, match=f"throttling setting {setting}="):
        App(settings=settings, plugins=[Database(url), Sessions(), Auth()])


def test_bad_storage_url_refused_without_its_password(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    storage = "rediz://user:s3cret-pass@cache.internal:6379/0"
    with pytest.raises(ImproperlyConfigured, match="RATELIMIT_STORAGE_URL") as caught:
        App(
            settings=Settings(SECRET_KEY="k" * 40),
            plugins=[Database(url), Sessions(), Auth(throttle_storage=storage)],
        )
    assert "s3cret" not in str(caught.value)
    # Nor does a throttle's repr show it.
    throttle = SignupThrottle("redis://user:s3cret-pass@127.0.0.1:6379/0")
    assert repr(throttle) == "SignupThrottle(redis, per_ip='10 per 1 hour')"


# -- Redis -------------------------------------------------------------------------------


def test_reset_cap_on_redis(make_app: Any, add_user: Any, redis_url: str) -> None:
    import redis

    url = redis_url
    # Unique, so runs sharing the server neither collide nor add up.
    tag = uuid.uuid4().hex[:10]
    email, peer = f"r{tag}@example.com", f"redis-test-{tag}"
    server = redis.Redis.from_url(url)
    digest = hashlib.sha256(email.encode()).hexdigest()
    email_keys = f"LIMITS:LIMITER/oakling-password-reset/email/{digest}/*"
    ip_keys = f"LIMITS:LIMITER/oakling-password-reset/ip/{peer}/*"
    app = make_app(throttle_storage=url)
    add_user(app, email=email)
    throttle: PasswordResetThrottle = app.extensions["auth"].reset_throttle
    try:
        # Two clients, two event loops: one count, as two workers would share.
        for _ in range(2):
            with TestClient(app, client=(peer, 4000), follow_redirects=False) as client:
                for _ in range(2):
                    response = client.post("/auth/password/reset", data={"email": email})
                    assert response.status_code == 303
        assert len(outbox) == 3
        assert server.keys(email_keys)  # the counter lives in Redis, under a digest
        assert server.keys(ip_keys)
    finally:

        async def clean() -> None:
            await throttle.reset(email=email, ip=peer)
            await throttle.close()

        asyncio.run(clean())
    assert server.keys(email_keys) == server.keys(ip_keys) == []
    server.close()
