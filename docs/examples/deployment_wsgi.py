# docs/examples/deployment_wsgi.py
from oakling import App
from oakling.wsgi import to_wsgi

app = App(secret_key="set-OAKLING_SECRET_KEY-in-production-not-in-code")


@app.on_startup
def connect():
    app.state.ready = True  # runs before the first request, under WSGI too


@app.get("/")
def index():
    return {"ready": app.state.get("ready", False)}


application = to_wsgi(app)  # gunicorn deployment_wsgi:application
