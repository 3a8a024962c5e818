# docs/examples/db_app.py
from typing import Annotated

import msgspec
from db_models import Project, Task
from sqlalchemy import select

from oakling import App
from oakling.db import (
    AsyncSession,
    Database,
    Session,
    aget_or_404,
    first_or_404,
    paginate,
    paginate_keyset,
)


class TaskIn(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    project: int | None = None


app = App(debug=True, plugins=[Database()])  # OAKLING_DATABASE_URL, else sqlite:///<folder>.db


@app.post("/tasks", status_code=201)
def create_task(data: TaskIn, session: Session):  # def handler: a Session
    task = Task(title=data.title, project_id=data.project)
    session.add(task)
    session.flush()  # runs the INSERT now, so task.id is known; COMMIT comes after the handler
    return task.as_dict()


@app.get("/tasks/{task_id:int}")
async def show_task(task_id: int, session: AsyncSession):  # async def handler: an AsyncSession
    task = await aget_or_404(session, Task, task_id)  # 404 "Task not found"
    return task.as_dict()


@app.post("/tasks/{task_id:int}/done")
def finish_task(task_id: int, session: Session):
    task = first_or_404(session, select(Task).where(Task.id == task_id, Task.done.is_(False)))
    task.done = True  # no add() or commit() needed: the request's transaction commits it
    return task.as_dict()


@app.get("/tasks")
def list_tasks(session: Session, page: int = 1, size: int = 20):  # ?page=2&size=50
    found = paginate(session, select(Task).order_by(Task.id), page, size)
    return {
        "items": [task.as_dict() for task in found.items],
        "total": found.total,
        "page": found.page,
        "pages": found.pages,
    }


@app.get("/api/tasks")
def task_feed(session: Session, after: str | None = None, size: int = 20):  # ?after=<cursor>
    found = paginate_keyset(session, select(Task), Task.id, after, size)
    return {"items": [task.as_dict() for task in found.items], "next": found.next}


@app.post("/projects", status_code=201)
def create_project(name: str, session: Session):  # a second "ann": 409 Conflict
    project = Project(name=name)
    session.add(project)
    session.flush()
    return {"id": project.id, "name": project.name}
