"""Patch ``Vary`` and ``Cache-Control`` on raw ASGI headers (Django's names).

Middleware sees a response as ``http.response.start`` with a list of
``(name, value)`` byte pairs; these helpers edit that list in place, as
``django.utils.cache.patch_vary_headers`` and ``patch_cache_control`` edit a
Django response. The sessions and auth batteries use them so that a page
that depends on who asked is never stored by a shared cache.
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
    "add_never_cache_headers",
    "mark_private",
    "never_cache",
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
    extra = {"cache-control": NEVER_CACHE}
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
