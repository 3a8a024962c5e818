"""Static files: an ASGI app serving a directory safely, as Starlette's and Flask's do."""

from __future__ import annotations

import importlib.resources
import ntpath
import os
import pathlib
import stat
from collections.abc import Sequence
from urllib.parse import quote

from oakling.concurrency import run_in_threadpool
from oakling.exceptions import HTTPException, ImproperlyConfigured
from oakling.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from oakling.types import Message, Receive, Scope, Send

__all__ = ["StaticFiles"]

_ALLOW = {"Allow": "GET, HEAD"}
_WINDOWS = os.name == "nt"


def _package_directory(package: str | tuple[str, str]) -> str:
    """Return the real directory ``static`` (or the given folder) of an installed package."""
    name, folder = (package, "static") if isinstance(package, str) else package
    try:
        files = importlib.resources.files(name)
    except (ModuleNotFoundError, TypeError) as ex:
        raise ImproperlyConfigured(f"StaticFiles: cannot find package {name!r}: {ex}") from ex
    directory = files / folder
    if not isinstance(directory, pathlib.Path):
        # NOTE: a zipped package's files have no path on disk to open.
        raise ImproperlyConfigured(
            f"StaticFiles: package {name!r} is not installed as plain files on disk"
        )
    return str(directory)


def _safe_segments(path: str) -> list[str] | None:
    """Split a request path into names safe to join under a root, or None to refuse.

    SECURITY: ``path`` is ASGI's ``scope["path"]``, which the server has
    already percent-decoded once; it is never decoded again, so a double
    encoded ``%252e%252e`` stays the harmless literal name ``%2e%2e``. Refused:
    ``..`` segments, backslashes (a separator on Windows), NUL bytes (which
    would make ``os.stat`` raise), segments a Windows join would treat as a
    drive (``C:``, refused on every platform so that behaviour is the same
    everywhere), and on Windows any ``:`` (NTFS alternate data streams,
    ``app.py::$DATA``). Empty and ``.`` segments are dropped, so
    ``//etc/passwd`` is ``etc/passwd`` under the root.
    """
    if "\x00" in path or "\\" in path:
        return None
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == ".." or ntpath.splitdrive(segment)[0] or (_WINDOWS and ":" in segment):
            return None
        segments.append(segment)
    return segments


def _inside(root: str, path: str) -> bool:
    """Tell whether the real path ``path`` is ``root`` or below it."""
    path = os.path.normcase(path)
    try:
        return os.path.commonpath((root, path)) == root
    except ValueError:  # NOTE: Windows: different drives.
        return False


def _inside_oakling(scope: Scope) -> bool:
    # NOTE: imported here: standalone use (and the import of this module by
    # App.build) must not depend on the application module.
    from oakling.applications import App

    return isinstance(scope.get("app"), App)


class StaticFiles:
    """Serve the files of a directory (and/or packages) at a mount point.

    Mount it: ``app.mount("/static", StaticFiles(directory="static"), name="static")``.
    The mount strips its prefix, so ``scope["path"]`` is the file's path
    relative to the root (``/css/app.css``); only ``scope["path"]`` is read.
    Files are sent by :class:`~oakling.responses.FileResponse`, so ETags,
    ``If-None-Match``/``If-Modified-Since`` (304) and ``Range`` (206) work.

    Only GET and HEAD are served; other methods get 405 with
    ``Allow: GET, HEAD``. A missing file, a directory (unless ``html``), a
    non-regular file (FIFO, device) and any refused path get 404.

    Errors inside an oakling :class:`~oakling.App` are raised as
    :class:`~oakling.HTTPException` (404, 405), so the app's error handlers
    and negotiated error pages render them. Outside one (mounted in another
    framework, or served on its own), StaticFiles answers them itself with a
    plain-text response: it detects the case from ``scope["app"]``.

    SECURITY: a request can never read outside the roots: ``..``, backslash,
    NUL and drive-letter segments are refused before any file system call
    (see :func:`_safe_segments`), and, unless ``follow_symlinks``, the
    resolved real path (``os.path.realpath``) must lie under the root's, so
    a symbolic link pointing out of the root is a 404 while one pointing
    inside it works. A link swapped in between that check and ``open()``
    needs write access to the root, which is outside this threat model.

    Args:
        directory: The folder to serve.
        packages: Installed packages whose ``static`` folder is served after
            ``directory``, in order; a ``(package, folder)`` pair names another
            folder. The package must be installed as plain files, not zipped.
        html: HTML mode: a directory serves its ``index.html`` (a request
            without the trailing slash is redirected, 307, to add it, as
            nginx does), and a missing file serves ``404.html`` from a root
            with status 404 when there is one.
        check_dir: Check at construction that every folder exists.
        follow_symlinks: Serve links that point outside the roots (for
            example into ``node_modules``); off by default.
        max_age: Send ``Cache-Control: public, max-age=<max_age>`` (seconds).

    Raises:
        ImproperlyConfigured: With neither ``directory`` nor ``packages``, for
            an unknown or zipped package, a negative ``max_age``, or, with
            ``check_dir``, a folder that does not exist.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        packages: Sequence[str | tuple[str, str]] | None = None,
        html: bool = False,
        check_dir: bool = True,
        follow_symlinks: bool = False,
        max_age: int | None = None,
    ) -> None:
        folders: list[str] = []
        if directory is not None:
            folders.append(os.fspath(directory))
        for package in packages or ():
            folders.append(_package_directory(package))
        if not folders:
            raise ImproperlyConfigured("StaticFiles needs a directory or packages to serve")
        if check_dir:
            for folder in folders:
                if not os.path.isdir(folder):
                    raise ImproperlyConfigured(f"StaticFiles: directory {folder!r} does not exist")
        if max_age is not None and max_age < 0:
            raise ImproperlyConfigured("StaticFiles: max_age must be 0 or more seconds")
        self.directory = directory
        self.packages = packages
        self.html = html
        self.follow_symlinks = follow_symlinks
        self.max_age = max_age
        # PERF: roots are resolved once; a request only resolves its own path.
        self.roots = tuple(os.path.normcase(os.path.realpath(folder)) for folder in folders)
        self._headers = (
            {"cache-control": f"public, max-age={max_age}"} if max_age is not None else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await _lifespan(receive, send)
            elif kind == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            response = await self.get_response(scope)
            try:
                await response(scope, receive, watched_send)
            except OSError:
                if started:
                    raise
                # NOTE: the file vanished between the stat and the open.
                raise HTTPException(404) from None
        except HTTPException as ex:
            if _inside_oakling(scope):
                raise
            await PlainTextResponse(str(ex.detail), ex.status_code, ex.headers)(
                scope, receive, send
            )

    async def get_response(self, scope: Scope) -> Response:
        """Return the response for an HTTP scope.

        Returns:
            A :class:`~oakling.responses.FileResponse`, or a redirect (307)
            adding the trailing slash to a directory in ``html`` mode.

        Raises:
            HTTPException: 405 for methods other than GET and HEAD, 404 for
                anything not served.
        """
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(405, headers=_ALLOW)
        path: str = scope["path"]
        segments = _safe_segments(path)
        if segments is None:
            raise HTTPException(404)
        found = await run_in_threadpool(self._lookup, segments)
        if found is None:
            return await self._not_found()
        full_path, result, is_index = found
        if is_index and not path.endswith("/"):
            location = quote(scope.get("root_path", "") + "/" + "/".join(segments) + "/")
            query = scope.get("query_string", b"")
            if query:
                location += "?" + query.decode("latin-1")
            return RedirectResponse(location, 307)
        if not is_index and path.endswith("/"):
            # NOTE: nginx's behaviour: "/app.css/" names a directory that is not there.
            raise HTTPException(404)
        return FileResponse(full_path, headers=self._headers, stat_result=result)

    async def _not_found(self) -> Response:
        if self.html:
            found = await run_in_threadpool(self._find, ["404.html"])
            if found is not None and stat.S_ISREG(found[1].st_mode):
                return FileResponse(
                    found[0], status_code=404, stat_result=found[1], media_type="text/html"
                )
        raise HTTPException(404)

    def _find(self, segments: list[str]) -> tuple[str, os.stat_result] | None:
        """Return the first root's ``(real path, stat)`` for ``segments`` (in a thread)."""
        for root in self.roots:
            candidate = os.path.join(root, *segments)
            try:
                real = os.path.realpath(candidate)
                # SECURITY: a symbolic link anywhere on the way may lead out.
                if not self.follow_symlinks and not _inside(root, real):
                    continue
                return real, os.stat(real)
            except (OSError, ValueError):
                # NOTE: missing, too long, a loop of links, not a directory,
                # or a name the file system cannot encode: all just "not here".
                continue
        return None

    def _lookup(self, segments: list[str]) -> tuple[str, os.stat_result, bool] | None:
        """Return ``(real path, stat, served_as_index)`` for a regular file, or None."""
        found = self._find(segments)
        if found is None:
            return None
        full_path, result = found
        if stat.S_ISREG(result.st_mode):
            return full_path, result, False
        if stat.S_ISDIR(result.st_mode) and self.html:
            index = self._find([*segments, "index.html"])
            if index is not None and stat.S_ISREG(index[1].st_mode):
                return index[0], index[1], True
        return None


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge lifespan events when served on its own (nothing to start)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
