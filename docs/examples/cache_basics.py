# docs/examples/cache_basics.py
import asyncio

from oakling import App
from oakling.cache import Cache, cache, caches

app = App(
    debug=True,
    plugins=[
        Cache(
            {
                "default": {"BACKEND": "memory", "TIMEOUT": 300, "OPTIONS": {"MAX_ENTRIES": 1000}},
                # "default": {"BACKEND": "redis", "LOCATION": "redis://127.0.0.1:6379/1"},
                "local": {"BACKEND": "memory", "KEY_PREFIX": "local"},
            }
        )
    ],
)

REPORT_CALLS = []


async def build_report(year: int) -> dict[str, int]:
    REPORT_CALLS.append(year)
    await asyncio.sleep(0.01)  # a slow query
    return {"year": year, "tasks_done": 42}


@app.get("/reports/{year:int}")
async def report(year: int) -> dict[str, int]:
    # One computation per key: concurrent requests wait for it and share it.
    return await cache.aget_or_set(f"report:{year}", lambda: build_report(year), timeout=600)


@app.post("/visits")
def visit() -> dict[str, int]:
    caches["local"].add("visits", 0)  # only if missing
    return {"visits": caches["local"].incr("visits")}
