# docs/examples/templates_pages.py
import datetime
from pathlib import Path

from oakling import App, Request, Router, render

HERE = Path(__file__).parent
TASKS = [
    {"id": 1, "title": "Write the docs", "due": datetime.date(2025, 3, 1)},
    {"id": 2, "title": "<script>alert('hi')</script>", "due": datetime.date(2025, 3, 2)},
]

app = App(debug=True, template_folder=HERE / "templates")
app.add_template_global("site_name", "Tasks")


@app.template_filter("shortdate")
def shortdate(value: datetime.date) -> str:
    return value.strftime("%d %b")


@app.context_processor
def current_user(request: Request):
    return {"user": request.headers.get("x-user", "guest")}


@app.get("/")
def index(request: Request):
    return render(request, "index.html", tasks=TASKS)


@app.get("/tasks/{task_id}")
def task_detail(task_id: int):
    return {"id": task_id}


blog = Router("/blog", name="blog", template_folder=str(HERE / "blog_templates"))


@blog.get("/")
def post_list(request: Request):
    return render(request, "blog_list.html")


app.include(blog)
