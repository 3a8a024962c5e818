"""Signals: Flask's request signals, Django's auth and model signals, on blinker.

Install with ``pip install 'oakling[signals]'``. blinker is imported when the
first receiver connects, not before, and a signal nobody listens to is
never sent: the senders test one attribute (``signal.on``), so an app
without receivers pays nothing::

    from oakling.signals import post_save, request_finished, user_logged_in


    @user_logged_in.connect
    def remember(sender, request, user, **extra):
        print(f"{user.username} logged in")


    def index_task(sender, instance, created, **extra):
        search.index(instance)  # runs once the transaction committed


    post_save.connect(index_task, sender=Task, after_commit=True)

Receivers take the sender positionally and keyword arguments (accept
``**extra``: new ones may be added). They may be plain functions or
``async def``: a signal sent from async code (the request signals) awaits
async receivers and calls sync ones in place; one sent from sync code
(templates, auth, models) calls sync receivers in place and runs async ones
as a task on the running loop, or to completion when there is none (a sync
handler's worker thread). As in blinker, receivers are held weakly unless
``weak=False``: keep a reference to a receiver defined inside a function.

Signals, their senders and keyword arguments:

=========================  ===============  =====================================
signal                     sender           keyword arguments
=========================  ===============  =====================================
``request_started``        the app          ``scope``
``request_finished``       the app          ``scope``, ``status`` (int, or None)
``got_request_exception``  the app          ``exception``, ``request``
``template_rendered``      the app          ``template``, ``context``
``user_logged_in``         the user class   ``request``, ``user``
``user_logged_out``        the user class   ``request``, ``user`` (None if anonymous)
``user_login_failed``      ``"oakling.auth"``  ``credentials`` (no password), ``request``
``pre_save``/``post_save``  the model class  ``instance``, ``created``, ``session``
``pre_delete``/``post_delete``  the model class  ``instance``, ``session``
=========================  ===============  =====================================
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "ANY",
    "ModelSignal",
    "Signal",
    "got_request_exception",
    "post_delete",
    "post_save",
    "pre_delete",
    "pre_save",
    "request_finished",
    "request_signals",
    "request_started",
    "template_rendered",
    "user_logged_in",
    "user_logged_out",
    "user_login_failed",
]

_F = TypeVar("_F", bound=Callable[..., Any])


class _Any:
    """Any sender (blinker's ``ANY``), usable before blinker is imported."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()


def _blinker() -> Any:
    try:
        import blinker
    except ImportError as ex:
        raise ImportError(
            f"oakling.signals needs blinker to connect receivers ({ex}); install it "
            "with: pip install 'oakling[signals]'"
        ) from ex
    return blinker


def _sender(sender: Any, blinker: Any) -> Any:
    return blinker.ANY if sender is ANY else sender


# NOTE: tasks made for async receivers of signals sent from sync code, kept
# until done so the loop does not drop them.
_tasks: set[asyncio.Task[Any]] = set()


def _async_in_sync(func: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        import asyncio

        coroutine = func(*args, **kwargs)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine)
        task = loop.create_task(coroutine)
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
        return task

    return call


def _sync_in_async(func: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return call


class _Gate:
    """One flag for several signals: whether any of them has receivers."""

    __slots__ = ("members", "on")

    def __init__(self) -> None:
        self.on = False
        self.members: list[Signal] = []

    def refresh(self) -> None:
        self.on = any(member.on for member in self.members)


class Signal:
    """A named signal: blinker's ``Signal``, made on the first ``connect``.

    Attributes:
        name: The signal's name (``"request_started"``).
        on: Whether any receiver is connected; senders test it first, so
            sending to nobody costs one attribute read.
    """

    __slots__ = ("_gate", "_signal", "doc", "name", "on")

    def __init__(self, name: str, doc: str = "", gate: _Gate | None = None) -> None:
        self.name = name
        self.doc = doc
        self.on = False
        self._signal: Any = None
        self._gate = gate
        if gate is not None:
            gate.members.append(self)

    def _ensure(self) -> Any:
        # NOTE: receivers connect at import or startup; under the GIL a race
        # could at worst make a second, unused blinker signal.
        if self._signal is None:
            self._signal = _blinker().Signal(self.doc)
        return self._signal

    def connect(self, receiver: _F, sender: Any = ANY, weak: bool = True) -> _F:
        """Connect ``receiver`` (also a decorator); return it.

        Args:
            receiver: ``func(sender, **kwargs)``, sync or async.
            sender: Only signals from this sender (by identity); default any.
            weak: Hold the receiver weakly (blinker's default): it is
                disconnected when nothing else refers to it.

        Raises:
            ImportError: If blinker is not installed (``oakling[signals]``).
        """
        signal = self._ensure()
        blinker = _blinker()
        signal.connect(receiver, _sender(sender, blinker), weak)
        self.on = True
        if self._gate is not None:
            self._gate.refresh()
        if weak:
            # NOTE: a weakly held receiver may go away by itself.
            signal.receiver_disconnected.connect(self._refresh, sender=signal, weak=False)
        return receiver

    def connect_via(self, sender: Any, weak: bool = False) -> Callable[[_F], _F]:
        """Return a decorator connecting its function for ``sender`` only."""

        def decorator(receiver: _F) -> _F:
            return self.connect(receiver, sender, weak)

        return decorator

    def disconnect(self, receiver: Callable[..., Any], sender: Any = ANY) -> None:
        """Disconnect ``receiver`` (from ``sender`` only, if given)."""
        if self._signal is None:
            return
        self._signal.disconnect(receiver, _sender(sender, _blinker()))
        self._refresh()

    def _refresh(self, *args: Any, **kwargs: Any) -> None:
        self.on = self._signal is not None and bool(self._signal.receivers)
        if self._gate is not None:
            self._gate.refresh()

    @contextmanager
    def connected_to(self, receiver: Callable[..., Any], sender: Any = ANY) -> Iterator[None]:
        """Connect ``receiver`` for the ``with`` block only (for tests)."""
        self.connect(receiver, sender, weak=False)
        try:
            yield
        finally:
            self.disconnect(receiver, sender)

    def has_receivers_for(self, sender: Any) -> bool:
        """Return whether a receiver would get a signal from ``sender``."""
        return self.on and bool(self._signal.has_receivers_for(sender))

    def send(self, sender: Any = None, /, **kwargs: Any) -> list[tuple[Callable[..., Any], Any]]:
        """Call every receiver for ``sender`` from sync code; return ``(receiver, result)``s.

        Async receivers run as a task on the running loop (their result is
        the task), or to completion when no loop runs in this thread.
        Nothing happens, at no cost, when nobody is connected. A receiver's
        exception propagates to the sender, as in blinker and Django's
        ``send`` (catch inside a receiver that must never fail its sender).
        """
        if not self.on:
            return []
        result: list[tuple[Callable[..., Any], Any]] = self._signal.send(
            sender, _async_wrapper=_async_in_sync, **kwargs
        )
        return result

    async def send_async(
        self, sender: Any = None, /, **kwargs: Any
    ) -> list[tuple[Callable[..., Any], Any]]:
        """Call every receiver for ``sender`` from async code, awaiting async ones."""
        if not self.on:
            return []
        result: list[tuple[Callable[..., Any], Any]] = await self._signal.send_async(
            sender, _sync_wrapper=_sync_in_async, **kwargs
        )
        return result

    def __repr__(self) -> str:
        return f"<Signal {self.name}>"


class ModelSignal(Signal):
    """A model signal (Django's ``pre_save`` ...), sent from SQLAlchemy's flush events.

    ``connect(f, sender=Model, after_commit=True)`` delays ``f`` until the
    session's transaction commits: it never sees a change that was rolled
    back (Django's ``transaction.on_commit`` for a signal). The first
    connected receiver registers the listeners on
    ``sqlalchemy.orm.Session`` (sync and async sessions alike); before
    that, flushes pay nothing.
    """

    __slots__ = ("_committed", "committed_on")

    def __init__(self, name: str, doc: str = "") -> None:
        super().__init__(name, doc)
        self._committed = Signal(name + ".after_commit", doc)
        self.committed_on = False

    def connect(
        self, receiver: _F, sender: Any = ANY, weak: bool = True, *, after_commit: bool = False
    ) -> _F:
        """Connect ``receiver``; with ``after_commit`` only once the change commits.

        Raises:
            ImportError: If blinker (``oakling[signals]``) or SQLAlchemy
                (``oakling[db]``) is not installed.
        """
        from oakling import _model_signals

        _model_signals.listen()
        if after_commit:
            self._committed.connect(receiver, sender, weak)
            self.committed_on = True
            if weak:
                self._committed._ensure().receiver_disconnected.connect(
                    self._refresh_committed, sender=self._committed._signal, weak=False
                )
            return receiver
        return super().connect(receiver, sender, weak)

    def _refresh_committed(self, *args: Any, **kwargs: Any) -> None:
        self._committed._refresh()
        self.committed_on = self._committed.on

    def disconnect(self, receiver: Callable[..., Any], sender: Any = ANY) -> None:
        """Disconnect ``receiver`` from both the immediate and the after-commit form."""
        super().disconnect(receiver, sender)
        self._committed.disconnect(receiver, sender)
        self.committed_on = self._committed.on

    @contextmanager
    def connected_to(
        self, receiver: Callable[..., Any], sender: Any = ANY, *, after_commit: bool = False
    ) -> Iterator[None]:
        """Connect ``receiver`` for the ``with`` block only (for tests)."""
        self.connect(receiver, sender, weak=False, after_commit=after_commit)
        try:
            yield
        finally:
            self.disconnect(receiver, sender)

    def send_committed(self, sender: Any = None, /, **kwargs: Any) -> None:
        """Send to the after-commit receivers (called once the commit is done)."""
        if self.committed_on:
            self._committed.send(sender, **kwargs)


# PERF: App.__call__ reads one flag for both request signals.
request_signals = _Gate()
request_started = Signal(
    "request_started", "An HTTP request reached the app (Flask's).", request_signals
)
request_finished = Signal(
    "request_finished", "The app sent the response of an HTTP request (Flask's).", request_signals
)
got_request_exception = Signal(
    "got_request_exception", "An unexpected exception reached the app's 500 handling (Flask's)."
)
template_rendered = Signal("template_rendered", "A template was rendered (Flask's).")
user_logged_in = Signal("user_logged_in", "A user logged in (Django's).")
user_logged_out = Signal("user_logged_out", "A user logged out (Django's).")
user_login_failed = Signal("user_login_failed", "A login attempt failed (Django's).")
pre_save = ModelSignal("pre_save", "A model instance is about to be flushed (Django's).")
post_save = ModelSignal("post_save", "A model instance was flushed (Django's).")
pre_delete = ModelSignal("pre_delete", "A model instance is about to be deleted (Django's).")
post_delete = ModelSignal("post_delete", "A model instance was deleted (Django's).")
