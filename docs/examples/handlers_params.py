# docs/examples/handlers_params.py
from typing import Annotated

import msgspec

from oakling import App, BackgroundTasks, Cookie, Header, Query, Request


class TaskIn(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    completed: bool = False


TASKS: list[TaskIn] = []
SENT: list[str] = []

app = App(debug=True)


@app.get("/tasks")
def list_tasks(
    page: Annotated[int, msgspec.Meta(ge=1)] = 1,  # ?page=2 (a plain type: the query)
    done: bool | None = None,  # ?done=true
    tags: list[str] | None = None,  # ?tags=a&tags=b
    size: Annotated[int, Query(alias="page-size")] = 20,  # ?page-size=50
    user_agent: Annotated[str, Header()] = "",  # the User-Agent header
    theme: Annotated[str, Cookie()] = "light",  # the "theme" cookie
):
    return {
        "page": page,
        "done": done,
        "tags": tags,
        "size": size,
        "agent": user_agent,
        "theme": theme,
    }


@app.get("/tasks/{task_id}")
def task_detail(task_id: int, request: Request):  # a path param, and the request itself
    return {"id": task_id, "url": str(request.url)}


@app.post("/tasks", status_code=201)
def create_task(task: TaskIn, background: BackgroundTasks):  # a Struct: the JSON body
    TASKS.append(task)
    background.add_task(SENT.append, task.title)  # runs after the response is sent
    return task
