"""The declarative base every oakling model derives from, with stable constraint names."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

__all__ = ["NAMING_CONVENTION", "Model", "bind_key_of"]

#: Constraint and index names, as SQLAlchemy's documentation recommends
#: ("Configuring Constraint Naming Conventions"): every backend then gets the
#: same names, so Alembic can drop or alter a constraint it did not create.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Model(DeclarativeBase):
    """The base class of models: a SQLAlchemy 2 typed declarative base.

    Declare columns with ``Mapped[...]`` and ``mapped_column``. Set
    ``__bind_key__ = "name"`` on a model to keep its table in the named
    database of ``Database(binds={"name": url})`` (Flask-SQLAlchemy's
    convention); the table records the key in ``table.info["bind_key"]``.

    Example::

        class Task(Model):
            __tablename__ = "task"

            id: Mapped[int] = mapped_column(primary_key=True)
            title: Mapped[str] = mapped_column(String(100))
            completed: Mapped[bool] = mapped_column(default=False)
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    __bind_key__: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Map the subclass, then tag its table with the model's bind key."""
        super().__init_subclass__(**kwargs)
        table = cls.__dict__.get("__table__")
        key = cls.__bind_key__
        if isinstance(table, Table) and key is not None:
            table.info["bind_key"] = key


def bind_key_of(table: Any) -> str | None:
    """Return the bind key a table was declared with, None for the default database."""
    info = getattr(table, "info", None)
    if not info:
        return None
    key = info.get("bind_key")
    return key if isinstance(key, str) else None
