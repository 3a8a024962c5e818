# docs/examples/cache_views.py
from oakling import App, Request, Response
from oakling.cache import Cache, cache_page
from oakling.cachecontrol import cache_control, condition

app = App(debug=True, plugins=[Cache()])

TASKS = {1: {"title": "Water the oak", "version": 3}}


@app.get("/about")
@cache_page(3600)  # the whole response, for an hour, per URL
def about() -> str:
    return "oakling Tasks: a demo app."


@app.get("/news", middleware=[cache_page(60)])  # the same, as a route option
def news() -> str:
    return "No news is good news."


@app.get("/logo.svg")
@cache_control(max_age=86400, public=True)  # for browsers and CDNs
def logo() -> Response:
    return Response("<svg/>", media_type="image/svg+xml")


def task_etag(request: Request) -> str:
    task = TASKS[int(request.path_params["task_id"])]
    return f"task-{request.path_params['task_id']}-v{task['version']}"


@app.get("/tasks/{task_id:int}")
@condition(etag_func=task_etag)  # 304 to a matching If-None-Match, before the handler
def read_task(task_id: int) -> dict[str, object]:
    return TASKS[task_id]


@app.put("/tasks/{task_id:int}")
@condition(etag_func=task_etag)  # 412 to a stale If-Match: no lost update
def write_task(task_id: int) -> dict[str, object]:
    TASKS[task_id]["version"] += 1
    return TASKS[task_id]
