# docs/examples/security_app.py
from oakling import App, Request
from oakling.config import Settings
from oakling.responses import HTMLResponse
from oakling.security import CSP, Security, csp_nonce, frame_options_exempt

settings = Settings(
    SECRET_KEY="change-me-to-a-long-random-value-from-the-environment",
    ALLOWED_HOSTS=["example.com", ".example.com"],
)

app = App(
    settings=settings,
    plugins=[
        Security(
            hsts_seconds=31536000,
            hsts_include_subdomains=True,
            hsts_preload=True,
            ssl_redirect=True,
            redirect_exempt=[r"^healthz$"],
            csp={
                "default-src": [CSP.SELF],
                "script-src": [CSP.SELF, CSP.NONCE],
                "object-src": [CSP.NONE],
                "frame-ancestors": [CSP.NONE],
            },
        )
    ],
)


@app.get("/")
def home(request: Request) -> HTMLResponse:
    nonce = csp_nonce(request)  # templates write {{ csp_nonce() }}
    return HTMLResponse(f'<h1>Tasks</h1><script nonce="{nonce}">start()</script>')


@app.get("/embed")
@frame_options_exempt
def embed() -> str:
    return "<p>A widget other sites may frame.</p>"


@app.get("/healthz")
def healthz() -> str:
    return "ok"
