"""The debug error page: traceback, source and local variables (debug mode only).

``App.error_response`` uses :func:`debug_response` only when ``app.debug`` is
on, the way Django shows its technical 500 page only with ``DEBUG = True``:
the page shows source code and variable values, so it must never be served
in production.
"""

from __future__ import annotations

import html
import linecache
import os
import re
import reprlib
import sysconfig
import traceback
from types import FrameType, TracebackType
from typing import Any

from oakling.requests import HTTPConnection
from oakling.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

__all__ = ["debug_response"]

CONTEXT_LINES = 3
"""Source lines shown before and after the failing line of each frame."""

MAX_REPR = 300
"""Characters of a local variable's ``repr`` shown; longer ones are cut."""

MAX_FRAMES = 100
"""Frames shown per exception; a deeper traceback keeps its first and last ones."""

MAX_LOCALS = 100
"""Local variables shown per frame."""

MAX_CHAIN = 10
"""Exceptions shown in a chain (``__cause__``, ``__context__``, groups)."""

# SECURITY: a debug page can leak through a misconfigured deployment or a
# screenshot; values of locals and headers whose names look secret are masked,
# as Django masks settings with such names on its debug page.
_SENSITIVE_LOCAL = re.compile(
    r"passw|pwd|secret|token|api_?key|private_?key|credential|signature|authorization|"
    r"cookie|csrf",
    re.IGNORECASE,
)
_SENSITIVE_HEADER = re.compile(r"auth|cookie|token|secret|key|pass|csrf|session", re.IGNORECASE)
_MASK = "********"

# SECURITY: even if some value escaped escaping, the page can run no script
# and load nothing from elsewhere.
_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def _library_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    prefixes = {
        os.path.dirname(os.path.abspath(__file__)),
        *(paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths),
    }
    return tuple(os.path.join(prefix, "") for prefix in prefixes)


_LIBRARY_PREFIXES = _library_prefixes()


class _LimitedRepr(reprlib.Repr):
    def repr_instance(self, obj: Any, level: int) -> str:
        try:
            text = repr(obj)
        except Exception as ex:  # noqa: BLE001 - any repr may fail
            return f"<repr failed: {type(ex).__name__}>"
        if len(text) > self.maxother:
            text = text[: self.maxother - 3] + "..."
        return text


def _make_repr() -> reprlib.Repr:
    # PERF: reprlib stops early on big containers and strings instead of
    # building a huge repr only to cut it.
    limited = _LimitedRepr()
    limited.maxlevel = 3
    limited.maxstring = MAX_REPR
    limited.maxother = MAX_REPR
    limited.maxlong = 100
    for attribute in ("maxtuple", "maxlist", "maxarray", "maxdict", "maxset", "maxfrozenset"):
        setattr(limited, attribute, 20)
    return limited


_REPR = _make_repr()


def safe_repr(value: Any) -> str:
    """Return ``repr(value)`` cut to :data:`MAX_REPR` characters; never raise."""
    try:
        text = _REPR.repr(value)
    except Exception as ex:  # noqa: BLE001 - any repr may fail
        return f"<repr failed: {type(ex).__name__}>"
    if len(text) > MAX_REPR:
        text = text[: MAX_REPR - 3] + "..."
    return text


class _Frame:
    __slots__ = ("context", "filename", "function", "library", "lineno", "locals")

    def __init__(self, frame: FrameType, lineno: int) -> None:
        code = frame.f_code
        self.filename = code.co_filename
        self.function = getattr(code, "co_qualname", code.co_name)
        self.lineno = lineno
        self.library = self.filename.startswith(_LIBRARY_PREFIXES) or self.filename.startswith("<")
        self.context = _source_context(self.filename, lineno, frame.f_globals)
        self.locals = _locals(frame)


def _source_context(
    filename: str, lineno: int, module_globals: dict[str, Any]
) -> list[tuple[int, str]]:
    try:
        lines = linecache.getlines(filename, module_globals)
    except Exception:  # noqa: BLE001 - a loader may fail; the frame shows without source
        return []
    first = max(lineno - CONTEXT_LINES, 1)
    last = min(lineno + CONTEXT_LINES, len(lines))
    return [(number, lines[number - 1].rstrip("\r\n")) for number in range(first, last + 1)]


def _locals(frame: FrameType) -> list[tuple[str, str]]:
    try:
        items = list(frame.f_locals.items())
    except Exception:  # noqa: BLE001 - f_locals of an odd frame may fail
        return []
    shown: list[tuple[str, str]] = []
    for name, value in items[:MAX_LOCALS]:
        name = str(name)
        shown.append((name, _MASK if _SENSITIVE_LOCAL.search(name) else safe_repr(value)))
    if len(items) > MAX_LOCALS:
        shown.append(("...", f"{len(items) - MAX_LOCALS} more"))
    return shown


def _frames(tb: TracebackType | None) -> tuple[list[_Frame], int]:
    walked = list(traceback.walk_tb(tb))
    omitted = 0
    if len(walked) > MAX_FRAMES:
        # NOTE: the outermost frames show how the request came in, the
        # innermost where it failed; the middle of a deep recursion adds nothing.
        head = MAX_FRAMES // 10
        omitted = len(walked) - MAX_FRAMES
        walked = walked[:head] + walked[head + omitted :]
    return [_Frame(frame, lineno) for frame, lineno in walked], omitted


def _chain(ex: BaseException) -> list[tuple[str, BaseException]]:
    """Return ``[(how it relates to the one before, exception)]``, the raised one first."""
    found: list[tuple[str, BaseException]] = []
    seen: set[int] = set()
    pending: list[tuple[str, BaseException]] = [("", ex)]
    while pending and len(found) < MAX_CHAIN:
        relation, current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append((relation, current))
        if isinstance(current, BaseExceptionGroup):
            pending.extend(("Contained in the group above", sub) for sub in current.exceptions)
        if current.__cause__ is not None:
            pending.append(("The direct cause of the exception above", current.__cause__))
        elif current.__context__ is not None and not current.__suppress_context__:
            pending.append(("Being handled when the exception above happened", current.__context__))
    return found


def _type_name(ex: BaseException) -> str:
    cls = type(ex)
    module = cls.__module__
    return (
        cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"
    )


def _message(ex: BaseException) -> str:
    try:
        return str(ex)
    except Exception as inner:  # noqa: BLE001 - __str__ of a user exception may fail
        return f"<str() failed: {type(inner).__name__}>"


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#7a1f1f;color:#fff;padding:1rem 1.5rem}
header h1{margin:0 0 .3rem;font-size:1.3rem}header p{margin:0;white-space:pre-wrap}
main{padding:0 1.5rem 2rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.rel{color:#555;font-style:italic;margin-top:2rem}
details{background:#fff;border:1px solid #ddd;border-radius:4px;margin:.4rem 0}
summary{padding:.4rem .6rem;cursor:pointer;font-family:ui-monospace,monospace}
details.lib summary{color:#777}
pre{margin:0;padding:.3rem 0;overflow-x:auto;font:13px/1.45 ui-monospace,monospace}
pre span{display:block;padding:0 .6rem}pre .hl{background:#fde2e2;font-weight:bold}
table{border-collapse:collapse;width:100%;font:13px ui-monospace,monospace}
td{border-top:1px solid #eee;padding:.2rem .6rem;vertical-align:top;word-break:break-all}
td:first-child{width:12rem;color:#555}
.note{color:#777;padding:.4rem 0}
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _frame_html(frame: _Frame) -> str:
    source = "".join(
        f'<span class="hl">{number:>5}  {_esc(line)}</span>'
        if number == frame.lineno
        else f"<span>{number:>5}  {_esc(line)}</span>"
        for number, line in frame.context
    )
    variables = "".join(
        f"<tr><td>{_esc(name)}</td><td>{_esc(value)}</td></tr>" for name, value in frame.locals
    )
    locals_html = (
        f"<details{'' if frame.library else ' open'}><summary>Local variables</summary>"
        f"<table>{variables}</table></details>"
        if variables
        else ""
    )
    return (
        f'<details class="{"lib" if frame.library else "app"}"'
        f"{'' if frame.library else ' open'}>"
        f"<summary>{_esc(frame.filename)}, line {frame.lineno}, in {_esc(frame.function)}"
        f"</summary><pre>{source}</pre>{locals_html}</details>"
    )


def _exception_html(relation: str, ex: BaseException) -> str:
    frames, omitted = _frames(ex.__traceback__)
    parts = []
    if relation:
        parts.append(f'<p class="rel">{_esc(relation)}:</p>')
    parts.append(f"<h2>{_esc(_type_name(ex))}: {_esc(_message(ex))}</h2>")
    if not frames:
        parts.append('<p class="note">No traceback.</p>')
    head = MAX_FRAMES // 10
    for index, frame in enumerate(frames):
        if omitted and index == head:
            parts.append(f'<p class="note">... {omitted} frames omitted ...</p>')
        parts.append(_frame_html(frame))
    return "".join(parts)


def _request_html(conn: HTTPConnection) -> str:
    scope = conn.scope
    target = scope.get("root_path", "") + scope.get("path", "")
    query = scope.get("query_string", b"")
    if query:
        target += "?" + query.decode("latin-1")
    rows = [f"<tr><td>{_esc(scope.get('method', 'WEBSOCKET'))}</td><td>{_esc(target)}</td></tr>"]
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1")
        value = _MASK if _SENSITIVE_HEADER.search(name) else raw_value.decode("latin-1")
        rows.append(f"<tr><td>{_esc(name)}</td><td>{_esc(value)}</td></tr>")
    return (
        "<h2>Request</h2><details><summary>Request line and headers</summary>"
        f"<table>{''.join(rows)}</table></details>"
    )


def _page(conn: HTTPConnection, ex: BaseException) -> str:
    title = f"{_type_name(ex)} at {conn.scope.get('path', '')}"
    body = "".join(_exception_html(relation, item) for relation, item in _chain(ex))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_esc(_type_name(ex))}</h1><p>{_esc(_message(ex))}</p></header>"
        f"<main>{body}{_request_html(conn)}"
        '<p class="note">You see this page because the app runs with debug on. '
        "Never turn debug on in production: this page shows source code and "
        "variable values.</p></main></body></html>"
    )


def _traceback_lines(ex: BaseException) -> list[str]:
    return "".join(traceback.format_exception(ex)).splitlines()


def _wants_json(conn: HTTPConnection) -> bool:
    # NOTE: the same negotiation as the default error pages: HTML only for
    # clients that prefer it (browsers); ties and no Accept get JSON.
    try:
        return conn.accepts("application/json", "text/html") != "text/html"
    except Exception:  # noqa: BLE001 - a broken Accept header must not break the page
        return True


def debug_response(conn: HTTPConnection, ex: BaseException) -> Response:
    """Return a 500 response describing ``ex`` in full, for development.

    Browsers (clients preferring ``text/html``) get an HTML page: the
    exception's type and message, then each frame (file, line, function,
    source lines around the failing one, local variables with ``repr`` cut
    to :data:`MAX_REPR` characters), chained exceptions, and the request's
    headers. Every value is HTML-escaped, and a ``Content-Security-Policy``
    forbids scripts. Locals and headers whose names look secret
    (``password``, ``token``, ``Authorization``, ``Cookie`` ...) are masked.
    Other clients get ``{"detail": "Type: message", "exception": "Type",
    "traceback": [lines of the formatted traceback]}``.

    This never raises: if building the page fails, the answer is the plain
    text traceback (or, failing that too, a bare 500).
    """
    try:
        if _wants_json(conn):
            return JSONResponse(
                {
                    "detail": f"{_type_name(ex)}: {_message(ex)}",
                    "exception": _type_name(ex),
                    "traceback": _traceback_lines(ex),
                },
                500,
                _HEADERS,
            )
        return HTMLResponse(_page(conn, ex), 500, _HEADERS)
    except Exception:  # noqa: BLE001 - the debug page must not fail the error path
        try:
            return PlainTextResponse("\n".join(_traceback_lines(ex)), 500, _HEADERS)
        except Exception:  # noqa: BLE001
            return PlainTextResponse("Internal Server Error", 500, _HEADERS)
