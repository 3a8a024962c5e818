"""docs/channels.md's example, run as the page describes it."""

from __future__ import annotations

import json
import time
from typing import Any

from oakling.channels import get_channel_layer
from oakling.testing import TestClient


def test_channels_chat(load_example: Any) -> None:
    module = load_example("channels_chat")
    with TestClient(module.app) as client:
        with client.websocket_connect("/rooms/lobby/socket") as socket:
            for _ in range(200):
                if get_channel_layer().subscribers:
                    break
                time.sleep(0.01)
            sent = client.post("/rooms/lobby/messages", params={"text": "hello"})
            assert sent.status_code == 200
            assert json.loads(socket.receive_text()) == {"text": "hello"}
        # HEAD of the stream: headers only (a GET would stream forever).
        head = client.head("/rooms/lobby/events")
        assert head.status_code == 200
        assert head.headers["content-type"] == "text/event-stream; charset=utf-8"
