# docs/examples/handlers_forms.py
from typing import Annotated

import msgspec

from oakling import App, File, Form, UploadFile


class Signup(msgspec.Struct):
    email: str
    newsletter: bool = False


app = App(debug=True)


@app.post("/attachments")
async def attach(
    title: Annotated[str, Form()],
    document: Annotated[UploadFile, File()],
    extra: Annotated[list[UploadFile] | None, File()] = None,
):
    content = await document.read()
    return {
        "title": title,
        "filename": document.filename,
        "size": len(content),
        "extra": len(extra or []),
    }


@app.post("/signup")
def signup(form: Annotated[Signup, Form()]):  # a Struct or dataclass reads the whole form
    return form
