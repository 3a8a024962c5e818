# docs/examples/channels_chat.py
from oakling import App, Request, WebSocket
from oakling.channels import Channels, publish, sse_response, websocket_feed

# CHANNELS_URL: memory:// by default (one process); redis://host:6379/0 for many.
app = App(debug=True, plugins=[Channels()])


@app.post("/rooms/{room}/messages")
async def say(room: str, text: str) -> dict[str, str]:
    # Every subscriber of the room, in every worker, gets {"text": ...}.
    message_id = await publish(f"room.{room}", {"text": text})
    return {"id": message_id}


@app.get("/rooms/{room}/events")
async def events(request: Request, room: str):
    # Server-sent events; a browser that reconnects sends Last-Event-ID
    # and is first sent what it missed.
    return sse_response(request, f"room.{room}", event="said")


@app.websocket("/rooms/{room}/socket")
async def socket(websocket: WebSocket, room: str) -> None:
    # One text frame (the message's JSON) per message, until either side ends.
    await websocket_feed(websocket, f"room.{room}")
