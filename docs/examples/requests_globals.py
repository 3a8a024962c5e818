# docs/examples/requests_globals.py
import sqlite3

from oakling import App
from oakling.globals import RequestGlobals, current_app, g, request

app = App(debug=True, plugins=[RequestGlobals()])  # opt in: g, request, session, current_app
app.state.database = ":memory:"


def get_db() -> sqlite3.Connection:
    """Open one connection per request, kept in g (the Flask tutorial's helper)."""
    if "db" not in g:
        g.db = sqlite3.connect(current_app.state.database, check_same_thread=False)
    return g.db


@app.after_request
def close_db(response):
    db = g.pop("db", None)
    if db is not None:
        db.close()
    return response


def greeting() -> str:
    # Three calls below the handler: no request parameter threaded through.
    name = request.query_params.get("name", "world")
    (answer,) = get_db().execute("SELECT upper(?)", (name,)).fetchone()
    return f"Hello, {answer}!"


@app.get("/")
def index():
    return greeting()
