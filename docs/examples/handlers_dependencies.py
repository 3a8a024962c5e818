# docs/examples/handlers_dependencies.py
from typing import Annotated

from oakling import App, Depends, Header, abort

SAVED: list[str] = []  # a stand-in for a database table
EVENTS: list[str] = []


class Session:
    """A stand-in for a database session."""

    def __init__(self) -> None:
        self.pending: list[str] = []


async def get_session():
    session = Session()
    EVENTS.append("open")
    try:
        yield session  # the handler runs here
        SAVED.extend(session.pending)
        EVENTS.append("commit")
    except Exception:
        EVENTS.append("rollback")  # the handler's exception (even an HTTPException) lands here
        raise
    finally:
        EVENTS.append("close")  # all of this runs before the response is sent


def current_user(authorization: Annotated[str | None, Header()] = None) -> str:
    if authorization != "Bearer let-me-in":
        abort(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
    return "ann"


CurrentUser = Annotated[str, Depends(current_user)]
DB = Annotated[Session, Depends(get_session)]

app = App(debug=True)


@app.get("/me")
def me(user: CurrentUser):
    return {"user": user}


@app.post("/tasks", status_code=201)
def create_task(title: str, user: CurrentUser, session: DB):
    if title in SAVED:
        abort(409, "A task with this title exists")
    session.pending.append(title)
    return {"title": title, "owner": user}
