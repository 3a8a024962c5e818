# docs/examples/websockets_chat.py
import msgspec

from oakling import App, WebSocket, WebSocketException


class ChatMessage(msgspec.Struct):
    text: str


decode_message = msgspec.json.Decoder(ChatMessage).decode
app = App(debug=True)
ROOMS: dict[str, set[WebSocket]] = {}


@app.websocket("/echo")
async def echo(ws: WebSocket):
    await ws.accept()
    async for text in ws.iter_text():  # ends when the client closes
        await ws.send_text(f"echo: {text}")


@app.websocket("/rooms/{room}")
async def room(ws: WebSocket, room: str, name: str = "anonymous"):  # ?name=ann
    if room == "private":
        raise WebSocketException(1008, "This room is private")  # refused before accepting
    await ws.accept()
    members = ROOMS.setdefault(room, set())
    members.add(ws)
    try:
        async for raw in ws.iter_text():
            try:
                message = decode_message(raw)
            except msgspec.DecodeError:  # malformed JSON, or not {"text": "..."}
                await ws.close(1007, 'Send JSON like {"text": "hi"}')
                return
            for member in members:
                await member.send_json({"from": name, "text": message.text})
    finally:
        members.discard(ws)
