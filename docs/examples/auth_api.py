# docs/examples/auth_api.py
from typing import Annotated

from oakling import App, Depends, Request
from oakling.auth import Auth, User, create_token, require_scopes, scopes_required
from oakling.csrf import CSRF
from oakling.db import AsyncSession, Database
from oakling.sessions import Sessions

# Users log in on /auth/login, then make tokens for their scripts; requests
# with a bearer token need no cookie and no CSRF token.
app = App(plugins=[Database(), Sessions(), Auth(), CSRF()])


@app.post("/tokens", status_code=201)
async def new_token(user: User, db: AsyncSession, name: str = "script") -> dict[str, str]:
    # `user: User` means "the logged-in user" (401 otherwise).
    token, plaintext = await create_token(db, user, name=name, scopes=["tasks:read"])
    return {"token": plaintext, "prefix": token.prefix}  # shown once, stored hashed


@app.get("/api/tasks")
@scopes_required("tasks:read")  # a token without the scope: 403 insufficient_scope
async def list_tasks(request: Request) -> dict[str, object]:
    return {"user": request.user.username, "via": request.auth.method}


@app.post("/api/tasks")
async def add_task(user: Annotated[User, Depends(require_scopes("tasks:write"))]) -> None:
    return None
