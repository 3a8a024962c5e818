# docs/examples/messages_app.py
from pathlib import Path

from markupsafe import Markup

from oakling import App, Form, RedirectResponse, Request, render
from oakling.messages import Messages, flash
from oakling.messages import api as messages
from oakling.sessions import Sessions

app = App(
    debug=True,
    plugins=[Sessions(), Messages()],  # Messages after Sessions: they live in it
    template_folder=Path(__file__).parent / "messages_templates",
)
TASKS: list[str] = []


@app.get("/")
def index(request: Request):
    return render(request, "messages_page.html")  # shows, then forgets, the messages


@app.post("/tasks")
def add_task(title: str = Form("")):
    if not title.strip():
        flash("Please enter a title.", "error")  # Flask's way: no request needed
    else:
        TASKS.append(title)
        flash(f"Added {title}.", "success")  # escaped when shown
    return RedirectResponse("/", 303)  # post/redirect/get


@app.post("/tasks/clear")
def clear(request: Request):
    TASKS.clear()
    messages.success(request, Markup('All clear. <a href="/">Add one</a>'))  # Django's way
    return RedirectResponse("/", 303)
