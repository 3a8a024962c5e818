# docs/examples/routing_views.py
import msgspec

from oakling import App, View, abort

TASKS = {1: "Write the docs"}


class TaskIn(msgspec.Struct):
    title: str


app = App(debug=True)


@app.route("/tasks/{task_id}")  # methods: those the class defines (GET, PUT, DELETE)
class TaskView(View):
    def get(self, task_id: int):
        if task_id not in TASKS:
            abort(404)
        return {"id": task_id, "title": TASKS[task_id]}

    def put(self, task_id: int, task: TaskIn):
        TASKS[task_id] = task.title
        return {"id": task_id, "title": task.title}

    async def delete(self, task_id: int):
        TASKS.pop(task_id, None)  # returning None answers 204 No Content
