"""Helpers for the oakling.db tests: URLs per backend, models, routes, a TCP proxy.

Every test gets its own tables (a random suffix in their names), so test
runs sharing the ``test`` databases on PostgreSQL and MariaDB don't collide;
the tables are dropped, and removed from ``Model.metadata``, at teardown.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ForeignKey, String, Table, text
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App
from oakling.db import AsyncSession, Database, Model, Session, no_transaction
from oakling.requests import Request
from tests.conftest import database_problem, skip_or_fail

PG_URL = os.environ.get("OAKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("OAKLING_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
BACKENDS = ["sqlite", "postgresql", "mariadb"]


_unreachable = database_problem


def backend_url(backend: str, tmp_path: Any, name: str = "main") -> str:
    """Return the URL of ``backend`` (skipping or failing when it is down)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / (name + '.db')}"
    url = PG_URL if backend == "postgresql" else MARIADB_URL
    problem = _unreachable(url)
    if problem:
        skip_or_fail(problem)
    return url


def define_models(bind_key: str | None = None) -> SimpleNamespace:
    """Define Author and Book models on fresh, uniquely named tables."""
    suffix = uuid.uuid4().hex[:10]
    author_table = f"author_{suffix}"
    attrs_author: dict[str, Any] = {
        "__tablename__": author_table,
        "__annotations__": {"id": Mapped[int], "name": Mapped[str]},
        "id": mapped_column(primary_key=True),
        "name": mapped_column(String(50), unique=True),
    }
    attrs_book: dict[str, Any] = {
        "__tablename__": f"book_{suffix}",
        "__annotations__": {"id": Mapped[int], "title": Mapped[str], "author_id": Mapped[int]},
        "id": mapped_column(primary_key=True),
        "title": mapped_column(String(100)),
        "author_id": mapped_column(ForeignKey(f"{author_table}.id")),
    }
    if bind_key is not None:
        attrs_author["__bind_key__"] = bind_key
        attrs_book["__bind_key__"] = bind_key
    author = type(f"Author_{suffix}", (Model,), attrs_author)
    book = type(f"Book_{suffix}", (Model,), attrs_book)
    return SimpleNamespace(Author=author, Book=book, suffix=suffix)


def create_tables(database: Database, models: SimpleNamespace, bind: str | None = None) -> None:
    tables = [models.Author.__table__, models.Book.__table__]
    Model.metadata.create_all(database.sync_engine(bind), tables=tables)


def drop_tables(database: Database, models: SimpleNamespace, bind: str | None = None) -> None:
    tables: list[Table] = [models.Author.__table__, models.Book.__table__]
    try:
        Model.metadata.drop_all(database.sync_engine(bind), tables=tables)
    finally:
        for table in tables:
            Model.metadata.remove(table)


def count(database: Database, model: Any, bind: str | None = None) -> int:
    """Count ``model``'s committed rows through a fresh connection."""
    with database.sync_engine(bind).connect() as connection:
        return int(
            connection.execute(text(f"SELECT COUNT(*) FROM {model.__tablename__}")).scalar_one()
        )


def make_app(database: Database) -> App:
    """Return an app (not in debug: no tracebacks in answers) with ``database``."""
    return App(plugins=[database], secret_key="db-tests-secret-key-" + "x" * 40, debug=False)


Logic = Callable[[Any, Request], Any]


def add_route(
    app: App,
    flavor: str,
    method: str,
    path: str,
    logic: Logic,
    *,
    transaction: bool = True,
    status_code: int | None = None,
) -> None:
    """Register ``logic(session, request)`` as a sync (Session) or async (AsyncSession) handler.

    The async handler runs the same logic through ``AsyncSession.run_sync``,
    so one test body covers both injected session types and both providers.
    """
    handler: Callable[..., Any]
    if flavor == "sync":

        def sync_handler(request: Request, session: Session) -> Any:
            return logic(session, request)

        handler = sync_handler
    else:

        async def async_handler(request: Request, session: AsyncSession) -> Any:
            return await session.run_sync(logic, request)

        handler = async_handler
    if not transaction:
        handler = no_transaction(handler)
    options: dict[str, Any] = {"name": f"{method} {path}"}
    if status_code is not None:
        options["status_code"] = status_code
    app.add_route(path, handler, [method], **options)


class TcpProxy:
    """A TCP forwarder to a database that a test can cut and restore.

    ``stop()`` closes the listening socket and every forwarded connection
    (the server seems to be gone: refused connects, dead pooled
    connections); ``start()`` listens again on the same port.
    """

    def __init__(self, target: tuple[str, int], port: int | None = None) -> None:
        self.target = target
        if port is None:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            probe.close()
        self.port = port
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self._listener is not None:
            try:
                # NOTE: wakes the thread blocked in accept(); close() alone doesn't.
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            self._serve(client, upstream)

    def _serve(self, client: socket.socket, upstream: socket.socket) -> None:
        """Forward one connection both ways (subclasses change what passes)."""
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
