# docs/examples/responses_basics.py
import asyncio

from oakling import (
    App,
    EventSourceResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Request,
    ServerSentEvent,
    StreamingResponse,
)

app = App(debug=True)


@app.get("/api/status")
def status():
    return JSONResponse({"ok": True}, status_code=200, headers={"Cache-Control": "no-store"})


@app.get("/hello")
def hello():
    return HTMLResponse("<h1>Hello</h1>")


@app.post("/login")
def login():
    response = RedirectResponse("/dashboard", status_code=303)  # 303: the next request is a GET
    response.set_cookie("theme", "dark", max_age=30 * 24 * 3600)  # HttpOnly, SameSite=Lax
    return response


@app.post("/logout")
def logout():
    response = PlainTextResponse("bye")
    response.delete_cookie("theme")
    return response


@app.get("/dashboard")
def dashboard(request: Request):
    return {"theme": request.cookies.get("theme", "light")}


@app.get("/export.csv")
def export():
    def rows():  # a plain generator runs in the thread pool
        yield "id,title\n"
        for number in range(1, 4):
            yield f"{number},Task {number}\n"

    return StreamingResponse(rows(), media_type="text/csv")


@app.get("/events")
async def events():
    async def ticks():
        for number in range(3):
            yield ServerSentEvent({"tick": number}, event="tick", id=str(number))
            await asyncio.sleep(0)

    return EventSourceResponse(ticks())
