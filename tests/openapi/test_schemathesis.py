"""schemathesis against the demo's API, signed in with a token, every check on."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from tests.examples.test_tasks_browser import DemoServer, http_user

EXAMPLES = int(os.environ.get("OAKLING_SCHEMATHESIS_EXAMPLES", "25"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DemoServer]:
    demo = DemoServer(tmp_path / "server.log")
    try:
        yield demo
    finally:
        demo.stop()


def test_demo_document_is_valid(server: DemoServer) -> None:
    import httpx

    document = httpx.get(server.url + "/openapi.json").json()
    validate(document)
    assert set(document["paths"]) == {"/api/tasks", "/api/tasks/{task_id}", "/api/summary"}
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    assert schemes["sessionCookie"]["in"] == "cookie"
    assert schemes["csrfHeader"] == {**schemes["csrfHeader"], "in": "header", "name": "X-CSRFToken"}
    create = document["paths"]["/api/tasks"]["post"]
    assert create["security"] == [
        {"bearerAuth": ["tasks:write"]},
        {"sessionCookie": [], "csrfHeader": []},
    ]
    assert create["responses"]["201"]["headers"]["Location"]["schema"] == {"type": "string"}
    # The API is rate-limited per token (API_RATE_LIMIT): every operation documents its 429.
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            limited = operation["responses"].get("429")
            assert limited is not None, f"{method} {path} does not document its 429"
            assert "Retry-After" in limited["headers"]
            assert "application/json" in limited["content"]


def test_schemathesis_all_checks_pass_on_the_demo_api(server: DemoServer, tmp_path: Path) -> None:
    client, token = http_user(server, "schemathesis")
    client.close()
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        server.url + "/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "1",
        "--no-color",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=480, cwd=tmp_path, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    # NOTE: the run did test the operations, not just load the schema.
    assert "5 passed" in output or "Operations:" in output, output[-3000:]
    print(output[-3000:])
