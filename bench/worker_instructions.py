"""Instructions per request in the server's worker process, by callgrind.

Runs one TFB app (``bench/tfb/apps``) on one server under
``valgrind --tool=callgrind --trace-children=yes``, sends ``--small`` and then
``--large`` sequential keep-alive requests in two separate runs, and prints
``(worker instructions at large - at small) / (large - small)``: what one
request costs the server and the app together, startup excluded. Noise from
other processes does not move it (callgrind counts instructions, not time),
so it compares servers and frameworks on this shared 2-core machine where
wrk's requests per second cannot tell a few percent apart.

    python bench/worker_instructions.py                       # the table below
    python bench/worker_instructions.py --servers granian --apps raw,oakling

Needs valgrind, and PostgreSQL for the apps that open a pool at startup
(``TFB_DATABASE_URL``, as bench/run.py). Takes about a minute per line.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tfb.servers import app_info, free_port, server_command  # noqa: E402

__all__ = ["instructions_per_request"]


def _worker_total(folder: Path) -> int:
    """The largest ``summary:`` of the callgrind files: the serving process's."""
    totals = []
    for path in folder.glob("cg.*"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("summary:"):
                totals.append(int(line.split()[1]))
    if not totals:
        raise RuntimeError(f"no callgrind output in {folder}")
    return max(totals)


def _run(server: str, app: str, path: str, requests: int) -> int:
    info = app_info(app)
    port = free_port()
    command = server_command(server, info, port, cpu=None)
    with tempfile.TemporaryDirectory(prefix="cg-worker-") as tmp:
        folder = Path(tmp)
        argv = [
            "valgrind",
            "--tool=callgrind",
            "--trace-children=yes",
            f"--callgrind-out-file={folder}/cg.%p",
            *command,
        ]
        # NOTE: a fixed hash seed: string hashes decide dict probing, so a
        # random seed moves the count by a few thousand between runs.
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"}
        with (folder / "server.log").open("wb") as log:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                deadline = time.monotonic() + 300
                while True:
                    try:
                        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                        connection.request("GET", path)
                        connection.getresponse().read()
                        break
                    except OSError:
                        if time.monotonic() > deadline or process.poll() is not None:
                            raise RuntimeError(
                                (folder / "server.log").read_text(errors="replace")[-2000:]
                            ) from None
                        time.sleep(0.5)
                for _ in range(requests):
                    connection.request("GET", path)
                    response = connection.getresponse()
                    response.read()
                    assert response.status == 200, response.status
                connection.close()
            finally:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(120)
        return _worker_total(folder)


def instructions_per_request(
    server: str, app: str, path: str = "/plaintext", small: int = 200, large: int = 2200
) -> float:
    """Return the worker's instructions per request of ``app`` on ``server``."""
    low = _run(server, app, path, small)
    high = _run(server, app, path, large)
    return (high - low) / (large - small)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="uvicorn,granian,rsgi")
    parser.add_argument("--apps", default="raw,oakling")
    parser.add_argument("--paths", default="/plaintext,/json")
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=2200)
    args = parser.parse_args()
    print("| server | path | " + " | ".join(args.apps.split(",")) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in args.apps.split(",")) + " |")
    for server in args.servers.split(","):
        for path in args.paths.split(","):
            cells = [
                f"{instructions_per_request(server, app, path, args.small, args.large):,.0f}"
                for app in args.apps.split(",")
            ]
            print(f"| {server} | {path} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
