# docs/examples/routing_blueprints.py
from oakling import App, JSONResponse, Request, Router, abort

api = Router("/api", name="api")


@api.before_request
def require_key(request: Request):
    if request.headers.get("x-api-key") != "secret":
        return JSONResponse({"detail": "Missing API key"}, 401)  # stops the request
    return None


@api.after_request
def no_store(response):
    response.headers["cache-control"] = "no-store"
    return response


@api.errorhandler(404)
def api_not_found(request: Request, exc):
    return JSONResponse({"error": "no such task", "path": request.url.path}, 404)


@api.get("/tasks/{task_id}")
def task_detail(task_id: int):
    if task_id != 1:
        abort(404)
    return {"id": 1, "title": "Write the docs"}


v2 = Router("/v2", name="v2")


@v2.get("/ping")
def ping():
    return "pong"


api.include(v2)  # nested: /api/v2/ping, named "api:v2:ping"

app = App(debug=True)
app.include(api)


@app.get("/")
def index(request: Request):
    return {
        "task": app.url_path_for("api:task_detail", task_id=1),
        "ping": request.url_for("api:v2:ping"),
    }
