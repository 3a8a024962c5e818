"""Against a real uvicorn server: raw requests with forged Host headers get 400."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from oakling import App
from oakling.config import Settings
from oakling.security import Security

KEY = "k" * 40


@pytest.fixture
def server() -> Iterator[tuple[int, list[str]]]:
    uvicorn = pytest.importorskip("uvicorn")
    app = App(
        settings=Settings(SECRET_KEY=KEY, ALLOWED_HOSTS=["allowed.example", "127.0.0.1"]),
        plugins=[Security()],
    )
    ran: list[str] = []

    @app.get("/")
    def index() -> str:
        ran.append("index")
        return "ok"

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))  # a free port chosen by the OS
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="critical", lifespan="on", ws="none")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield port, ran
    finally:
        instance.should_exit = True
        thread.join(10)
        listener.close()


def raw_request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(head)
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_forged_host_is_refused_by_the_running_server(server: tuple[int, list[str]]) -> None:
    port, ran = server
    good = raw_request(
        port, b"GET / HTTP/1.1\r\nHost: allowed.example\r\nConnection: close\r\n\r\n"
    )
    assert good.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nx-frame-options: DENY\r\n" in good
    assert ran == ["index"]
    for host in (
        b"evil.example",
        b"evil.example:80",
        b"allowed.example.evil.example",
        b"allowed.example@evil.example",
        b"allowed.example:99999",
    ):
        answer = raw_request(
            port, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
        )
        assert answer.startswith(b"HTTP/1.1 400 "), (host, answer[:80])
        assert answer.endswith(b"\r\n\r\nInvalid Host header"), host
    duplicate = raw_request(
        port,
        b"GET / HTTP/1.1\r\nHost: allowed.example\r\nHost: evil.example\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert duplicate.startswith(b"HTTP/1.1 400 ")
    assert ran == ["index"]
