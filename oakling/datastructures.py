"""Containers for HTTP data: headers, multi-valued params, URLs, uploads, state."""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, Sequence
from typing import IO, Any, NamedTuple, TypeVar, overload
from urllib.parse import SplitResult, urlsplit

__all__ = [
    "URL",
    "Address",
    "FormData",
    "Headers",
    "MultiDict",
    "MutableHeaders",
    "QueryParams",
    "State",
    "UploadFile",
]

_T = TypeVar("_T")


class Address(NamedTuple):
    """A peer's host and port, as the server reported them."""

    host: str
    port: int


class MultiDict(Mapping[str, str]):
    """An immutable mapping where a key may hold several values, in order.

    ``md[key]`` and ``md.get(key)`` give the *last* value (what a form's single
    field means when repeated, as in Django's ``QueryDict``); ``getlist(key)``
    gives them all.
    """

    __slots__ = ("_dict", "_list")

    def __init__(self, items: Iterable[tuple[str, Any]] | Mapping[str, Any] = ()) -> None:
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        self._list: list[tuple[str, Any]] = pairs
        self._dict: dict[str, Any] = dict(pairs)

    def __getitem__(self, key: str) -> Any:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def getlist(self, key: str) -> list[Any]:
        """Return every value of ``key`` in arrival order (empty if absent)."""
        return [value for name, value in self._list if name == key]

    def multi_items(self) -> list[tuple[str, Any]]:
        """Return all ``(key, value)`` pairs, repeated keys included."""
        return list(self._list)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultiDict):
            return sorted(self._list) == sorted(other._list)
        return NotImplemented

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list!r})"


class QueryParams(MultiDict):
    """The query string's parameters, percent-decoded (``?tag=a&tag=b``)."""

    __slots__ = ()

    @classmethod
    def from_bytes(cls, raw: bytes) -> QueryParams:
        """Parse a raw query string; invalid UTF-8 is replaced, never raised.

        The rules are ``urllib.parse.parse_qsl``'s with ``keep_blank_values``:
        pairs split on ``&``, ``+`` is a space, ``%XX`` is decoded as UTF-8.
        """
        text = raw.decode("latin-1")
        pairs: list[tuple[str, Any]]
        if "%" in text or "+" in text:
            from urllib.parse import parse_qsl

            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace")
        else:
            # PERF: nothing to unquote (the usual case): a split, without
            # parse_qsl's per-component unquoting; the result is the same.
            pairs = [part.partition("=")[::2] for part in text.split("&") if part]
        query = cls.__new__(cls)
        query._list = pairs
        query._dict = dict(pairs)
        return query


class FormData(MultiDict):
    """Parsed form fields: strings, and :class:`UploadFile` for file parts."""

    __slots__ = ()

    async def close(self) -> None:
        """Close every uploaded file's spooled storage."""
        for _, value in self._list:
            if isinstance(value, UploadFile):
                await value.close()


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued, read-only HTTP headers.

    Built from ASGI's raw ``[(name, value), ...]`` byte pairs, decoded as
    latin-1 (RFC 9110 section 5.5). ``headers["accept"]`` gives the first value;
    ``getlist`` all of them, and repeated headers are never merged silently.
    """

    __slots__ = ("_index", "raw")

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        raw: Sequence[tuple[bytes, bytes]] | None = None,
    ) -> None:
        if raw is None:
            raw = [
                (key.lower().encode("latin-1"), value.encode("latin-1"))
                for key, value in (headers or {}).items()
            ]
        self.raw = raw
        self._index: dict[str, list[str]] | None = None

    def _build(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for key, value in self.raw:
            index.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        self._index = index
        return index

    def _scan(self, key: str) -> str | None:
        # PERF: a handful of lookups scan the raw pairs (names are lower case
        # in ASGI) instead of decoding every header into an index first.
        wanted = key.lower().encode("latin-1")
        for name, value in self.raw:
            if name == wanted or name.lower() == wanted:
                return value.decode("latin-1")
        return None

    def __getitem__(self, key: str) -> str:
        if self._index is None:
            value = self._scan(key)
            if value is None:
                raise KeyError(key)
            return value
        return self._index[key.lower()][0]

    def get(self, key: str, default: Any = None) -> Any:  # noqa: D102
        if self._index is None:
            value = self._scan(key)
            return default if value is None else value
        values = self._index.get(key.lower())
        return values[0] if values else default

    def getlist(self, key: str) -> list[str]:
        """Return every value of header ``key`` in arrival order."""
        index = self._index if self._index is not None else self._build()
        return list(index.get(key.lower(), ()))

    def __contains__(self, key: object) -> bool:
        index = self._index if self._index is not None else self._build()
        return isinstance(key, str) and key.lower() in index

    def __iter__(self) -> Iterator[str]:
        index = self._index if self._index is not None else self._build()
        return iter(index)

    def __len__(self) -> int:
        index = self._index if self._index is not None else self._build()
        return len(index)

    def keys(self) -> KeysView[str]:  # noqa: D102
        index = self._index if self._index is not None else self._build()
        return index.keys()

    def items(self) -> ItemsView[str, str]:  # noqa: D102
        index = self._index if self._index is not None else self._build()
        return {key: values[0] for key, values in index.items()}.items()

    def __repr__(self) -> str:
        pairs = [(key.decode("latin-1"), value.decode("latin-1")) for key, value in self.raw]
        return f"{type(self).__name__}({pairs!r})"


class MutableHeaders(Headers):
    """Response headers that can be changed; writes go to the raw list.

    ``headers["x"] = v`` replaces every ``x`` header; ``append`` adds one more
    (what ``Set-Cookie`` needs).
    """

    __slots__ = ()

    raw: list[tuple[bytes, bytes]]

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        super().__init__(raw=raw)

    def _build(self) -> dict[str, list[str]]:
        # NOTE: never cached, because the raw list changes under us.
        index: dict[str, list[str]] = {}
        for key, value in self.raw:
            index.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        return index

    def __setitem__(self, key: str, value: str) -> None:
        name = key.lower().encode("latin-1")
        self.raw[:] = [pair for pair in self.raw if pair[0] != name]
        self.raw.append((name, value.encode("latin-1")))

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1")
        self.raw[:] = [pair for pair in self.raw if pair[0] != name]

    def append(self, key: str, value: str) -> None:
        """Add a header without removing earlier ones of the same name."""
        self.raw.append((key.lower().encode("latin-1"), value.encode("latin-1")))

    def setdefault(self, key: str, value: str) -> str:
        """Set ``key`` unless present; return the value in force."""
        current = self.get(key)
        if current is None:
            self.append(key, value)
            return value
        return str(current)

    def add_vary_header(self, value: str) -> None:
        """Add ``value`` to ``Vary`` unless listed (every ``Vary`` header is read).

        ``Vary: *`` already covers everything and is left alone (RFC 9110
        section 12.5.5).
        """
        names = [item.strip() for header in self.getlist("vary") for item in header.split(",")]
        names = [name for name in names if name]
        lowered = {name.lower() for name in names}
        if "*" in lowered or value.lower() in lowered:
            return
        self["vary"] = ", ".join([*names, value])


class URL:
    """A parsed URL, with the parts a handler asks for.

    Args:
        url: An absolute URL or a path with optional query.
    """

    __slots__ = ("_parts", "_url")

    def __init__(self, url: str) -> None:
        self._url = url
        self._parts: SplitResult | None = None

    @property
    def _split(self) -> SplitResult:
        if self._parts is None:
            self._parts = urlsplit(self._url)
        return self._parts

    scheme = property(lambda self: self._split.scheme)
    netloc = property(lambda self: self._split.netloc)
    path = property(lambda self: self._split.path)
    query = property(lambda self: self._split.query)
    fragment = property(lambda self: self._split.fragment)
    hostname = property(lambda self: self._split.hostname)
    port = property(lambda self: self._split.port)

    @property
    def is_secure(self) -> bool:
        """Whether the scheme is ``https`` or ``wss``."""
        return self.scheme in ("https", "wss")

    def replace(self, **parts: str) -> URL:
        """Return a copy with some of scheme, netloc, path, query, fragment replaced."""
        return URL(self._split._replace(**parts).geturl())

    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"URL({self._url!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self._url)


class State:
    """An attribute bag for app-wide or per-request values (``request.state.user``)."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_values", values if values is not None else {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"state has no attribute {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._values[name] = value

    def __delattr__(self, name: str) -> None:
        del self._values[name]

    def __contains__(self, name: str) -> bool:
        return name in self._values

    @overload
    def get(self, name: str) -> Any: ...
    @overload
    def get(self, name: str, default: _T) -> Any | _T: ...
    def get(self, name: str, default: Any = None) -> Any:
        """Return attribute ``name`` or ``default``."""
        return self._values.get(name, default)


class UploadFile:
    """An uploaded file, kept in memory up to a size and on disk above it.

    Args:
        filename: The name the client gave, untrusted (never use it as a path).
        content_type: The part's declared media type, untrusted.
        headers: The part's own headers.
        max_memory: Bytes kept in memory before spooling to a temporary file
            (Django's ``FILE_UPLOAD_MAX_MEMORY_SIZE``, 2.5 MiB by default).
    """

    def __init__(
        self,
        filename: str | None,
        content_type: str = "application/octet-stream",
        headers: Headers | None = None,
        max_memory: int = 2_621_440,
    ) -> None:
        self.filename = filename
        self.content_type = content_type
        self.headers = headers or Headers()
        self.size = 0
        import tempfile

        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=max_memory)

    @property
    def in_memory(self) -> bool:
        """Whether the content is still held in memory (not rolled to disk)."""
        return not getattr(self.file, "_rolled", True)

    def write_sync(self, data: bytes) -> None:
        """Append ``data`` (used by the parser)."""
        self.size += len(data)
        self.file.write(data)

    async def write(self, data: bytes) -> None:
        """Append ``data``."""
        self.write_sync(data)

    async def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all by default) from the current position."""
        return self.file.read(size)

    async def seek(self, offset: int) -> None:
        """Move to byte ``offset``."""
        self.file.seek(offset)

    async def close(self) -> None:
        """Release the spooled storage."""
        self.file.close()

    def __repr__(self) -> str:
        return (
            f"UploadFile(filename={self.filename!r}, size={self.size}, "
            f"content_type={self.content_type!r})"
        )
