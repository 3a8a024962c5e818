# docs/examples/index_hello.py
from oakling import App

app = App(debug=True)


@app.get("/hello/{name}")
async def hello(name: str, excited: bool = False):
    return {"hello": name + ("!" if excited else "")}
