# docs/examples/handlers_models.py
import dataclasses
from typing import Annotated, TypedDict

import msgspec
import pydantic

from oakling import App, Body


class TaskIn(msgspec.Struct):  # fastest; constraints with msgspec.Meta
    title: Annotated[str, msgspec.Meta(max_length=100)]


@dataclasses.dataclass
class NoteIn:
    text: str
    stars: int = 0


class Point(TypedDict):
    x: int
    y: int


class UserIn(pydantic.BaseModel):  # pydantic models work when pydantic is installed
    name: str
    age: int = pydantic.Field(ge=0)


app = App(debug=True)


@app.post("/tasks")
def create_task(task: TaskIn):
    return task


@app.post("/notes")
def create_note(note: NoteIn):
    return note


@app.post("/points")
def create_point(point: Point):
    return point


@app.post("/users")
def create_user(user: UserIn):
    return user


@app.post("/pair")  # two body parameters: each is read from its own key
def pair(task: TaskIn, note: NoteIn, priority: Annotated[int, Body()] = 0):
    return {"task": task.title, "note": note.text, "priority": priority}
