"""HTTP caching for views: ``Vary``, ``Cache-Control`` and conditional GET (Django's names).

Middleware sees a response as ``http.response.start`` with a list of
``(name, value)`` byte pairs; :func:`patch_vary_headers`,
:func:`patch_cache_control` and :func:`mark_private` edit that list in
place, as ``django.utils.cache`` edits a Django response. The sessions and
auth batteries use them so that a page that depends on who asked is never
stored by a shared cache.

The decorators (``django.views.decorators.cache`` and ``.http``):
:func:`never_cache`, :func:`cache_control`, and :func:`condition` /
:func:`etag` / :func:`last_modified`, which answer ``304 Not Modified`` and
``412 Precondition Failed`` per RFC 9110 section 13 with the same logic
:class:`~oakling.responses.FileResponse` uses for files.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from oakling.datastructures import MutableHeaders

__all__ = [
    "NEVER_CACHE",
    "Condition",
    "add_never_cache_headers",
    "cache_control",
    "condition",
    "etag",
    "last_modified",
    "mark_private",
    "never_cache",
    "patch_cache_control",
    "patch_vary_headers",
]

Headers = list[tuple[bytes, bytes]]

_F = TypeVar("_F", bound=Callable[..., Any])

#: The ``Cache-Control`` value of :func:`never_cache`: what Django's
#: ``add_never_cache_headers`` sends (less its redundant ``max-age=0`` and
#: ``Expires``, which ``no-store`` already covers).
NEVER_CACHE = "no-cache, no-store, must-revalidate, private"


def patch_vary_headers(headers: Headers, *names: bytes) -> None:
    """Add ``names`` to the ``Vary`` header unless present (RFC 9110 section 12.5.5).

    Args:
        headers: The response's raw header list, edited in place.
        names: Request header names such as ``b"Cookie"``.
    """
    for index, (key, value) in enumerate(headers):
        if key.lower() == b"vary":
            tokens = {token.strip().lower() for token in value.split(b",")}
            if b"*" in tokens:
                return
            missing = [name for name in names if name.lower() not in tokens]
            if missing:
                headers[index] = (key, b", ".join([value, *missing]))
            return
    headers.append((b"vary", b", ".join(names)))


def mark_private(headers: Headers) -> None:
    """Add ``Cache-Control: private`` unless the response set its own.

    RFC 9111 section 5.2.2.7: a shared cache (a CDN, a proxy) must not
    store the response. A view that chose its own policy (``no-store``,
    ``public, max-age=60``) keeps it.
    """
    for key, _value in headers:
        if key.lower() == b"cache-control":
            return
    headers.append((b"cache-control", b"private"))


def add_never_cache_headers(headers: Headers | MutableHeaders) -> None:
    """Set ``Cache-Control`` so that no cache stores or reuses the response.

    Django's ``django.utils.cache.add_never_cache_headers``: ``no-store``
    (no cache may keep it, RFC 9111 section 5.2.2.5), ``no-cache`` and
    ``must-revalidate`` (a copy kept anyway is never served unchecked,
    sections 5.2.2.4 and 5.2.2.2) and ``private`` (never a shared cache,
    section 5.2.2.7). Unlike :func:`mark_private` it replaces a
    ``Cache-Control`` already set: the page must not be cached, whatever
    else asked otherwise.

    Args:
        headers: A response's raw ``(name, value)`` byte list (edited in
            place), or a :class:`~oakling.responses.Response`'s ``headers``
            mapping.
    """
    if isinstance(headers, list):
        headers[:] = [(key, value) for key, value in headers if key.lower() != b"cache-control"]
        headers.append((b"cache-control", NEVER_CACHE.encode("latin-1")))
        return
    headers["cache-control"] = NEVER_CACHE


def _with_never_cache(result: Any) -> Any:
    """Return a handler's ``result`` made to carry the never-cache header.

    A :class:`~oakling.responses.Response` gets the header; any other value
    becomes the ``(body, headers)`` or ``(body, status, headers)`` tuple
    the app coerces as usual, so the route's status code and response class
    still apply.
    """
    from oakling.responses import Response

    if isinstance(result, Response):
        add_never_cache_headers(result.headers)
        return result
    return _with_headers(result, {"cache-control": NEVER_CACHE})


def _tuple_headers(result: Any) -> dict[str, str]:
    if type(result) is tuple and len(result) == 3:
        return _lowered(result[2])
    if type(result) is tuple and len(result) == 2 and not isinstance(result[1], int):
        return _lowered(result[1])
    return {}


def _with_headers(result: Any, extra: dict[str, str]) -> Any:
    """Return a non-Response ``result`` as a tuple carrying ``extra`` headers too."""
    if type(result) is tuple and len(result) == 3:
        body, status, given = result
        return (body, status, {**_lowered(given), **extra})
    if type(result) is tuple and len(result) == 2:
        body, second = result
        if isinstance(second, int):
            return (body, second, extra)
        return (body, {**_lowered(second), **extra})
    return (result, extra)


def _lowered(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {key.lower(): value for key, value in dict(headers or {}).items()}


def never_cache(func: _F) -> _F:
    """Mark every response of the decorated handler as never to be cached.

    Django's ``django.views.decorators.cache.never_cache``: the response
    gets ``Cache-Control: no-cache, no-store, must-revalidate, private``
    (see :func:`add_never_cache_headers`), for pages with credentials,
    one-time links or one user's data that a browser's back button, a
    proxy or a CDN must not keep. Works on sync and async handlers; the
    wrapper keeps the handler's name and signature, so its parameters are
    extracted as before. Put it under the route decorator::

        @app.get("/account")
        @never_cache
        def account(request: Request) -> Response: ...

    Returns:
        The wrapped handler.
    """
    signature = inspect.signature(func)
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return _with_never_cache(await func(*args, **kwargs))

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            return _with_never_cache(func(*args, **kwargs))

        wrapper = sync_wrapper
    # NOTE: kept even if __wrapped__ is changed later (as oakling.auth's decorators do).
    wrapper.__signature__ = signature
    return wrapper  # type: ignore[no-any-return]


# -- Cache-Control ------------------------------------------------------------------


def _directive_text(name: str, value: Any) -> str | None:
    name = name.replace("_", "-").lower()
    if value is True:
        return name
    if value is False or value is None:
        return None
    return f"{name}={value}"


def _parse_cache_control(value: str) -> dict[str, str | bool]:
    directives: dict[str, str | bool] = {}
    for part in value.split(","):
        name, sep, argument = part.strip().partition("=")
        if name:
            directives[name.lower()] = argument.strip() if sep else True
    return directives


def _merged_cache_control(current: str | None, **directives: Any) -> str:
    merged = _parse_cache_control(current or "")
    wanted = {name.replace("_", "-").lower(): value for name, value in directives.items()}
    # NOTE: Django's rule: public and private exclude each other, the new one wins.
    if wanted.get("private"):
        merged.pop("public", None)
    if wanted.get("public"):
        merged.pop("private", None)
    if "max-age" in merged and "max-age" in wanted and wanted["max-age"] is not None:
        # NOTE: Django keeps the smaller max-age when both ask for one.
        try:
            wanted["max-age"] = min(int(str(merged["max-age"])), int(wanted["max-age"]))
        except ValueError:
            pass
    merged.update(wanted)
    parts = [_directive_text(name, value) for name, value in merged.items()]
    return ", ".join(part for part in parts if part)


def patch_cache_control(headers: Headers | MutableHeaders, **directives: Any) -> None:
    """Add or change ``Cache-Control`` directives (Django's ``patch_cache_control``).

    ``max_age=3600`` becomes ``max-age=3600``, ``public=True`` becomes
    ``public``, ``no_transform=False`` removes ``no-transform``. ``public``
    and ``private`` replace each other; of two ``max-age`` values the
    smaller is kept (RFC 9111 section 5.2.2).

    Args:
        headers: A raw ASGI header list (edited in place) or a Response's
            ``headers``.
        **directives: Directive names with underscores, and their values.
    """
    if isinstance(headers, list):
        current = None
        for key, value in headers:
            if key.lower() == b"cache-control":
                current = value.decode("latin-1")
        headers[:] = [(key, value) for key, value in headers if key.lower() != b"cache-control"]
        headers.append(
            (b"cache-control", _merged_cache_control(current, **directives).encode("latin-1"))
        )
        return
    headers["cache-control"] = _merged_cache_control(headers.get("cache-control"), **directives)


def _result_wrapper(func: _F, transform: Callable[[Any], Any]) -> _F:
    """Wrap a sync or async handler so that ``transform(result)`` is returned."""
    signature = inspect.signature(func)
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return transform(await func(*args, **kwargs))

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            return transform(func(*args, **kwargs))

        wrapper = sync_wrapper
    wrapper.__signature__ = signature
    return wrapper  # type: ignore[no-any-return]


def cache_control(**directives: Any) -> Callable[[_F], _F]:
    """Set ``Cache-Control`` directives on a handler's responses (Django's decorator).

    ``@cache_control(max_age=3600, public=True)`` sends ``Cache-Control:
    max-age=3600, public``; see :func:`patch_cache_control` for the
    merging rules. Works on sync and async handlers, under the route
    decorator; a return value that is not a Response keeps the route's
    status code and response class.

    Returns:
        The decorator.
    """

    def transform(result: Any) -> Any:
        from oakling.responses import Response

        if isinstance(result, Response):
            patch_cache_control(result.headers, **directives)
            return result
        given = _tuple_headers(result).get("cache-control")
        return _with_headers(result, {"cache-control": _merged_cache_control(given, **directives)})

    def decorate(func: _F) -> _F:
        return _result_wrapper(func, transform)

    return decorate


# -- conditional GET ----------------------------------------------------------------


def _quote_etag(value: str) -> str:
    """Return ``value`` as an entity tag, quoting it unless it already is."""
    if value.startswith(('"', 'W/"')) and value.endswith('"'):
        return value
    return '"' + value.replace('"', "") + '"'


def _timestamp(value: Any) -> int | None:
    from datetime import datetime

    if value is None:
        return None
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value)


class Condition:
    """Conditional requests for one handler; made by :func:`condition`.

    A decorator (put under the route decorator) and a route middleware
    spec (``@app.get("/", middleware=[condition(...)])``).
    """

    def __init__(
        self,
        etag_func: Callable[..., Any] | None = None,
        last_modified_func: Callable[..., Any] | None = None,
    ) -> None:
        self.etag_func = etag_func
        self.last_modified_func = last_modified_func

    def __call__(self, func: _F) -> _F:
        """Mark ``func``: the route serving it evaluates the preconditions."""
        existing = tuple(getattr(func, "__oakling_middleware__", ()))
        func.__oakling_middleware__ = (*existing, self)  # type: ignore[attr-defined]  # NOTE: read by the route table
        return func

    def build(self, app: Any) -> Any:
        """Return the ASGI wrapper of one route's handler."""
        from oakling.middleware.etag import ConditionalMiddleware

        return ConditionalMiddleware(app, self)


def condition(
    etag_func: Callable[..., Any] | None = None,
    last_modified_func: Callable[..., Any] | None = None,
) -> Condition:
    """Answer conditional requests for a handler (Django's ``condition``).

    ``etag_func(request)`` returns the resource's entity tag (quoted or
    not; None if it has none) and ``last_modified_func(request)`` its
    modification time (a ``datetime`` or POSIX seconds); either may be
    async. They run before the handler: when the request's
    ``If-None-Match`` / ``If-Modified-Since`` match, the answer is ``304``
    without running it; when ``If-Match`` / ``If-Unmodified-Since`` fail
    (a lost update), ``412``. Otherwise the handler runs and its 2xx
    response gets the ``ETag`` and ``Last-Modified`` headers.

    A handler that sets its own ``ETag`` or ``Last-Modified`` (with or
    without the functions) is checked on its response too: a match turns
    it into a 304 (GET/HEAD) or 412. RFC 9110 section 13.2.2's order, the
    same evaluation as for static files.

    Returns:
        A :class:`Condition` (a decorator and a route middleware spec).
    """
    return Condition(etag_func, last_modified_func)


def etag(etag_func: Callable[..., Any]) -> Condition:
    """Answer conditional requests from ``etag_func(request)``; see :func:`condition`."""
    return Condition(etag_func=etag_func)


def last_modified(last_modified_func: Callable[..., Any]) -> Condition:
    """Answer conditional requests from ``last_modified_func(request)``; see :func:`condition`."""
    return Condition(last_modified_func=last_modified_func)
