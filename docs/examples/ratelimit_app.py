# docs/examples/ratelimit_app.py
from typing import Annotated

from oakling import App, Request, Router
from oakling.ratelimit import (
    Limiter,
    RateLimit,
    is_staff,
    ratelimit,
    ratelimit_exempt,
    token_key,
    user_or_ip,
)

# Every route without limits of its own: 100 a minute per client address.
limiter = Limiter(default_limits="100/minute")
app = App(debug=True, plugins=[limiter])


@app.get("/")
def home() -> str:
    return "Counted by the default limit"


@app.get("/health")
@ratelimit_exempt
def health() -> str:
    return "Never limited (a load balancer polls it)"


@app.post("/search")
@ratelimit("5/second;100/hour", key=user_or_ip, exempt_when=is_staff)
def search(request: Request) -> dict[str, str]:
    return {"q": request.query_params.get("q", "")}


@app.get("/report", opt={"ratelimit": "2/minute"})
def report() -> str:
    return "An expensive page, limited through the route option"


def by_tenant(request: Request) -> str | None:
    return request.headers.get("x-tenant")


@app.get("/export")
def export(_: Annotated[None, RateLimit("3/minute", key=by_tenant)]) -> str:
    return "Limited per tenant, as a dependency"


# One bucket per API token for the whole router.
api = Router("/api", name="api")
limiter.limit_router(api, "600/minute", key=token_key, name="api")


@api.get("/tasks")
def tasks() -> list[str]:
    return []


app.include(api)
