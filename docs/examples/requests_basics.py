# docs/examples/requests_basics.py
from oakling import App, Request, UploadFile, abort, load_settings

# Small limits to show them at work; the defaults are Django's (see the table).
settings = load_settings(DEBUG=True, MAX_BODY_SIZE=64 * 1024, MAX_FORM_FILES=2)
app = App(settings=settings)


@app.post("/inspect/{kind}")
async def inspect(request: Request):
    data = await request.json()  # 400 on malformed JSON, 413 over MAX_BODY_SIZE
    return {
        "method": request.method,
        "path": request.url.path,
        "kind": request.path_params["kind"],
        "page": request.query_params.get("page"),
        "tags": request.query_params.getlist("tag"),
        "agent": request.headers.get("user-agent"),
        "theme": request.cookies.get("theme"),
        "json": data,
    }


@app.post("/upload")
async def upload(request: Request):
    form = await request.form()  # urlencoded or multipart
    document = form.get("document")  # an UploadFile: in memory, spooled to disk when large
    if not isinstance(document, UploadFile):
        abort(400, "Attach a file as 'document'")  # a missing field is the client's mistake
    content = await document.read()
    return {
        "title": form.get("title"),
        "filename": document.filename,
        "type": document.content_type,
        "size": len(content),
    }


@app.put("/raw")
async def raw(request: Request):
    received = 0
    async for chunk in request.stream(limit=10 * 1024 * 1024):  # 413 past 10 MiB
        received += len(chunk)
    return {"received": received}
