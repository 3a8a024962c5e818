# docs/examples/static_site.py
from pathlib import Path

from oakling import App, Request, render
from oakling.staticfiles import StaticFiles

HERE = Path(__file__).parent

# static_dir: served at /static as the route named "static" (STATIC_DIR, STATIC_URL settings)
app = App(debug=True, static_dir=HERE / "static", template_folder=HERE / "templates")

# Or mount StaticFiles yourself, for options or more folders:
app.mount("/downloads", StaticFiles(directory=HERE / "reports", max_age=3600), name="downloads")


@app.get("/")
def index(request: Request):
    return render(request, "static_page.html")
