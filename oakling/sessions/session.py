"""The per-request session: a dict of JSON values, loaded lazily, saved once."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backends import SessionBackend

__all__ = ["Session", "SessionTooLarge", "new_session_key"]


class SessionTooLarge(RuntimeError):
    """A cookie session grew past what browsers keep (4093 bytes of ``Set-Cookie``).

    Browsers silently drop a larger cookie, which would log users out at
    random; oakling refuses to send it instead, so the request fails loudly
    (a logged 500) and the fix is clear: keep less in the session, or use
    the Redis or database backend, which keep only an id in the cookie.
    """


def new_session_key() -> str:
    """Return a new random session id: 32 random bytes, URL-safe base64 (43 chars)."""
    return secrets.token_urlsafe(32)


def _check_json(key: str, value: Any) -> None:
    """Raise TypeError naming ``key`` when ``value`` is not JSON-serialisable."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as ex:
        raise TypeError(
            f"session[{key!r}] is not JSON-serialisable ({ex}); store only str, int, "
            "float, bool, None, and lists and dicts of those (e.g. an id, not a model)"
        ) from None


def encode_data(data: dict[str, Any]) -> str:
    """Return ``data`` as compact JSON.

    Raises:
        TypeError: Naming the first key whose value is not JSON-serialisable
            (a value mutated in place after it was set, such as a list that
            got a ``datetime`` appended).
    """
    try:
        return json.dumps(data, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        for key, value in data.items():
            _check_json(key, value)
        raise


class Session(MutableMapping[str, Any]):
    """The session of one request: ``request.session`` (Flask's ``session``).

    A mutable mapping of string keys to JSON-serialisable values, loaded
    from the backend on first access (the cookie backend) or before the
    handler runs when the request carries a session cookie (server-side
    backends), and saved when the response starts, only if it changed.

    Changes made inside a stored value (``session["cart"].append(3)``) are
    not seen: assign the key again or set ``session.modified = True``, as in
    Django and Flask.

    Attributes:
        accessed: Whether the handler read or wrote the session (the
            response then gets ``Vary: Cookie``).
        modified: Whether the session must be saved (settable).
        load_error: What the backend raised when the middleware loaded the
            session (its store was down), else None. It is raised again on
            the first read, so only requests that use the session fail (a
            503); the others, static files say, are served as usual.
    """

    __slots__ = (
        "_backend",
        "_cookie",
        "_data",
        "_key",
        "_loaded",
        "_max_age",
        "_stale_keys",
        "accessed",
        "flushed",
        "load_error",
        "modified",
    )

    def __init__(self, backend: SessionBackend, cookie: str | None, max_age: int) -> None:
        """Create an unloaded session.

        Args:
            backend: Where the session data lives.
            cookie: The session cookie the client sent, or None.
            max_age: The session lifetime, in seconds.
        """
        self._backend = backend
        self._cookie = cookie or None
        self._max_age = max_age
        self._data: dict[str, Any] = {}
        self._key: str | None = None
        self._loaded = self._cookie is None
        self._stale_keys: list[str] = []
        self.accessed = False
        self.modified = False
        self.flushed = False
        self.load_error: BaseException | None = None

    # -- loading --------------------------------------------------------------

    async def load(self) -> None:
        """Load the data from the backend, once; harmless to call again.

        A cookie that is unknown, expired, forged or unreadable gives an
        empty session with no id: it is never an error.
        """
        if self._loaded:
            return
        loaded = await self._backend.load(self._cookie or "", self._max_age)
        self._adopt(loaded)

    def _load_now(self) -> None:
        if self._loaded:
            return
        if self.load_error is not None:
            raise self.load_error
        decode = getattr(self._backend, "decode", None)
        if decode is None:
            raise RuntimeError(
                "the session was not loaded: call `await request.session.load()` first "
                "(the sessions middleware loads server-side sessions before the handler)"
            )
        self._adopt(decode(self._cookie or "", self._max_age))

    def _adopt(self, loaded: tuple[str, dict[str, Any]] | None) -> None:
        self._loaded = True
        if loaded is None:
            # SECURITY: an id the server does not know is never adopted
            # (session fixation): a new one is made when the session is saved.
            self._key = None
            self._data = {}
        else:
            self._key, self._data = loaded

    @property
    def _mapping(self) -> dict[str, Any]:
        self.accessed = True
        if not self._loaded:
            self._load_now()
        return self._data

    # -- the mapping ----------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        """Return the value stored under ``key``."""
        return self._mapping[key]

    def __setitem__(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``.

        Raises:
            TypeError: If ``key`` is not a string or ``value`` is not
                JSON-serialisable (the message names the key).
        """
        if not isinstance(key, str):
            raise TypeError(f"session keys must be strings, not {type(key).__name__}")
        _check_json(key, value)
        self._mapping[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        """Remove ``key``."""
        del self._mapping[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        """Iterate over the keys."""
        return iter(self._mapping)

    def __len__(self) -> int:
        """Return the number of keys."""
        return len(self._mapping)

    def __contains__(self, key: object) -> bool:
        """Return whether ``key`` is in the session."""
        return key in self._mapping

    def clear(self) -> None:
        """Remove every key (the id stays; use :meth:`flush` at logout)."""
        if self._mapping:
            self._data.clear()
            self.modified = True

    def __repr__(self) -> str:
        """Show the data if loaded."""
        shown = repr(self._data) if self._loaded else "(not loaded)"
        return f"<Session {shown}>"

    # -- lifecycle ------------------------------------------------------------

    @property
    def session_key(self) -> str | None:
        """The session's id; None while it has none (new, or flushed).

        For server-side backends, the id in the cookie; for the cookie
        backend, a random marker inside the signed data that changes with
        :meth:`cycle_key`.
        """
        if not self._loaded:
            self._load_now()
        return self._key

    def cycle_key(self) -> None:
        """Give the session a new id, keeping its data (call at login).

        The old server-side record is deleted when the response is sent;
        for the cookie backend the new marker changes the cookie value.
        Django's ``cycle_key()``; it defeats session fixation.
        """
        data = self._mapping
        if self._key is not None:
            self._stale_keys.append(self._key)
        self._key = new_session_key()
        self._data = data
        self.modified = True

    def flush(self) -> None:
        """Drop the data and the id (call at logout): Django's ``flush()``.

        The server-side record is deleted and the cookie too, unless data
        is set again in the same request (it is then saved under a new id).
        """
        self._mapping.clear()
        if self._key is not None:
            self._stale_keys.append(self._key)
        self._key = None
        self.flushed = True
        self.modified = True

    # -- saving (used by the middleware) --------------------------------------

    @property
    def had_cookie(self) -> bool:
        """Whether the request carried a session cookie."""
        return self._cookie is not None

    async def commit(self) -> str | None:
        """Save a modified session; return the new cookie value.

        Returns:
            The value to set, ``""`` when the cookie must be deleted, or
            None when nothing changes for the client.

        Raises:
            TypeError: If a value is not JSON-serialisable (naming the key).
        """
        if not self.modified:
            return None
        for stale in self._stale_keys:
            await self._backend.delete(stale)
        self._stale_keys.clear()
        if not self._data:
            if self._key is not None:
                await self._backend.delete(self._key)
                self._key = None
            return "" if (self._cookie is not None or self.flushed) else None
        encode_data(self._data)  # NOTE: the clear TypeError before any backend call
        if self._key is None:
            self._key = new_session_key()
        return await self._backend.save(self._key, self._data, self._max_age)
