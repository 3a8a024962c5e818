"""The two apps of ``bench/admin.py``: oakling's admin and Django's, on one PostgreSQL database.

Both read the same two tables, created and filled once by ``bench/admin.py``
(``bench_owner``: 100 rows; ``bench_item``: 1,000,000 rows with a foreign key
to it). Each framework keeps its own users and sessions apart: oakling's in
the ``public`` schema, Django's in the ``django`` schema (its connection's
``search_path`` is ``django,public``), so both find the bench tables in
``public``.

Both apps count the SQL statements each request runs and send the count in
an ``X-Bench-Queries`` header (the same small ASGI wrapper around each).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["DATABASE_URL", "PASSWORD", "SECRET_KEY", "USERNAME", "QueryCounter"]

DATABASE_URL = os.environ.get(
    "OAKLING_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/oakling_bench_admin"
)
USERNAME = "benchroot"
PASSWORD = "bench admin password 123"
SECRET_KEY = "bench-admin-secret-" + "k" * 40

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class QueryCounter:
    """ASGI wrapper: count the statements run during each request into a header.

    One worker, one client at a time: a plain counter is enough.
    """

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self.count = 0

    def hit(self, *_args: Any, **_kwargs: Any) -> None:
        self.count += 1

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.count = 0

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-bench-queries", str(self.count).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, counting_send)
