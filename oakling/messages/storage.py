"""Messages kept in the session until they are shown, once."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from markupsafe import Markup, escape

from oakling.types import Scope

from .constants import DEFAULT_TAGS, INFO

__all__ = ["SESSION_KEY", "Message", "MessageStorage"]

#: The session key holding unread messages (Django's cookie/session storage
#: uses ``_messages`` too).
SESSION_KEY = "_messages"

_SCOPE_KEY = "oakling.messages"


class Message:
    """One message: its level, text, extra tags and category.

    Shown in a template as ``{{ message }}`` it is escaped, unless the text
    was marked safe with :class:`markupsafe.Markup` when it was added (the
    mark survives the trip through the session). Django's
    ``django.contrib.messages.storage.base.Message``.

    Attributes:
        level: An int, :data:`~oakling.messages.INFO` (20) and so on.
        message: The text: a ``str``, or a ``Markup`` if it was marked safe.
        extra_tags: Space-separated tags given when it was added.
        level_tag: The Flask category (``"error"``, ``"message"``) or the
            level's tag (``"success"``).
    """

    __slots__ = ("extra_tags", "level", "level_tag", "message")

    def __init__(
        self, level: int, message: str, extra_tags: str = "", level_tag: str | None = None
    ) -> None:
        self.level = level
        self.message = message
        self.extra_tags = extra_tags
        self.level_tag = level_tag if level_tag is not None else DEFAULT_TAGS.get(level, "")

    @property
    def tags(self) -> str:
        """Extra tags then the level tag, space separated (for a CSS class)."""
        return " ".join(tag for tag in (self.extra_tags, self.level_tag) if tag)

    @property
    def category(self) -> str:
        """Flask's name for :attr:`level_tag`."""
        return self.level_tag

    def __str__(self) -> str:
        return str(self.message)

    def __html__(self) -> str:
        # SECURITY: the text is escaped in templates unless it was marked safe.
        return str(escape(self.message))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self.level == other.level and self.message == other.message

    def __hash__(self) -> int:
        return hash((self.level, str(self.message)))

    def __repr__(self) -> str:
        return f"Message(level={self.level}, message={str(self.message)!r})"

    def _dump(self) -> list[Any]:
        return [
            self.level,
            str(self.message),
            self.extra_tags,
            isinstance(self.message, Markup),
            self.level_tag,
        ]

    @classmethod
    def _load(cls, item: Any) -> Message | None:
        # NOTE: the session is trusted (signed or server-side), but a record
        # of an older shape must not break the page.
        if not isinstance(item, list) or len(item) != 5:
            return None
        level, text, extra_tags, safe, tag = item
        if not isinstance(level, int) or not isinstance(text, str):
            return None
        return cls(level, Markup(text) if safe is True else text, str(extra_tags), str(tag))


def _session_of(scope: Scope) -> Any:
    session = scope.get("session")
    if session is None:
        raise RuntimeError(
            "messages are kept in the session: install the sessions battery before "
            "Messages (App(plugins=[Sessions(), Messages()]))"
        )
    return session


class MessageStorage:
    """The messages of one request: ``get_messages(request)`` (Django's storage).

    Iterating it yields the messages the session holds (added by earlier
    requests, or earlier in this one) and removes them from the session, so
    each is shown once; iterating again in the same request yields the same
    ones. ``len()`` and ``bool()`` count them without marking them shown, as
    in Django (``{% if messages %}``).

    Attributes:
        level: The minimum level recorded (``MESSAGE_LEVEL``, default INFO).
        used: Whether the messages were iterated (so they are gone).
    """

    __slots__ = ("_loaded", "_scope", "level", "tags", "used")

    def __init__(self, scope: Scope, level: int = INFO, tags: Mapping[int, str] = DEFAULT_TAGS):
        self._scope = scope
        self._loaded: list[Message] | None = None
        self.level = level
        self.tags = tags
        self.used = False

    def add(
        self, level: int, message: str, extra_tags: str = "", level_tag: str | None = None
    ) -> bool:
        """Queue a message for the next page shown; return whether it was kept.

        A level under :attr:`level` is dropped (Django's ``MESSAGE_LEVEL``).

        Raises:
            TypeError: If ``message`` is not a string.
            RuntimeError: If the request has no session.
        """
        if not isinstance(message, str):
            raise TypeError(f"a message is a str (or markupsafe.Markup), not {type(message)!r}")
        if level < self.level:
            return False
        tag = level_tag if level_tag is not None else self.tags.get(level, "")
        session = _session_of(self._scope)
        pending = list(session.get(SESSION_KEY) or ())
        pending.append(Message(level, message, extra_tags, tag)._dump())
        session[SESSION_KEY] = pending
        return True

    def _take(self) -> list[Message]:
        loaded = self._loaded if self._loaded is not None else []
        session = self._scope.get("session")
        if session is not None and SESSION_KEY in session:
            for item in session.pop(SESSION_KEY) or ():
                message = Message._load(item)
                if message is not None:
                    loaded.append(message)
        self._loaded = loaded
        return loaded

    def _peek(self) -> int:
        count = len(self._loaded or ())
        session = self._scope.get("session")
        if session is not None:
            count += len(session.get(SESSION_KEY) or ())
        return count

    def __iter__(self) -> Iterator[Message]:
        self.used = True
        return iter(list(self._take()))

    def __len__(self) -> int:
        return self._peek()

    def __bool__(self) -> bool:
        return self._peek() > 0

    def __repr__(self) -> str:
        return f"<MessageStorage {self._peek()} message(s)>"


def storage_for(
    scope: Scope, level: int = INFO, tags: Mapping[int, str] = DEFAULT_TAGS
) -> MessageStorage:
    """Return the request's :class:`MessageStorage`, made on first use."""
    storage: MessageStorage | None = scope.get(_SCOPE_KEY)
    if storage is None:
        storage = scope[_SCOPE_KEY] = MessageStorage(scope, level, tags)
    return storage
