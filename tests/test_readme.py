"""The README's promises: its hello app behaves as written, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from oakling.testing import TestClient

README = Path(__file__).resolve().parent.parent / "README.md"


def hello_source() -> str:
    text = README.read_text()
    match = re.search(r"```python\n(# hello\.py\n.*?)```", text, re.S)
    assert match, "README has no hello.py block"
    return match.group(1)


def test_hello_app_answers_as_the_readme_says():
    namespace: dict[str, object] = {}
    exec(compile(hello_source(), "hello.py", "exec"), namespace)  # noqa: S102 - our own README
    with TestClient(namespace["app"]) as client:
        assert client.get("/").text == "Hello, World!"
        assert client.get("/hello/ann?excited=true").json() == {"hello": "ann!"}
        response = client.get("/hello/ann?excited=maybe")
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "excited"]


def test_quickstart_is_exactly_two_commands():
    text = README.read_text()
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```\n(.+?)\n```", quickstart)
    assert len(commands) == 2
    assert commands[0].endswith("oakling demo")
    assert "pytest" in commands[1]
