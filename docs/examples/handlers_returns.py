# docs/examples/handlers_returns.py
import msgspec

from oakling import App, HTMLResponse, Response


class Task(msgspec.Struct):
    id: int
    title: str


app = App(debug=True)


@app.get("/text")
def plain_text():
    return "plain words"  # text/plain


@app.get("/html")
def html_page():
    return "<h1>Tasks</h1>"  # starts with "<": text/html


@app.get("/tasks")
def task_list():
    return {"tasks": [Task(1, "Write the docs")]}  # application/json


@app.delete("/tasks/{task_id}")
def delete_task(task_id: int):
    return None  # 204 No Content


@app.post("/tasks")
def create_task():
    return Task(2, "Ship it"), 201, {"Location": "/tasks/2"}  # Flask-style tuple


@app.get("/logo")
def logo():
    return b"\x89PNG..."  # application/octet-stream


@app.get("/page", response_class=HTMLResponse)
def page():
    return "no angle bracket, still HTML"


@app.get("/export")
def export_csv():
    return Response("id,title\n1,Write the docs\n", media_type="text/csv")
