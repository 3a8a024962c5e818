"""Actions that ask for input (``@action(form=...)``, Django's ``action_form``), attacked."""

from __future__ import annotations

from typing import Any

import pytest
import wtforms  # type: ignore[import-untyped]  # NOTE: WTForms ships no type hints

from oakling.admin import Admin, action
from oakling.auth import Permission, User
from oakling.csrf.forms import CSRFForm
from oakling.testing import TestClient

from .conftest import BookAdmin, add_books, csrf, login
from .shop import Author, Book, Genre


def _choice(value: str, label: str) -> Any:
    try:
        from wtforms.fields.choices import SelectChoice  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - WTForms < 3.3 takes (value, label) tuples
        return (value, label)
    return SelectChoice(value, label)


class GenreForm(CSRFForm):
    genre = wtforms.SelectField(
        "New genre", choices=[_choice(member.name, member.value) for member in Genre]
    )
    pages = wtforms.IntegerField(
        "Pages", validators=[wtforms.validators.Optional(), wtforms.validators.NumberRange(1)]
    )


class GenreAdmin(BookAdmin):
    actions = ("publish", "set_genre")

    @action(description="Set the genre of selected books", form=GenreForm)
    def set_genre(self, request: Any, session: Any, objects: list[Book], form: Any) -> None:
        for book in objects:
            book.genre = Genre[form.genre.data]
            if form.pages.data is not None:
                book.pages = form.pages.data


class OwnGenreAdmin(GenreAdmin):
    """Staff act only on the books of the author named like them."""

    def get_queryset(self, request: Any) -> Any:
        query = super().get_queryset(request)
        if request.user.is_superuser:
            return query
        return query.join(Book.author).where(Author.name == request.user.username)


class NoPoetryChanges(GenreAdmin):
    """A per-object rule: poetry books may not be changed by anyone."""

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        if obj is not None and obj.genre is Genre.POETRY:
            return False
        return super().has_change_permission(request, obj)


def _site(admin_class: type[BookAdmin] = GenreAdmin) -> Admin:
    site = Admin()
    site.register(Book, admin_class)
    site.register(Author)
    return site


def _genres(app: Any) -> dict[str, tuple[Genre, int | None]]:
    with app.extensions["db"].session() as session:
        return {book.title: (book.genre, book.pages) for book in session.query(Book)}


def _grant(app: Any, user_id: int, *codenames: str) -> None:
    with app.extensions["db"].session() as session:
        user = session.get(User, user_id)
        for codename in codenames:
            user.user_permissions.append(
                session.query(Permission).filter_by(codename=codename).one()
            )
        session.commit()


@pytest.mark.parametrize("admin_url", ["sqlite", "postgresql", "mariadb"], indirect=True)
def test_action_form_asks_then_applies_and_logs(admin_app: Any, users: Any) -> None:
    app = admin_app(_site())
    users(app)
    ids = add_books(app, 3)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        listing = client.get("/admin/shop/book")
        assert "Set the genre of selected books" in listing.text
        token = csrf(client, "/admin/shop/book")
        chosen = [str(ids[0]), str(ids[2])]
        asked = client.post(
            "/admin/shop/book",
            data={"csrf_token": token, "action": "set_genre", "_selected_action": chosen},
        )
        assert asked.status_code == 200
        assert 'name="genre"' in asked.text and "New genre" in asked.text
        assert "Book 000" in asked.text and "Book 002" in asked.text
        assert "Book 001" not in asked.text
        assert _genres(app)["Book 000"] == (Genre.NOVEL, 0)  # nothing changed yet
        done = client.post(
            "/admin/shop/book",
            data={
                "csrf_token": token,
                "action": "set_genre",
                "_apply": "1",
                "_selected_action": chosen,
                "genre": "POETRY",
                "pages": "42",
            },
        )
        assert done.status_code == 303, done.text
        history = client.get(f"/admin/shop/book/{ids[0]}/history").text
        assert "Set the genre of selected books" in history
    assert _genres(app) == {
        "Book 000": (Genre.POETRY, 42),
        "Book 001": (Genre.NOVEL, 1),
        "Book 002": (Genre.POETRY, 42),
    }


def test_invalid_action_form_is_shown_again_and_nothing_runs(admin_app: Any, users: Any) -> None:
    app = admin_app(_site())
    users(app)
    [book_id] = add_books(app, 1)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        token = csrf(client, "/admin/shop/book")
        for bad in ({"genre": "NOPE"}, {"genre": "POETRY", "pages": "-3"}):
            shown = client.post(
                "/admin/shop/book",
                data={
                    "csrf_token": token,
                    "action": "set_genre",
                    "_apply": "1",
                    "_selected_action": str(book_id),
                    **bad,
                },
            )
            assert shown.status_code == 400, bad
            assert "Please correct the errors below." in shown.text
            assert f'name="_selected_action" value="{book_id}"' in shown.text
    assert _genres(app) == {"Book 000": (Genre.NOVEL, 0)}


def test_action_form_without_csrf_token_is_refused(admin_app: Any, users: Any) -> None:
    app = admin_app(_site())
    users(app)
    [book_id] = add_books(app, 1)
    with TestClient(
        app, follow_redirects=False, enforce_csrf_checks=True, fill_csrf_token=False
    ) as client:
        login(client, "root")
        for data in (
            {"action": "set_genre", "_selected_action": str(book_id)},
            {
                "action": "set_genre",
                "_apply": "1",
                "_selected_action": str(book_id),
                "genre": "ESSAY",
            },
            {
                "action": "set_genre",
                "_apply": "1",
                "_selected_action": str(book_id),
                "genre": "ESSAY",
                "csrf_token": "forged-" + "x" * 40,
            },
        ):
            assert client.post("/admin/shop/book", data=data).status_code == 403, data
    assert _genres(app) == {"Book 000": (Genre.NOVEL, 0)}


def test_action_form_token_is_checked_by_the_form_too(admin_app: Any, users: Any) -> None:
    # NOTE: the test client skips the middleware's check; the form still refuses.
    app = admin_app(_site())
    users(app)
    [book_id] = add_books(app, 1)
    with TestClient(app, follow_redirects=False, fill_csrf_token=False) as client:
        login(client, "root")
        shown = client.post(
            "/admin/shop/book",
            data={
                "action": "set_genre",
                "_apply": "1",
                "_selected_action": str(book_id),
                "genre": "ESSAY",
            },
        )
        assert shown.status_code == 400
    assert _genres(app) == {"Book 000": (Genre.NOVEL, 0)}


def test_action_form_without_permission_is_403(admin_app: Any, users: Any) -> None:
    app = admin_app(_site())
    ids = users(app)
    [book_id] = add_books(app, 1)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "viewer")  # view permission only: the action needs change
        listing = client.get("/admin/shop/book")
        assert listing.status_code == 200 and "Set the genre" not in listing.text
        token = csrf(client, "/admin/shop/book")
        for extra in ({}, {"_apply": "1", "genre": "ESSAY"}):
            response = client.post(
                "/admin/shop/book",
                data={
                    "csrf_token": token,
                    "action": "set_genre",
                    "_selected_action": str(book_id),
                    **extra,
                },
            )
            assert response.status_code == 403, extra
            assert "New genre" not in response.text
    _grant(app, ids["viewer"], "shop.change_book")
    with TestClient(app, follow_redirects=False) as client:
        login(client, "viewer")
        token = csrf(client, "/admin/shop/book")
        response = client.post(
            "/admin/shop/book",
            data={
                "csrf_token": token,
                "action": "set_genre",
                "_apply": "1",
                "_selected_action": str(book_id),
                "genre": "ESSAY",
            },
        )
        assert response.status_code == 303
    assert _genres(app) == {"Book 000": (Genre.ESSAY, 0)}


def test_action_form_per_object_permission_is_checked(admin_app: Any, users: Any) -> None:
    app = admin_app(_site(NoPoetryChanges))
    users(app)
    ids = add_books(app, 2)
    with app.extensions["db"].session() as session:
        session.get(Book, ids[1]).genre = Genre.POETRY
        session.commit()
    with TestClient(app, follow_redirects=False) as client:
        login(client, "root")
        token = csrf(client, "/admin/shop/book")
        response = client.post(
            "/admin/shop/book",
            data={
                "csrf_token": token,
                "action": "set_genre",
                "_apply": "1",
                "_selected_action": [str(ids[0]), str(ids[1])],
                "genre": "ESSAY",
            },
        )
        assert response.status_code == 403
    assert _genres(app) == {"Book 000": (Genre.NOVEL, 0), "Book 001": (Genre.POETRY, 1)}


def test_action_form_ignores_forged_ids_outside_the_queryset(admin_app: Any, users: Any) -> None:
    app = admin_app(_site(OwnGenreAdmin))
    ids = users(app)
    _grant(app, ids["staff"], "shop.view_book", "shop.change_book")
    [other] = add_books(app, 1, author_name="root")
    [own] = add_books(app, 1, author_name="staff")
    with TestClient(app, follow_redirects=False) as client:
        login(client, "staff")
        token = csrf(client, "/admin/shop/book")
        asked = client.post(
            "/admin/shop/book",
            data={
                "csrf_token": token,
                "action": "set_genre",
                "_selected_action": [str(other), str(own)],
            },
        )
        assert asked.status_code == 200
        # SECURITY: the other author's book is neither listed nor carried on.
        assert f'name="_selected_action" value="{other}"' not in asked.text
        assert f'name="_selected_action" value="{own}"' in asked.text
        done = client.post(
            "/admin/shop/book",
            data={
                "csrf_token": token,
                "action": "set_genre",
                "_apply": "1",
                "_selected_action": [str(other), str(own)],
                "genre": "ESSAY",
            },
        )
        assert done.status_code == 303
        only_forged = client.post(
            "/admin/shop/book",
            data={
                "csrf_token": token,
                "action": "set_genre",
                "_apply": "1",
                "_selected_action": str(other),
                "genre": "ESSAY",
            },
        )
        assert only_forged.status_code == 303  # nothing selected: back to the list
        bad_id = client.post(
            "/admin/shop/book",
            data={
                "csrf_token": token,
                "action": "set_genre",
                "_selected_action": "1 OR 1=1",
            },
        )
        assert bad_id.status_code == 400
    with app.extensions["db"].session() as session:
        assert session.get(Book, other).genre is Genre.NOVEL
        assert session.get(Book, own).genre is Genre.ESSAY


def test_action_form_must_check_csrf() -> None:
    class PlainForm(wtforms.Form):  # type: ignore[misc]  # NOTE: WTForms' Form is untyped
        genre = wtforms.StringField()

    with pytest.raises(TypeError, match="CSRFForm"):
        action(form=PlainForm)
