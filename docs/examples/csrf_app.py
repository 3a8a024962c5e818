# docs/examples/csrf_app.py
from pathlib import Path
from typing import Annotated

from oakling import App, Form, Request, render
from oakling.csrf import CSRF, csrf_exempt, get_token, rotate_token
from oakling.sessions import Sessions

HERE = Path(__file__).parent
TASKS: list[str] = []

app = App(
    debug=True,
    template_folder=HERE / "csrf_templates",
    plugins=[Sessions(), CSRF(trusted_origins=["https://admin.example.com"])],
)


@app.get("/tasks/new")
def new_task(request: Request):
    return render(request, "csrf_task_form.html")


@app.post("/tasks")
def create_task(title: Annotated[str, Form()]):  # runs only once the check passed
    TASKS.append(title)
    return {"tasks": TASKS}


@app.get("/api/csrf")
def csrf_token(request: Request):  # for a single-page app: send it back in X-CSRFToken
    return {"token": get_token(request)}


@app.post("/login")
def login(request: Request):
    request.session["user"] = "ann"  # the auth battery does this and the next line
    rotate_token(request)  # tokens from before the login stop working
    return {"token": get_token(request)}


@app.post("/hooks/payments")
@csrf_exempt  # called by a payment provider that signs its requests: no browser, no cookie
async def payment_hook(request: Request):
    return {"received": len(await request.body())}
