# docs/examples/middleware_stack.py
from oakling import App
from oakling.middleware import (
    CORSMiddleware,
    GZipMiddleware,
    Middleware,
    TrustedHostMiddleware,
)

app = App(
    debug=True,
    middleware=[  # outermost first: each wraps those after it
        Middleware(TrustedHostMiddleware, allowed_hosts=[".example.com", "localhost"]),
        Middleware(
            CORSMiddleware,
            allow_origins=["https://app.example.com"],
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization"],
            allow_credentials=True,
        ),
        Middleware(GZipMiddleware, minimum_size=500),
    ],
)


@app.get("/api/tasks")
def tasks():
    return [{"id": number, "title": f"Task {number}"} for number in range(100)]
