# docs/examples/sessions_basics.py
from oakling import App, Request
from oakling.exceptions import HTTPException
from oakling.sessions import Session, Sessions

app = App(debug=True, plugins=[Sessions()])  # a signed cookie keyed by SECRET_KEY

USERS = {"ann": "correct horse"}  # a stand-in for the auth battery


@app.post("/cart/{item_id:int}")
def add_to_cart(item_id: int, request: Request) -> dict[str, list[int]]:
    cart = request.session.get("cart", [])
    request.session["cart"] = [*cart, item_id]  # assign again: a change inside is not seen
    return {"cart": request.session["cart"]}


@app.get("/cart")
async def show_cart(session: Session) -> dict[str, list[int]]:
    return {"cart": session.get("cart", [])}


@app.post("/login")
def login(request: Request, credentials: dict[str, str]) -> dict[str, str]:
    username = credentials.get("username", "")
    if USERS.get(username) != credentials.get("password"):
        raise HTTPException(403, "Wrong username or password")
    request.session.cycle_key()  # a new id at login: no session fixation
    request.session["user"] = username
    return {"user": username}


@app.post("/logout")
def logout(request: Request) -> dict[str, str]:
    request.session.flush()  # data, server-side record and cookie gone
    return {"user": ""}
