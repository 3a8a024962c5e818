"""Pure ASGI middleware shipped with oakling, and the spec that builds a stack.

Each middleware is a plain ASGI app wrapping another:
``__init__(self, app, ...)`` and ``async def __call__(self, scope, receive,
send)``. Apps don't build them directly; they list :class:`Middleware` specs,
built once at startup, outermost first::

    app = App(middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=[".example.com"]),
        Middleware(CORSMiddleware, allow_origins=["https://app.example.com"]),
        Middleware(GZipMiddleware),
    ])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from oakling.middleware.cors import CORSMiddleware
from oakling.middleware.gzip import GZipMiddleware
from oakling.middleware.trustedhost import TrustedHostMiddleware
from oakling.types import ASGIApp

__all__ = ["CORSMiddleware", "GZipMiddleware", "Middleware", "TrustedHostMiddleware"]


class Middleware:
    """A middleware class and its options, to be built around an app later.

    Starlette's ``Middleware`` spec: ``Middleware(CORSMiddleware,
    allow_origins=["https://example.com"])``. It unpacks as ``cls, args,
    kwargs = spec``.

    Args:
        cls: Any callable taking the wrapped app first and returning an
            ASGI app (usually a middleware class).
        *args: Positional options passed after the app.
        **kwargs: Keyword options.
    """

    __slots__ = ("args", "cls", "kwargs")

    def __init__(self, cls: Callable[..., ASGIApp], *args: Any, **kwargs: Any) -> None:
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def __iter__(self) -> Iterator[Any]:
        return iter((self.cls, self.args, self.kwargs))

    def build(self, app: ASGIApp) -> ASGIApp:
        """Return ``cls(app, *args, **kwargs)``: the middleware wrapping ``app``.

        Raises:
            Whatever the middleware's constructor raises for bad options
            (``ValueError`` for the shipped ones).
        """
        return self.cls(app, *self.args, **self.kwargs)

    def __repr__(self) -> str:
        options = [repr(arg) for arg in self.args]
        options += [f"{key}={value!r}" for key, value in self.kwargs.items()]
        name = getattr(self.cls, "__name__", repr(self.cls))
        return f"Middleware({', '.join([name, *options])})"
