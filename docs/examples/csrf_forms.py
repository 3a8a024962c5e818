# docs/examples/csrf_forms.py
from html import escape

from wtforms import StringField
from wtforms.validators import DataRequired, Length

from oakling import App, Request
from oakling.csrf import CSRF
from oakling.csrf.forms import CSRFForm
from oakling.responses import HTMLResponse, RedirectResponse
from oakling.sessions import Sessions

app = App(debug=True, plugins=[Sessions(), CSRF()])
TASKS: list[str] = []


class TaskForm(CSRFForm):  # adds the hidden csrf_token field
    title = StringField("Title", validators=[DataRequired(), Length(max=100)])


@app.route("/tasks/new", methods=["GET", "POST"])
async def new_task(request: Request):
    form = await TaskForm.from_request(request)  # the request's form on POST, else empty
    if request.method == "POST" and form.validate():
        TASKS.append(form.title.data)
        return RedirectResponse("/tasks/new", 303)
    errors = "".join(f"<li>{escape(error)}</li>" for error in form.title.errors)
    return HTMLResponse(
        f"<form method=post>{form.csrf_token}{form.title.label} {form.title}"
        f"<ul>{errors}</ul><button>Add</button></form>"
    )
