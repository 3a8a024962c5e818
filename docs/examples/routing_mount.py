# docs/examples/routing_mount.py
from oakling import App


async def legacy(scope, receive, send):
    """Any ASGI app: another framework, a metrics endpoint, a static server."""
    body = f"legacy saw path={scope['path']} root_path={scope['root_path']}".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


app = App(debug=True)
app.mount("/legacy", legacy, name="legacy")


@app.get("/")
def index():
    return {"report": app.url_path_for("legacy", path="reports/2024.csv")}
