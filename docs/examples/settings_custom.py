# docs/examples/settings_custom.py
from oakling import App, Request, Settings, load_settings


class TasksSettings(Settings):
    """The core's settings plus the app's own, typed."""

    PAGE_SIZE: int = 20
    ADMIN_EMAILS: list[str] = []


# Code > OAKLING_* environment > .env > defaults.
settings = load_settings(TasksSettings, DEBUG=True)
app = App(settings=settings)


@app.get("/about")
def about(request: Request):
    current: TasksSettings = request.app.settings
    return {
        "page_size": current.PAGE_SIZE,
        "admins": current.ADMIN_EMAILS,
        "cache": "redis" if current.get("REDIS_URL") else "memory",  # an undeclared setting
    }
