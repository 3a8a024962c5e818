# docs/examples/routing_basics.py
from oakling import App, Request

app = App(debug=True)


@app.get("/")
def index():
    return "Hello"


@app.get("/tasks/{task_id}")  # `task_id: int` picks the int converter: /tasks/abc is 404
def task_detail(task_id: int):
    return {"id": task_id}


@app.get("/tasks/latest")  # a static path wins over /tasks/{task_id}, whatever the order
def latest_task():
    return {"id": 3}


@app.get("/files/{name:path}")  # `path` matches the rest, slashes included
def show_file(name: str):
    return {"name": name}


@app.get("/users/<int:user_id>")  # Flask's syntax is accepted too
def user(user_id: int):
    return {"user": user_id}


@app.route("/notes", methods=["GET", "POST"])
async def notes(request: Request):
    return {"method": request.method}


@app.get("/reports/")  # the trailing slash is part of the path
def reports():
    return []
