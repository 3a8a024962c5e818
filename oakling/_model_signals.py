"""SQLAlchemy flush and commit events -> ``pre_save``, ``post_save`` and the rest.

Registered on ``sqlalchemy.orm.Session`` (so on every sync session and on
the sync session inside every ``AsyncSession``) by the first receiver of a
model signal, never before: a flush in an app without receivers runs no
listener at all.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["listen"]

_FLUSHING = "oakling.signals.flushing"
_PENDING = "oakling.signals.pending"

_lock = threading.Lock()
_listening = False


def listen() -> None:
    """Register the session listeners, once per process.

    Raises:
        ImportError: If SQLAlchemy is not installed (``oakling[db]``).
    """
    global _listening
    if _listening:
        return
    with _lock:
        if _listening:
            return
        try:
            from sqlalchemy import event
            from sqlalchemy.orm import Session
        except ImportError as ex:
            raise ImportError(
                f"model signals need SQLAlchemy ({ex}); install it with: pip install 'oakling[db]'"
            ) from ex
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
        event.listen(Session, "after_soft_rollback", _after_soft_rollback)
        _listening = True


def _changes(session: Any) -> list[tuple[str, Any, bool]]:
    found: list[tuple[str, Any, bool]] = []
    for instance in session.new:
        found.append(("save", instance, True))
    for instance in session.dirty:
        # NOTE: dirty holds every instance with a set attribute, changed or not.
        if session.is_modified(instance, include_collections=False):
            found.append(("save", instance, False))
    for instance in session.deleted:
        found.append(("delete", instance, False))
    return found


def _any_receivers() -> bool:
    from oakling.signals import post_delete, post_save, pre_delete, pre_save

    return any(
        signal.on or signal.committed_on
        for signal in (pre_save, post_save, pre_delete, post_delete)
    )


def _before_flush(session: Any, flush_context: Any, instances: Any) -> None:
    from oakling.signals import pre_delete, pre_save

    if not _any_receivers():
        return
    changes = _changes(session)
    for kind, instance, created in changes:
        if kind == "save":
            pre_save.send(type(instance), instance=instance, created=created, session=session)
        else:
            pre_delete.send(type(instance), instance=instance, session=session)
    if pre_save.on:
        # NOTE: a pre_save receiver may have added or changed instances.
        changes = _changes(session)
    session.info[_FLUSHING] = changes


def _after_flush(session: Any, flush_context: Any) -> None:
    from oakling.signals import post_delete, post_save

    changes = session.info.pop(_FLUSHING, None)
    if not changes:
        return
    pending = session.info.setdefault(_PENDING, [])
    for kind, instance, created in changes:
        if kind == "save":
            post_save.send(type(instance), instance=instance, created=created, session=session)
            if post_save.committed_on:
                pending.append((post_save, instance, created))
        else:
            post_delete.send(type(instance), instance=instance, session=session)
            if post_delete.committed_on:
                pending.append((post_delete, instance, False))


def _after_commit(session: Any) -> None:
    from oakling.signals import post_save

    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    for signal, instance, created in pending:
        kwargs: dict[str, Any] = {"instance": instance, "session": session}
        if signal is post_save:
            kwargs["created"] = created
        signal.send_committed(type(instance), **kwargs)


def _after_rollback(session: Any) -> None:
    # SECURITY: after-commit receivers never see a change that was rolled back.
    session.info.pop(_PENDING, None)
    session.info.pop(_FLUSHING, None)


def _after_soft_rollback(session: Any, previous_transaction: Any) -> None:
    # NOTE: a rolled-back savepoint discards what it flushed; without
    # per-savepoint bookkeeping, every pending change is dropped: a receiver
    # may miss a change, but never sees one that did not commit.
    if previous_transaction.nested or previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
