"""Does ``Admin()`` cost routes outside ``/admin`` anything? The in-process bench, with batteries.

Runs ``bench/inprocess.py``'s oakling apps (plaintext, json, deps ...) with
the batteries the admin needs installed (Database on in-memory SQLite,
Sessions, Auth, CSRF) and, with ``--admin``, ``Admin()`` as well; every other
argument goes to ``inprocess.py``. For instruction counts, run it under
callgrind for two request counts and subtract (docs/admin.md)::

    valgrind --tool=callgrind --callgrind-out-file=/tmp/admin-N.out \\
        .venv/bin/python bench/admin_overhead.py [--admin] --frameworks oakling \\
        --cases plaintext --requests N --repeat 1 --warmup 500 --loop asyncio
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import inprocess  # noqa: E402
import inprocess_apps.oakling as oakling_apps  # noqa: E402
from inprocess_apps import SECRET_KEY  # noqa: E402

from oakling import App  # noqa: E402


def main(argv: list[str]) -> int:
    with_admin = "--admin" in argv
    rest = [arg for arg in argv if arg != "--admin"]

    def app_with_batteries() -> App:
        from oakling.auth import Auth
        from oakling.csrf import CSRF
        from oakling.db import Database
        from oakling.sessions import Sessions

        plugins: list[object] = [Database("sqlite://"), Sessions(), Auth(), CSRF()]
        if with_admin:
            from oakling.admin import Admin

            plugins.append(Admin())
        return App(secret_key=SECRET_KEY, plugins=plugins)

    oakling_apps._app = app_with_batteries  # the factories build their apps with it
    return inprocess.main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
