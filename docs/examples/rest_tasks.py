# docs/examples/rest_tasks.py
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App, Request
from oakling.admin import Admin
from oakling.auth import Auth
from oakling.csrf import CSRF
from oakling.db import Database, Model, Session
from oakling.openapi import OpenAPI
from oakling.rest import ModelRouter, model_form
from oakling.sessions import Sessions


class Task(Model):  # the one definition: type, length, nullability, default, help text
    __tablename__ = "docs_task"
    __permission_label__ = "docs"  # docs.view_task, docs.add_task, ...

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100), info={"help_text": "What to do"})
    completed: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"))


class TaskRouter(ModelRouter):  # face 1: the REST API (DRF's ModelViewSet)
    model = Task
    read_only_fields = ("owner_id",)  # shown, never accepted: set below
    filterset_fields = ("completed", "id")  # ?completed=true, ?id__gte=10
    ordering_fields = ("id", "title")  # ?ordering=-id
    permission = "authenticated"  # any user; "model" (the default) checks docs.add_task ...
    scopes = {"read": "tasks:read", "write": "tasks:write"}  # for API tokens

    def get_queryset(self, request):  # each user sees their own tasks; others are 404
        return select(Task).where(Task.owner_id == request.user.id)

    def perform_create(self, request, session, obj):
        obj.owner_id = request.user.id
        session.add(obj)


admin = Admin()  # face 2: the admin, with the same fields and help text
admin.register(Task)

TaskForm = model_form(Task, read_only_fields=("owner_id",))  # face 3: an HTML form

app = App(  # face 4: the OpenAPI document at /openapi.json, /docs and /redoc
    plugins=[Database(), Sessions(), Auth(), CSRF(), admin, OpenAPI(title="Tasks", version="1.0")]
)
app.include(TaskRouter(prefix="/api/tasks"))


@app.get("/tasks/new")
def new_task(request: Request) -> str:
    form = TaskForm(meta={"csrf": False})
    return f"<form method=post>{form.title.label} {form.title()} {form.title.description}</form>"


@app.get("/tasks/count")
def count(session: Session) -> dict[str, int]:
    return {"tasks": len(session.scalars(select(Task)).all())}
