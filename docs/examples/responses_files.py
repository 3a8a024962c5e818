# docs/examples/responses_files.py
from pathlib import Path

from oakling import App, FileResponse, abort

REPORTS = Path(__file__).parent / "reports"

app = App(debug=True)


@app.get("/reports/{name:slug}.csv")  # `slug` refuses "..", "/" and the like with a 404
def report(name: str):
    path = REPORTS / f"{name}.csv"
    if not path.is_file():
        abort(404, f"No report named {name}")
    return FileResponse(path, filename=f"tasks-{name}.csv")  # a download, with ETag and Range
