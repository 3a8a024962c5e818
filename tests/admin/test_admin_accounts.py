"""The auth battery's models in the admin: users (hashed passwords), groups, tokens."""

from __future__ import annotations

from typing import Any

from oakling.auth import APIToken, Group, User
from oakling.auth.tokens import create_token_sync
from oakling.testing import TestClient

from .conftest import PASSWORD, csrf, login

NEW_PASSWORD = "a much longer passphrase 42"


def test_add_user_hashes_the_password_and_never_shows_it(admin_app: Any, users: Any) -> None:
    app = admin_app()
    users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        token = csrf(client, "/admin/auth/user/add")
        mismatch = client.post(
            "/admin/auth/user/add",
            data={
                "csrf_token": token,
                "username": "eve",
                "password1": NEW_PASSWORD,
                "password2": "other",
            },
        )
        assert mismatch.status_code == 400
        assert "The two passwords do not match." in mismatch.text
        weak = client.post(
            "/admin/auth/user/add",
            data={
                "csrf_token": token,
                "username": "eve",
                "password1": "password",
                "password2": "password",
            },
        )
        assert weak.status_code == 400
        taken = client.post(
            "/admin/auth/user/add",
            data={
                "csrf_token": token,
                "username": "ROOT",
                "password1": NEW_PASSWORD,
                "password2": NEW_PASSWORD,
            },
        )
        assert taken.status_code == 400
        made = client.post(
            "/admin/auth/user/add",
            data={
                "csrf_token": token,
                "username": "eve",
                "password1": NEW_PASSWORD,
                "password2": NEW_PASSWORD,
                "is_active": "y",
                "is_staff": "y",
                "_continue": "",
            },
        )
        assert made.status_code == 303, made.text
        page = client.get(made.headers["location"])
        assert page.status_code == 200
        with app.extensions["db"].session() as session:
            eve = session.query(User).filter_by(username="eve").one()
            assert eve.check_password(NEW_PASSWORD) and eve.is_staff
            assert eve.password.startswith("argon2$")
            assert eve.password not in page.text
            assert eve.password.split("$")[-1] not in page.text
        assert "Set (argon2)" in page.text
        assert 'name="password' not in page.text


def test_admin_changes_a_users_password(admin_app: Any, users: Any) -> None:
    app = admin_app()
    ids = users(app)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        path = f"/admin/auth/user/{ids['staff']}/password"
        token = csrf(client, path)
        bad = client.post(path, data={"csrf_token": token, "password1": "x1", "password2": "x2"})
        assert bad.status_code == 400
        done = client.post(
            path, data={"csrf_token": token, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
        )
        assert done.status_code == 303
        assert "Changed password." in client.get(f"/admin/auth/user/{ids['staff']}/history").text
    with app.extensions["db"].session() as session:
        staff = session.get(User, ids["staff"])
        assert staff.check_password(NEW_PASSWORD) and not staff.check_password(PASSWORD)
        assert staff.session_version == 1  # every session of theirs is logged out


def test_change_user_groups_and_flags(admin_app: Any, users: Any) -> None:
    app = admin_app()
    ids = users(app)
    with app.extensions["db"].session() as session:
        session.add(Group(name="editors"))
        session.commit()
        group_id = session.query(Group).one().id
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        path = f"/admin/auth/user/{ids['plain']}/change"
        token = csrf(client, path)
        done = client.post(
            path,
            data={
                "csrf_token": token,
                "username": "plain",
                "email": "p@example.com",
                "is_active": "y",
                "is_staff": "y",
                "groups": str(group_id),
            },
        )
        assert done.status_code == 303, done.text
        history = client.get(f"/admin/auth/user/{ids['plain']}/history").text
        # before/after values of plain fields; many-to-many fields are only named
        assert "Changed email (empty → “p@example.com”), is staff (No → Yes) and groups." in history
    with app.extensions["db"].session() as session:
        plain = session.get(User, ids["plain"])
        assert plain.is_staff and [g.name for g in plain.groups] == ["editors"]
        assert plain.check_password(PASSWORD)


def test_groups_and_tokens_are_registered(admin_app: Any, users: Any) -> None:
    app = admin_app()
    ids = users(app)
    with app.extensions["db"].session() as session:
        token_row, secret = create_token_sync(session, session.get(User, ids["root"]), name="ci")
        session.commit()
        token_id = token_row.id
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        listing = client.get("/admin/auth/apitoken")
        assert listing.status_code == 200 and "ci" in listing.text
        assert secret not in listing.text
        assert client.get("/admin/auth/apitoken/add").status_code == 403
        change = client.get(f"/admin/auth/apitoken/{token_id}/change")
        assert change.status_code == 200 and "key_hash" not in change.text
        token = csrf(client, "/admin/auth/group/add")
        assert (
            client.post(
                "/admin/auth/group/add", data={"csrf_token": token, "name": "ops"}
            ).status_code
            == 303
        )
        assert client.get("/admin/auth/group").text.count("ops") >= 1
        revoke = client.post(
            f"/admin/auth/apitoken/{token_id}/delete", data={"csrf_token": token, "post": "yes"}
        )
        assert revoke.status_code == 303
    with app.extensions["db"].session() as session:
        assert session.query(APIToken).count() == 0
