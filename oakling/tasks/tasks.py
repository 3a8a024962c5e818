"""``@task``: a function run later, with its arguments checked when it is enqueued.

A task is a plain function (``def`` or ``async def``) registered by name. Its
arguments are validated against the function's annotations with msgspec when
the task is enqueued, so a wrong argument fails in the request that enqueued
it, not minutes later in a worker. Celery's ``@shared_task`` and Django 6.0's
``@task`` have the same shape; neither checks arguments before sending.
"""

from __future__ import annotations

import inspect
import threading
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

import msgspec

from .outbox import submit

if TYPE_CHECKING:
    from .results import TaskResult

__all__ = [
    "Task",
    "TaskArgumentsError",
    "TaskOptions",
    "registry",
    "task",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

# NOTE: the names of the injected parameter types, matched by class name so
# that a task module needs no SQLAlchemy import to be inspected.
_SESSION_TYPES = {"Session", "RoutingSession", "AsyncSession"}
_IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0b6b4e-3f52-4cf1-9d7e-0a4f6c1b2e11")


class TaskArgumentsError(ValueError):
    """The arguments given to ``enqueue``/``delay`` do not match the task's annotations.

    Raised at enqueue time, in the caller. In a request it is answered 422
    with FastAPI's body (``{"detail": [{"loc": ["task", name, field],
    "msg": ..., "type": "task_arguments"}]}``) by the Tasks plugin.

    Attributes:
        task_name: The task's registered name.
        errors: ``[{"loc": [...], "msg": ..., "type": ...}]``, one per problem.
    """

    def __init__(self, task_name: str, errors: list[dict[str, Any]]) -> None:
        self.task_name = task_name
        self.errors = errors
        shown = "; ".join(f"{'.'.join(map(str, err['loc'][2:]))}: {err['msg']}" for err in errors)
        super().__init__(f"bad arguments for task {task_name!r}: {shown}")


@dataclass(frozen=True)
class TaskOptions:
    """How a task is run (Celery's task options, under their Celery names).

    Attributes:
        retries: How many times a failed run is tried again (``max_retries``).
        retry_backoff: Seconds before the first retry; each further retry
            waits twice as long as the one before (``retry_backoff``).
        retry_backoff_max: The longest wait between two tries, in seconds.
        retry_on: The exception classes that cause a retry (``autoretry_for``);
            any other error fails the task at once.
        time_limit: Seconds a run may take before it is stopped and counts
            as failed (``TimeoutError``); None for no limit.
        queue: The broker queue its messages go to (Celery's ``queue``).
        schedule: Run it periodically: seconds between runs, or a
            ``celery.schedules.crontab``; run by ``oakling beat`` (Celery
            beat), or by the in-process scheduler when the app has no broker.
        idempotency_ttl: Seconds an idempotency key is remembered.
    """

    retries: int = 0
    retry_backoff: float = 1.0
    retry_backoff_max: float = 600.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    time_limit: float | None = None
    queue: str | None = None
    schedule: Any = None
    idempotency_ttl: float = 86400.0

    def backoff(self, attempt: int) -> float:
        """Return the seconds to wait before retry number ``attempt`` (1-based)."""
        return float(min(self.retry_backoff * (2 ** (attempt - 1)), self.retry_backoff_max))


@dataclass
class _Signature:
    """The checked parts of a task's signature, resolved on first use."""

    struct: type[msgspec.Struct]
    names: list[str]
    injected: dict[str, str] = field(default_factory=dict)  # name -> "sync" | "async"
    positional: list[str] = field(default_factory=list)


class Task(Generic[_P, _R]):
    """A registered task; call it to run it now, ``enqueue`` to run it later.

    Args:
        func: The function, ``def`` or ``async def``. Parameters annotated
            ``Session`` or ``AsyncSession`` (``oakling.db``) are not sent:
            the runner gives them a session in a transaction per run,
            committed when the function returns, rolled back when it raises.
            A parameter annotated ``App`` gets the app the task runs for
            (its settings, extensions and ``state``).
        name: The registered name; default ``module.qualname``.
        options: How it runs (:class:`TaskOptions`).
    """

    def __init__(self, func: Callable[_P, _R], name: str, options: TaskOptions) -> None:
        self.func = func
        self.name = name
        self.options = options
        self.is_async = inspect.iscoroutinefunction(func)
        self.__doc__ = func.__doc__
        self.__wrapped__ = func
        self._signature: _Signature | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Run the function now, in the caller (Celery's ``task(...)``)."""
        return self.func(*args, **kwargs)

    # -- arguments ------------------------------------------------------------

    def signature(self) -> _Signature:
        """Return the checked signature (resolved once, on first use).

        Raises:
            TypeError: When an annotation cannot be resolved or validated.
        """
        sig = self._signature
        if sig is not None:
            return sig
        with self._lock:
            if self._signature is None:
                self._signature = _build_signature(self)
            return self._signature

    def validate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> msgspec.Struct:
        """Return the arguments bound and checked against the annotations.

        ORM objects and dataclasses are read by attribute into Struct
        parameters (``from_attributes``); types are strict (``"5"`` is not
        an ``int``), as msgspec's ``convert(strict=True)``.

        Raises:
            TaskArgumentsError: For missing, unexpected or mistyped arguments.
        """
        sig = self.signature()
        bound: dict[str, Any] = {}
        if len(args) > len(sig.positional):
            raise TaskArgumentsError(
                self.name,
                [
                    {
                        "loc": ["task", self.name],
                        "msg": f"takes {len(sig.positional)} positional arguments "
                        f"but {len(args)} were given",
                        "type": "task_arguments",
                    }
                ],
            )
        for name, value in zip(sig.positional, args, strict=False):
            bound[name] = value
        for name, value in kwargs.items():
            if name in bound or name not in sig.names:
                what = "got multiple values for" if name in bound else "got an unexpected"
                raise TaskArgumentsError(
                    self.name,
                    [
                        {
                            "loc": ["task", self.name, name],
                            "msg": f"{what} argument {name!r}",
                            "type": "task_arguments",
                        }
                    ],
                )
            bound[name] = value
        try:
            return msgspec.convert(bound, sig.struct, strict=True, from_attributes=True)
        except msgspec.ValidationError as ex:
            raise TaskArgumentsError(self.name, [_error(self.name, ex)]) from None

    def load(self, payload: Any) -> msgspec.Struct:
        """Return arguments from a message's JSON payload (the worker's side).

        Raises:
            TaskArgumentsError: When the payload does not match (a message
                sent by an older version of the task).
        """
        try:
            return msgspec.convert(payload, self.signature().struct, strict=False)
        except msgspec.ValidationError as ex:
            raise TaskArgumentsError(self.name, [_error(self.name, ex)]) from None

    # -- enqueueing -----------------------------------------------------------

    # NOTE: typed loosely: injected parameters (Session, App) are in the
    # function's signature but never passed to enqueue; msgspec checks the rest.
    def enqueue(self, *args: Any, **kwargs: Any) -> TaskResult:
        """Validate the arguments and send the task to the app's backend.

        Keyword arguments starting with an underscore are options, not the
        task's: ``_idempotency_key`` (a string: a second enqueue with the
        same key, while the first is remembered, is dropped and returns the
        first's result handle), ``_countdown`` (seconds to wait before
        running). In a request the task is held until the request's
        transaction commits (dropped on rollback or a 5xx); elsewhere it is
        sent at once (see :mod:`oakling.tasks.outbox`).

        Returns:
            A :class:`~oakling.tasks.TaskResult` handle (its ``id`` is known at once).

        Raises:
            TaskArgumentsError: When the arguments do not match the annotations.
            oakling.exceptions.ServiceUnavailable: When the broker is known
                to be down (503 + ``Retry-After`` in a request).
        """
        options: dict[str, Any] = {
            key: kwargs.pop(key) for key in list(kwargs) if key.startswith("_")
        }
        idempotency_key: str | None = options.pop("_idempotency_key", None)
        countdown: float | None = options.pop("_countdown", None)
        if options:
            raise TypeError(f"unknown enqueue options: {sorted(options)}")
        values = self.validate(args, kwargs)
        return submit(self, values, idempotency_key=idempotency_key, countdown=countdown)

    def delay(self, *args: Any, **kwargs: Any) -> TaskResult:
        """Enqueue with these arguments (Celery's ``delay``; see :meth:`enqueue`)."""
        return self.enqueue(*args, **kwargs)

    def task_id(self, idempotency_key: str | None) -> str:
        """Return a new task id, or the one an idempotency key always gives."""
        if idempotency_key is None:
            return str(uuid.uuid4())
        return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{self.name}\x00{idempotency_key}"))


def _error(task_name: str, ex: msgspec.ValidationError) -> dict[str, Any]:
    message = str(ex)
    loc: list[Any] = ["task", task_name]
    if " - at `$." in message:
        message, _, path = message.partition(" - at `$.")
        loc.extend(part for part in path.rstrip("`").replace("[", ".").replace("]", "").split("."))
    elif message.startswith("Object missing required field"):
        loc.append(message.rpartition("`")[0].rpartition("`")[2])
    return {"loc": loc, "msg": message, "type": "task_arguments"}


def _build_signature(task: Task[Any, Any]) -> _Signature:
    func = task.func
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as ex:  # noqa: BLE001 - say which task
        raise TypeError(f"task {task.name!r}: cannot resolve its annotations: {ex}") from ex
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    names: list[str] = []
    positional: list[str] = []
    injected: dict[str, str] = {}
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"task {task.name!r}: *args and **kwargs cannot be checked")
        annotation = hints.get(param.name, Any)
        kind = _injected_kind(annotation)
        if kind is not None:
            injected[param.name] = kind
            continue
        names.append(param.name)
        if param.kind is not param.KEYWORD_ONLY:
            positional.append(param.name)
        if param.default is param.empty:
            fields.append((param.name, annotation))
        else:
            fields.append((param.name, annotation, param.default))
    try:
        struct = msgspec.defstruct(
            f"{func.__name__}_arguments", fields, forbid_unknown_fields=True, kw_only=True
        )
        # NOTE: a type with no JSON form (msgspec would pass it through as a
        # custom type) fails here, not when a worker receives it.
        msgspec.json.schema(struct)
    except TypeError as ex:
        raise TypeError(f"task {task.name!r}: unsupported annotation: {ex}") from ex
    return _Signature(struct=struct, names=names, injected=injected, positional=positional)


def _injected_kind(annotation: Any) -> str | None:
    if not isinstance(annotation, type):
        return None
    if annotation.__name__ == "App" and annotation.__module__ == "oakling.applications":
        return "app"
    if annotation.__name__ not in _SESSION_TYPES:
        return None
    module = annotation.__module__
    if not module.startswith(("sqlalchemy", "oakling.db")):
        return None
    return "async" if annotation.__name__ == "AsyncSession" else "sync"


class _Registry(dict[str, Task[Any, Any]]):
    """Every task defined in the process, by name (Celery's shared tasks)."""

    def add(self, task: Task[Any, Any]) -> None:
        existing = self.get(task.name)
        if existing is not None and existing.func is not task.func:
            # NOTE: a module imported twice (tests, reloads) redefines its tasks.
            if existing.func.__qualname__ != task.func.__qualname__:
                raise ValueError(f"two tasks are named {task.name!r}")
        self[task.name] = task


registry = _Registry()


@overload
def task(func: Callable[_P, _R], /) -> Task[_P, _R]: ...


@overload
def task(
    *,
    name: str | None = None,
    retries: int = 0,
    retry_backoff: float = 1.0,
    retry_backoff_max: float = 600.0,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    time_limit: float | None = None,
    queue: str | None = None,
    schedule: Any = None,
    idempotency_ttl: float = 86400.0,
) -> Callable[[Callable[_P, _R]], Task[_P, _R]]: ...


def task(
    func: Callable[_P, _R] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    retry_backoff: float = 1.0,
    retry_backoff_max: float = 600.0,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    time_limit: float | None = None,
    queue: str | None = None,
    schedule: Any = None,
    idempotency_ttl: float = 86400.0,
) -> Task[_P, _R] | Callable[[Callable[_P, _R]], Task[_P, _R]]:
    """Make ``func`` a task: ``@task`` or ``@task(retries=3, time_limit=30)``.

    Celery's ``@shared_task`` and Django's ``@task``; the options are
    :class:`TaskOptions` (Celery's names). A periodic task takes no
    arguments without defaults and gets ``schedule`` (seconds or a crontab).

    Raises:
        ValueError: When another function already has this name.
    """
    options = TaskOptions(
        retries=retries,
        retry_backoff=retry_backoff,
        retry_backoff_max=retry_backoff_max,
        retry_on=retry_on,
        time_limit=time_limit,
        queue=queue,
        schedule=schedule,
        idempotency_ttl=idempotency_ttl,
    )

    def decorate(function: Callable[_P, _R]) -> Task[_P, _R]:
        made = Task(function, name or f"{function.__module__}.{function.__qualname__}", options)
        registry.add(made)
        return made

    if func is not None:
        return decorate(func)
    return decorate
