"""Sessions on every backend: round trip, lifecycle, headers, attacks."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from session_support import DATABASE_BACKENDS, SECRET, SERVER_BACKENDS, AppFactory, stored

from oakling import App, Request, WebSocket
from oakling.config import Settings
from oakling.sessions import Session, Sessions
from oakling.testing import TestClient

OTHER_SECRET = "o" * 20 + "ther-key-nobody-should-trust-0123456789"


def _set_cookie(response: Any) -> str | None:
    values = response.headers.get_list("set-cookie")
    assert len(values) <= 1, values
    return values[0] if values else None


def _value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def test_round_trip(make_app: AppFactory) -> None:
    app = make_app()
    with TestClient(app) as client:
        written = client.post("/write", json={"user": "ann", "n": [1, 2]})
        assert written.status_code == 200
        assert _set_cookie(written) is not None
        read = client.get("/read")
        assert read.json() == {"user": "ann", "n": [1, 2]}
        assert _set_cookie(read) is None  # read only: nothing to save
        client.post("/write", json={"n": 3})
        assert client.get("/read").json() == {"user": "ann", "n": 3}
    with TestClient(app) as stranger:
        assert stranger.get("/read").json() == {}


def test_untouched_session_costs_no_cookie_and_no_vary(make_app: AppFactory) -> None:
    app = make_app()
    with TestClient(app) as client:
        fresh = client.get("/plain")
        assert (fresh.text, _set_cookie(fresh), "vary" in fresh.headers) == (
            "untouched",
            None,
            False,
        )
        client.post("/write", json={"a": 1})
        with_cookie = client.get("/plain")  # the cookie is sent, the session untouched
        assert _set_cookie(with_cookie) is None
        assert "vary" not in with_cookie.headers
    with TestClient(app) as client:
        empty_read = client.get("/read")
        assert empty_read.json() == {}
        assert _set_cookie(empty_read) is None  # an empty session read: no cookie


def test_vary_cookie_when_read_merged_with_existing_vary(make_app: AppFactory) -> None:
    with TestClient(make_app()) as client:
        assert client.get("/read").headers["vary"] == "Cookie"
        assert client.post("/write", json={"a": 1}).headers["vary"] == "Cookie"
        assert client.get("/vary").headers.get_list("vary") == ["Accept-Encoding, Cookie"]


def test_a_page_that_read_the_session_is_private_to_shared_caches(
    make_app: AppFactory,
) -> None:
    app = make_app()

    @app.get("/public-read")
    def public_read(request: Request) -> Any:
        return _cacheable_json(dict(request.session))

    with TestClient(app) as client:
        assert "cache-control" not in client.get("/plain").headers  # stays cacheable
        assert client.get("/read").headers["cache-control"] == "private"
        assert client.post("/write", json={"a": 1}).headers["cache-control"] == "private"
        assert "cache-control" not in client.get("/plain").headers  # cookie sent, untouched
        kept = client.get("/public-read")
        assert kept.headers.get_list("cache-control") == ["public, max-age=60"]
        assert kept.headers["vary"] == "Cookie"


def _cacheable_json(data: Any) -> Any:
    from oakling import JSONResponse

    return JSONResponse(data, headers={"Cache-Control": "public, max-age=60"})


def test_cycle_key_changes_the_cookie_and_keeps_the_data(make_app: AppFactory) -> None:
    app = make_app()
    with TestClient(app) as client:
        first = _value(_set_cookie(client.post("/write", json={"cart": [1]})) or "")
        old_key = client.get("/key").json()["key"]
        cycled = client.post("/cycle")
        assert cycled.json()["data"] == {"cart": [1]}
        second = _value(_set_cookie(cycled) or "")
        assert second != first
        assert cycled.json()["key"] not in (None, old_key)
        assert client.get("/read").json() == {"cart": [1]}
        assert client.get("/key").json()["key"] == cycled.json()["key"]
    if app.extensions["sessions"].lazy:
        return  # a signed cookie cannot be revoked: the old one stays valid
    assert stored(app, old_key) is None  # the old record is gone
    with TestClient(app, cookies={"session": first}) as replay:
        assert replay.get("/read").json() == {}


def test_flush_deletes_the_cookie_and_the_record(make_app: AppFactory) -> None:
    app = make_app()
    with TestClient(app) as client:
        cookie = _value(_set_cookie(client.post("/write", json={"user": "ann"})) or "")
        key = client.get("/key").json()["key"]
        flushed = client.post("/flush")
        header = _set_cookie(flushed) or ""
        assert header.startswith("session=") and "Max-Age=0" in header
        assert "session" not in client.cookies
        assert client.get("/read").json() == {}
    if app.extensions["sessions"].lazy:
        return
    assert stored(app, key) is None
    # A copy of the cookie taken before logout is worth nothing now.
    with TestClient(app, cookies={"session": cookie}) as client:
        replayed = client.get("/read")
        assert (replayed.status_code, replayed.json()) == (200, {})


def test_emptied_session_deletes_the_cookie(make_app: AppFactory) -> None:
    app = make_app()

    @app.post("/empty")
    def empty(request: Request) -> str:
        request.session.clear()
        return "ok"

    with TestClient(app) as client:
        client.post("/write", json={"a": 1})
        assert "Max-Age=0" in (_set_cookie(client.post("/empty")) or "")


# -- attacks --------------------------------------------------------------------


def _forged_cookies(valid: str) -> dict[str, str]:
    if "." not in valid:  # a server-side id
        valid = f"{valid}.{valid}.{valid}"
    payload, _, signature = valid.rpartition(".")
    body, _, stamp = payload.partition(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    other = URLSafeTimedSerializer(OTHER_SECRET, salt="oakling.sessions")
    return {
        "tampered id": flipped,
        "tampered payload": f"{flipped}.{stamp}.{signature}",
        "admin payload, old signature": base64.urlsafe_b64encode(b'{"s":"x","d":{"user":"admin"}}')
        .decode()
        .rstrip("=")
        + f".{stamp}.{signature}",
        "signed with another key": other.dumps({"s": "x", "d": {"user": "admin"}}),
        "signed for another purpose": URLSafeTimedSerializer(SECRET, salt="csrf").dumps(
            {"s": "x", "d": {"user": "admin"}}
        ),
        "truncated": valid[: len(valid) // 2],
        "signature only": signature,
        "garbage": "%%%not a cookie%%%",
        "base64 junk": base64.urlsafe_b64encode(secrets.token_bytes(60)).decode(),
        "dots": "...",
        "long": "A" * 3000,
        "unicode": "\u00e9t\u00e9.\u00e9.\u00e9",
    }


def test_forged_cookies_give_an_empty_session_never_a_500(make_app: AppFactory) -> None:
    app = make_app()
    with TestClient(app) as client:
        valid = _value(_set_cookie(client.post("/write", json={"user": "ann"})) or "")
    for name, forged in _forged_cookies(valid).items():
        if forged == valid:
            continue  # a server-side id is its own "signature"
        with TestClient(app, raise_server_exceptions=False) as attacker:
            cookie = {"Cookie": f"session={forged}".encode()}
            response = attacker.get("/read", headers=cookie)
            assert (response.status_code, response.json()) == (200, {}), name
            written = attacker.post("/write", json={"x": 1}, headers=cookie)
            assert written.status_code == 200, name
            assert _value(_set_cookie(written) or "") != forged, name


def _case_variants(value: str) -> list[str]:
    """Return ``value`` with every letter's case swapped, and with only the first one's."""
    first = next(index for index, char in enumerate(value) if char.isalpha())
    return [value.swapcase(), value[:first] + value[first].swapcase() + value[first + 1 :]]


def test_session_id_differing_only_in_case_loads_nothing(make_app: AppFactory) -> None:
    # SECURITY: MariaDB's default collation compares case-insensitively; ids
    # are case-sensitive base64, so a case-insensitive lookup would both cut
    # their entropy and hand one visitor's session to a look-alike id.
    app = make_app()
    with TestClient(app) as client:
        valid = _value(_set_cookie(client.post("/write", json={"user": "ann"})) or "")
        key = client.get("/key").json()["key"]
    for variant in _case_variants(valid):
        with TestClient(app, cookies={"session": variant}) as attacker:
            assert attacker.get("/read").json() == {}, variant
            assert attacker.get("/key").json() == {"key": None}, variant
            written = attacker.post("/write", json={"user": "mallory"})
            assert _value(_set_cookie(written) or "") not in (valid, variant)
    with TestClient(app, cookies={"session": valid}) as client:
        assert client.get("/read").json() == {"user": "ann"}  # untouched by the attacker
    if not app.extensions["sessions"].lazy:
        assert stored(app, key) == {"user": "ann"}


@pytest.mark.parametrize("backend_kind", DATABASE_BACKENDS, indirect=True)
def test_session_key_column_is_case_sensitive(make_app: AppFactory, backend_kind: str) -> None:
    from sqlalchemy import delete, func, insert, select

    from oakling.sessions.database import SessionRecord

    app = make_app()  # NOTE: creates the table
    key = "CaseOnly" + secrets.token_urlsafe(16)
    expires = datetime.now(UTC) + timedelta(hours=1)
    with app.extensions["db"].sync_engine().begin() as connection:
        connection.execute(
            insert(SessionRecord),
            [
                {"session_key": key, "data": '{"who":"upper"}', "expires_at": expires},
                # Under a case-insensitive primary key this row would collide.
                {"session_key": key.lower(), "data": '{"who":"lower"}', "expires_at": expires},
            ],
        )
    try:
        assert stored(app, key) == {"who": "upper"}
        assert stored(app, key.lower()) == {"who": "lower"}
        with app.extensions["db"].sync_engine().connect() as connection:
            matches = connection.execute(
                select(func.count()).where(SessionRecord.session_key == key.upper())
            ).scalar()
        assert matches == 0
    finally:
        with app.extensions["db"].sync_engine().begin() as connection:
            connection.execute(
                delete(SessionRecord).where(SessionRecord.session_key.in_([key, key.lower()]))
            )


def test_case_insensitive_legacy_table_still_loads_only_the_exact_id(tmp_path: Path) -> None:
    # A table made by hand or by an older model, with a case-insensitive id
    # column (SQLite's NOCASE stands in for MySQL's default collation).
    from sqlalchemy import text

    from oakling.db import Database
    from oakling.sessions.database import DatabaseBackend

    database = Database(f"sqlite:///{tmp_path / 'legacy.db'}")
    backend = DatabaseBackend()
    App(settings=Settings(SECRET_KEY=SECRET), plugins=[database, Sessions(backend)])
    key = "CaseOnly" + secrets.token_urlsafe(16)
    with database.sync_engine().begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE oakling_session (session_key VARCHAR(64) COLLATE NOCASE "
                "PRIMARY KEY, data TEXT NOT NULL, expires_at DATETIME NOT NULL)"
            )
        )
        connection.execute(
            text('INSERT INTO oakling_session VALUES (:key, \'{"user":"ann"}\', :at)'),
            {"key": key, "at": "2999-01-01 00:00:00.000000"},
        )

    async def load_all() -> list[Any]:
        try:
            return [await backend.load(value, 60) for value in (key, key.swapcase(), key + " ")]
        finally:
            await database.dispose()

    assert asyncio.run(load_all()) == [(key, {"user": "ann"}), None, None]
    database.sync_engine().dispose()


def _signed_at(secret: str, payload: Any, seconds_ago: int) -> str:
    class PastSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - seconds_ago

    return URLSafeTimedSerializer(secret, salt="oakling.sessions", signer=PastSigner).dumps(payload)


def test_expired_signed_cookie_is_refused_by_the_server() -> None:
    app = _cookie_app(max_age=60)
    payload = {"s": "k", "d": {"user": "ann"}}
    with TestClient(app) as client:
        client.cookies.set("session", _signed_at(SECRET, payload, 30))
        assert client.get("/read").json() == {"user": "ann"}  # within the age: accepted
        client.cookies.set("session", _signed_at(SECRET, payload, 61))
        assert client.get("/read").json() == {}  # the browser's Max-Age is not trusted


@pytest.mark.parametrize("backend_kind", DATABASE_BACKENDS, indirect=True)
def test_expired_database_row_is_ignored(make_app: AppFactory, backend_kind: str) -> None:
    from session_support import set_expiry

    app = make_app()
    with TestClient(app) as client:
        client.post("/write", json={"user": "ann"})
        key = client.get("/key").json()["key"]
        set_expiry(app, key, datetime(2000, 1, 1, tzinfo=UTC))
        assert client.get("/read").json() == {}


@pytest.mark.parametrize("backend_kind", ["redis"], indirect=True)
def test_redis_ttl_is_the_session_age(make_app: AppFactory, backend_kind: str) -> None:
    import redis

    app = make_app(max_age=1)
    with TestClient(app) as client:
        client.post("/write", json={"user": "ann"})
        key = client.get("/key").json()["key"]
        direct = redis.Redis.from_url(app.extensions["sessions"].backend.url)
        try:
            assert direct.pttl(app.extensions["sessions"].backend.prefix + key) in range(1, 1001)
        finally:
            direct.close()
        time.sleep(1.2)
        assert client.get("/read").json() == {}


@pytest.mark.parametrize("backend_kind", SERVER_BACKENDS, indirect=True)
def test_client_chosen_session_id_is_never_adopted(make_app: AppFactory, backend_kind: str) -> None:
    app = make_app()
    planted = "attacker-chosen-id-0123456789abcdefghijklmnopqrstuv"
    with TestClient(app) as victim:
        victim.cookies.set("session", planted)
        assert victim.get("/key").json() == {"key": None}
        written = victim.post("/write", json={"user": "victim"})
        issued = _value(_set_cookie(written) or "")
        assert issued != planted and len(issued) >= 43
        assert stored(app, planted) is None
        assert stored(app, issued) == {"user": "victim"}
    with TestClient(app) as attacker:
        attacker.cookies.set("session", planted)
        assert attacker.get("/read").json() == {}


# -- key rotation ---------------------------------------------------------------


def _cookie_app(**kwargs: Any) -> App:
    from session_support import routes

    secret = kwargs.pop("secret_key", SECRET)
    fallbacks = kwargs.pop("fallbacks", [])
    settings = Settings(SECRET_KEY=secret, SECRET_KEY_FALLBACKS=fallbacks)
    return routes(App(settings=settings, plugins=[Sessions(**kwargs)]), lambda func: func)


def test_fallback_key_is_accepted_and_new_cookies_use_the_current_key() -> None:
    old_app = _cookie_app(secret_key=OTHER_SECRET)
    with TestClient(old_app) as client:
        old_cookie = _value(_set_cookie(client.post("/write", json={"user": "ann"})) or "")
    rotated = _cookie_app(secret_key=SECRET, fallbacks=[OTHER_SECRET])
    with TestClient(rotated, cookies={"session": old_cookie}) as client:
        assert client.get("/read").json() == {"user": "ann"}
        reissued = _value(_set_cookie(client.post("/write", json={"n": 1})) or "")
    current = URLSafeTimedSerializer(SECRET, salt="oakling.sessions")
    assert current.loads(reissued)["d"] == {"user": "ann", "n": 1}
    with pytest.raises(Exception, match="Signature"):
        URLSafeTimedSerializer(OTHER_SECRET, salt="oakling.sessions").loads(reissued)
    without_fallback = _cookie_app(secret_key=SECRET)
    with TestClient(without_fallback, cookies={"session": old_cookie}) as client:
        assert client.get("/read").json() == {}


# -- cookie attributes ----------------------------------------------------------


def test_cookie_attributes_over_http_and_https(make_app: AppFactory) -> None:
    app = make_app()
    with TestClient(app) as client:
        plain = _set_cookie(client.post("/write", json={"a": 1})) or ""
    attributes = {part.strip().split("=")[0].lower() for part in plain.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "secure" not in attributes
    assert "SameSite=Lax" in plain and "Path=/" in plain and "Max-Age=1209600" in plain
    with TestClient(app, base_url="https://testserver") as client:
        secure = _set_cookie(client.post("/write", json={"a": 1})) or ""
        assert "Secure" in secure
        assert client.get("/read").json() == {"a": 1}


def test_cookie_settings_from_settings_and_arguments(make_app: AppFactory) -> None:
    app = make_app(
        extra={
            "SESSION_COOKIE_NAME": "sid",
            "SESSION_COOKIE_SECURE": "1",
            "SESSION_COOKIE_SAMESITE": "Strict",
            "SESSION_COOKIE_DOMAIN": "example.com",
            "SESSION_COOKIE_AGE": "600",
        },
        max_age=300,  # the argument wins over the setting
    )
    with TestClient(app) as client:
        header = _set_cookie(client.post("/write", json={"a": 1})) or ""
    assert header.startswith("sid=")
    for part in ("Secure", "SameSite=Strict", "Domain=example.com", "Max-Age=300", "HttpOnly"):
        assert part in header, part


def test_httponly_can_be_turned_off_and_is_reported(make_app: AppFactory) -> None:
    from oakling.checks import run_checks

    app = make_app(httponly=False)
    with TestClient(app) as client:
        header = _set_cookie(client.post("/write", json={"a": 1})) or ""
    assert "HttpOnly" not in header
    ids = [message.id for message in run_checks(app, deploy=True)]
    assert "sessions.W001" in ids and "sessions.W002" in ids
    secure = make_app(secure=True)
    ids = [message.id for message in run_checks(secure, deploy=True)]
    assert "sessions.W001" not in ids and "sessions.W002" not in ids
    assert not [message for message in run_checks(secure) if message.id.startswith("sessions")]


# -- size and serialisation -----------------------------------------------------


def test_oversized_cookie_session_is_a_logged_500_without_cookie(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _cookie_app()

    @app.post("/big")
    def big(request: Request) -> str:
        request.session["blob"] = secrets.token_urlsafe(4000)  # incompressible
        return "stored"

    caplog.set_level(logging.ERROR, logger="oakling.error")
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/big")
        assert response.status_code == 500
        assert "set-cookie" not in response.headers
        assert "session" not in client.cookies
    assert "SessionTooLarge" in caplog.text
    assert "over the 4093-byte limit" in caplog.text
    assert "Redis or database backend" in caplog.text


@pytest.mark.parametrize("backend_kind", SERVER_BACKENDS, indirect=True)
def test_large_session_fits_a_server_side_backend(make_app: AppFactory, backend_kind: str) -> None:
    blob = secrets.token_urlsafe(20_000)
    with TestClient(make_app()) as client:
        assert client.post("/write", json={"blob": blob}).status_code == 200
        assert client.get("/read").json() == {"blob": blob}


def test_non_json_value_is_a_type_error_naming_the_key(make_app: AppFactory) -> None:
    import datetime

    app = make_app()

    @app.post("/bad")
    def bad(request: Request) -> str:
        request.session["when"] = datetime.date(2024, 1, 1)
        return "no"

    @app.post("/mutated")
    def mutated(request: Request) -> str:
        request.session["items"] = []
        request.session["items"].append({1, 2})
        return "saved?"

    with TestClient(app) as client:
        with pytest.raises(TypeError, match=r"session\['when'\] is not JSON-serialisable"):
            client.post("/bad")
        with pytest.raises(TypeError, match=r"session\['items'\] is not JSON-serialisable"):
            client.post("/mutated")
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/mutated")
        assert response.status_code == 500 and "set-cookie" not in response.headers


# -- other entry points ---------------------------------------------------------


def test_session_in_websocket_handlers(make_app: AppFactory) -> None:

    app = make_app()

    @app.websocket("/ws")
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(dict(websocket.session))
        await websocket.close()

    with TestClient(app) as client:
        client.post("/write", json={"user": "ann"})
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_json() == {"user": "ann"}


def test_session_parameter_injection(make_app: AppFactory) -> None:

    app = make_app()

    @app.post("/inc")
    async def inc(session: Session) -> dict[str, int]:
        session["n"] = session.get("n", 0) + 1
        return {"n": session["n"]}

    with TestClient(app) as client:
        assert client.post("/inc").json() == {"n": 1}
        assert client.post("/inc").json() == {"n": 2}


def test_no_5xx_response_saves_the_session(make_app: AppFactory) -> None:
    app = make_app()

    @app.post("/fail")
    def fail(request: Request) -> str:
        request.session["half"] = "done"
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        client.post("/write", json={"a": 1})
        response = client.post("/fail")
        assert response.status_code == 500 and "set-cookie" not in response.headers
        assert client.get("/read").json() == {"a": 1}
