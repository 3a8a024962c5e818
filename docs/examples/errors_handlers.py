# docs/examples/errors_handlers.py
import html

from oakling import App, HTMLResponse, HTTPException, JSONResponse, Request, Router, abort


class TaskLocked(Exception):
    """A domain error raised deep in the code."""


app = App(debug=False, secret_key="change-me-to-50-random-characters-from-secrets-module")
api = Router("/api", name="api")


@app.get("/tasks/{task_id}")
def task_detail(task_id: int):
    if task_id != 1:
        abort(404, f"Task {task_id} does not exist")  # Flask's abort
    return {"id": 1}


@app.get("/limited")
def limited():
    raise HTTPException(429, {"retry_after": 30}, headers={"Retry-After": "30"})


@app.get("/crash")
def crash():
    raise RuntimeError("a bug")  # logged on "oakling.error"; the client sees a plain 500


@api.post("/tasks/{task_id}/done")
def complete(task_id: int):
    raise TaskLocked(task_id)


@app.errorhandler(TaskLocked)  # by exception class (its subclasses too)
def locked(request: Request, exc: TaskLocked):
    return JSONResponse({"detail": f"Task {exc.args[0]} is locked"}, 409)


@api.errorhandler(TaskLocked)  # the router's handler wins for its own routes
def api_locked(request: Request, exc: TaskLocked):
    return {"error": "locked", "task": exc.args[0]}, 423


@app.errorhandler(404)  # by status: abort(404) and unknown URLs
def not_found(request: Request, exc: HTTPException):
    if request.accepts("application/json", "text/html") == "text/html":
        return HTMLResponse(
            f"<h1>Lost?</h1><p>{html.escape(request.url.path)} is not here.</p>", 404
        )
    return JSONResponse({"detail": exc.detail}, 404)


app.include(api)
