"""How cached values become bytes: msgspec's MessagePack (default) or pickle.

Integers are stored as their decimal digits whatever the serializer, so that
``incr``/``decr`` are atomic in the store (Redis ``INCRBY``) and a counter
reads the same from every backend (Django's ``RedisSerializer`` does this).
"""

from __future__ import annotations

import pickle
import re
from typing import Any, Protocol, runtime_checkable

import msgspec

from oakling.exceptions import ImproperlyConfigured

__all__ = [
    "MsgspecSerializer",
    "PickleSerializer",
    "Serializer",
    "get_serializer",
]

_INTEGER = re.compile(rb"-?[0-9]{1,40}")


@runtime_checkable
class Serializer(Protocol):
    """Turns a value into bytes and back (``dumps``/``loads``, pickle's names)."""

    def dumps(self, value: Any) -> bytes:
        """Return ``value`` as bytes.

        Raises:
            TypeError: If the value cannot be serialized.
        """

    def loads(self, data: bytes) -> Any:
        """Return the value ``data`` holds.

        Raises:
            ValueError: If ``data`` is not a value this serializer wrote.
        """


class MsgspecSerializer:
    """MessagePack through msgspec: safe on any bytes, fast, the default.

    Holds what JSON holds plus bytes and datetimes: ``None``, bools, ints,
    floats, str, bytes, lists, dicts, ``datetime``/``date``/``time``,
    ``uuid.UUID``, ``decimal.Decimal`` (as a string), msgspec Structs and
    dataclasses (as dicts). Tuples and sets come back as lists. Decoding
    never runs code, whatever the bytes: a store a client could write to
    (a value echoed from a request, a Redis reachable from elsewhere) cannot
    turn into code execution.
    """

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder()

    def dumps(self, value: Any) -> bytes:
        """Return ``value`` as MessagePack.

        Raises:
            TypeError: For a type MessagePack cannot hold (a class instance).
        """
        try:
            return self._encoder.encode(value)
        except (msgspec.EncodeError, TypeError) as ex:
            raise TypeError(
                f"cannot cache a {type(value).__name__} with the msgspec serializer ({ex}); "
                "store plain data, or give this cache SERIALIZER='pickle' if no client can "
                "influence what it holds"
            ) from None

    def loads(self, data: bytes) -> Any:
        """Return the value of MessagePack ``data``.

        Raises:
            ValueError: If ``data`` is not MessagePack.
        """
        try:
            return self._decoder.decode(data)
        except msgspec.DecodeError as ex:
            raise ValueError(str(ex)) from None


class PickleSerializer:
    """Pickle: any Python object; only for data no client can influence.

    # SECURITY: unpickling runs code named by the bytes. Anyone who can write
    # to the store (or make the app store bytes they chose under a key the
    # app later reads) can run code in every worker. oakling's own page and
    # fragment caches never use it (they store bytes and str through msgspec).
    """

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def dumps(self, value: Any) -> bytes:
        """Return ``value`` pickled."""
        return pickle.dumps(value, self.protocol)

    def loads(self, data: bytes) -> Any:
        """Return the unpickled value.

        Raises:
            ValueError: If ``data`` is not a pickle.
        """
        try:
            return pickle.loads(data)  # noqa: S301 - opt-in, see the class doc
        except Exception as ex:  # noqa: BLE001 - any unpickling error is a bad value
            raise ValueError(f"not a pickle: {type(ex).__name__}") from None


def get_serializer(name: str | Serializer | None) -> Serializer:
    """Return the serializer named ``"msgspec"`` (default) or ``"pickle"``, or ``name`` itself.

    Raises:
        ImproperlyConfigured: For another name or an object without dumps/loads.
    """
    if name is None or name == "msgspec":
        return MsgspecSerializer()
    if name == "pickle":
        return PickleSerializer()
    if isinstance(name, str):
        raise ImproperlyConfigured(f"cache SERIALIZER must be 'msgspec' or 'pickle', not {name!r}")
    if not isinstance(name, Serializer):
        raise ImproperlyConfigured(f"{name!r} is not a serializer (it needs dumps and loads)")
    return name


def encode(serializer: Serializer, value: Any) -> bytes:
    """Return ``value`` as stored bytes: digits for an int, else the serializer's bytes."""
    if type(value) is int:
        return str(value).encode("ascii")
    return serializer.dumps(value)


def decode(serializer: Serializer, data: bytes) -> Any:
    """Return the value stored as ``data`` (see :func:`encode`).

    Raises:
        ValueError: If the serializer cannot read ``data``.
    """
    # NOTE: unambiguous: MessagePack and pickle output never starts with an
    # ASCII digit or '-' except MessagePack's one-byte ints, never stored.
    if _INTEGER.fullmatch(data) is not None:
        return int(data)
    return serializer.loads(data)
