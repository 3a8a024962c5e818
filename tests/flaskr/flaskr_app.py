"""Flask's tutorial app (flaskr), written the tutorial's way on oakling.

A connection per request opened in a ``before_request`` hook and kept in
``g``, ``g.user`` loaded by a hook, ``flash()`` for errors, a
``login_required`` decorator reading ``g.user``, and plain ``sqlite3``.
CSRF protection is on; the tests post forms without tokens, as Flask-WTF
users do with ``WTF_CSRF_ENABLED = False`` (oakling's test client skips CSRF
checks by default, as Django's does).
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Annotated, Any

from werkzeug.security import check_password_hash, generate_password_hash

from oakling import App, Form, RedirectResponse, Request, Router, abort, render
from oakling.config import Settings
from oakling.csrf import CSRF
from oakling.globals import RequestGlobals, current_app, g, session
from oakling.messages import Messages, flash
from oakling.sessions import Sessions

HERE = Path(__file__).parent

SCHEMA = """
DROP TABLE IF EXISTS user;
DROP TABLE IF EXISTS post;
CREATE TABLE user (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT UNIQUE NOT NULL,
  password TEXT NOT NULL
);
CREATE TABLE post (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  author_id INTEGER NOT NULL,
  created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  FOREIGN KEY (author_id) REFERENCES user (id)
);
"""


# -- db.py -----------------------------------------------------------------------


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        # NOTE: sqlite3's default check_same_thread=True, as in Flask's
        # tutorial: a sync request's hooks and handler share one thread.
        g.db = sqlite3.connect(current_app.state.database)
        g.db.row_factory = sqlite3.Row
    return g.db


def close_db(response: Any) -> Any:
    db = g.pop("db", None)
    if db is not None:
        db.close()
    return response


def init_db(path: str) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)


# -- auth.py ---------------------------------------------------------------------

auth = Router(prefix="/auth", name="auth")


def load_logged_in_user() -> None:
    get_db()  # the connection of this request, opened in the hook
    user_id = session.get("user_id")
    g.user = (
        None
        if user_id is None
        else get_db().execute("SELECT * FROM user WHERE id = ?", (user_id,)).fetchone()
    )


def login_required(view: Any) -> Any:
    @functools.wraps(view)
    def wrapped_view(*args: Any, **kwargs: Any) -> Any:
        if g.user is None:
            return RedirectResponse("/auth/login", 303)
        return view(*args, **kwargs)

    return wrapped_view


@auth.get("/register")
def register_form(request: Request) -> Any:
    return render(request, "register.html")


@auth.post("/register")
def register(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Any:
    db = get_db()
    error = None
    if not username:
        error = "Username is required."
    elif not password:
        error = "Password is required."
    if error is None:
        try:
            db.execute(
                "INSERT INTO user (username, password) VALUES (?, ?)",
                (username, generate_password_hash(password)),
            )
            db.commit()
        except db.IntegrityError:
            error = f"User {username} is already registered."
        else:
            return RedirectResponse("/auth/login", 303)
    flash(error, "error")
    return render(request, "register.html")


@auth.get("/login")
def login_form(request: Request) -> Any:
    return render(request, "login.html")


@auth.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Any:
    user = get_db().execute("SELECT * FROM user WHERE username = ?", (username,)).fetchone()
    if user is None:
        error = "Incorrect username."
    elif not check_password_hash(user["password"], password):
        error = "Incorrect password."
    else:
        session.clear()
        session["user_id"] = user["id"]
        return RedirectResponse("/", 303)
    flash(error, "error")
    return render(request, "login.html")


@auth.get("/logout")
def logout() -> RedirectResponse:
    session.clear()
    return RedirectResponse("/", 303)


# -- blog.py ---------------------------------------------------------------------

blog = Router(name="blog")


def get_post(post_id: int, check_author: bool = True) -> sqlite3.Row:
    post = (
        get_db()
        .execute(
            "SELECT p.id, title, body, created, author_id, username"
            " FROM post p JOIN user u ON p.author_id = u.id WHERE p.id = ?",
            (post_id,),
        )
        .fetchone()
    )
    if post is None:
        abort(404, f"Post id {post_id} doesn't exist.")
    if check_author and post["author_id"] != g.user["id"]:
        abort(403)
    return post  # type: ignore[no-any-return]


@blog.get("/")
def index(request: Request) -> Any:
    posts = (
        get_db()
        .execute(
            "SELECT p.id, title, body, created, author_id, username"
            " FROM post p JOIN user u ON p.author_id = u.id ORDER BY created DESC, p.id DESC"
        )
        .fetchall()
    )
    return render(request, "index.html", posts=posts)


@blog.get("/create")
@login_required
def create_form(request: Request) -> Any:
    return render(request, "create.html")


@blog.post("/create")
@login_required
def create(
    request: Request, title: Annotated[str, Form()] = "", body: Annotated[str, Form()] = ""
) -> Any:
    if not title:
        flash("Title is required.", "error")
        return render(request, "create.html")
    db = get_db()
    db.execute(
        "INSERT INTO post (title, body, author_id) VALUES (?, ?, ?)", (title, body, g.user["id"])
    )
    db.commit()
    flash(f"Posted {title}.")
    return RedirectResponse("/", 303)


@blog.post("/{post_id:int}/update")
@login_required
def update(
    request: Request,
    post_id: int,
    title: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> Any:
    get_post(post_id)
    if not title:
        flash("Title is required.", "error")
        return RedirectResponse("/", 303)
    db = get_db()
    db.execute("UPDATE post SET title = ?, body = ? WHERE id = ?", (title, body, post_id))
    db.commit()
    return RedirectResponse("/", 303)


@blog.post("/{post_id:int}/delete")
@login_required
def delete(post_id: int) -> RedirectResponse:
    get_post(post_id)
    db = get_db()
    db.execute("DELETE FROM post WHERE id = ?", (post_id,))
    db.commit()
    flash("Deleted.")
    return RedirectResponse("/", 303)


# -- __init__.py -----------------------------------------------------------------


def create_app(database: str) -> App:
    app = App(
        settings=Settings(SECRET_KEY="flaskr-" + "dev" * 20),
        plugins=[Sessions(), Messages(), CSRF(), RequestGlobals()],
        template_folder=HERE / "templates",
    )
    app.state.database = database
    app.before_request(load_logged_in_user)
    app.after_request(close_db)
    app.include(auth)
    app.include(blog)
    return app
