"""schemathesis against a ModelRouter API on a live server, with every check on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("OAKLING_SCHEMATHESIS_EXAMPLES", "25"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_schemathesis_all_checks_pass_on_a_model_router(tmp_path: Path) -> None:
    import httpx

    port = free_port()
    env = {
        **os.environ,
        "REST_SCHEMATHESIS_DB": f"sqlite:///{tmp_path / 'notes.db'}",
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.rest.schemathesis_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                document = httpx.get(url + "/openapi.json").json()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError((tmp_path / "server.log").read_text())
        validate(document)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                url + "/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                "1",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=480,
            cwd=tmp_path,
            check=False,
        )
        output = result.stdout + result.stderr
        log.flush()
        server_log = (tmp_path / "server.log").read_text()
        assert result.returncode == 0, output[-6000:] + server_log[-4000:]
    finally:
        server.terminate()
        server.wait(10)
        log.close()
