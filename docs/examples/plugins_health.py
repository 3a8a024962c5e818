# docs/examples/plugins_health.py
import time

import click

from oakling import App, Router


class ServerTiming:
    """Pure ASGI middleware adding a Server-Timing header to every HTTP response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_timing(message):
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                header = (b"server-timing", f"app;dur={took:.1f}".encode())
                message["headers"] = [*message["headers"], header]
            await send(message)

        await self.app(scope, receive, send_with_timing)


class HealthPlugin:
    """A small battery: a health route, a startup hook, middleware and a CLI command."""

    name = "health"

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.started_at: float | None = None

    def install(self, app: App) -> None:
        # An argument wins, then the OAKLING_HEALTH_PATH setting, then the default.
        self.path = self.path or app.settings.get("HEALTH_PATH", "/healthz")
        router = Router(name="health")

        @router.get(self.path)
        def health():
            return {"status": "ok", "up_for": round(time.time() - (self.started_at or 0), 1)}

        app.include(router)
        app.on_startup(self.start)
        app.add_middleware(ServerTiming)
        app.add_template_global("health_url", self.path)
        app.extensions[self.name] = self  # Flask's app.extensions: find the plugin later

        @click.command("health")
        def health_command():
            """Print the health route of the app."""
            click.echo(f"health check at {self.path}")

        app.cli_commands.append(health_command)  # `oakling health`

    def start(self) -> None:
        self.started_at = time.time()


app = App(debug=True, plugins=[HealthPlugin()])


@app.get("/")
def index():
    return "Hello"
