"""The model the REST tests serve: one of each kind of column the schemas map."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Date, DateTime, Enum, ForeignKey, SmallInteger, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

import oakling.auth.models  # noqa: F401 - the foreign key names auth_user
from oakling.db import Model


class Colour(enum.Enum):
    red = "red"
    green = "green"


class Note(Model):
    __tablename__ = "rest_note"
    __permission_label__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100), info={"help_text": "What the note says"})
    body: Mapped[str | None] = mapped_column(Text, doc="Free text")
    priority: Mapped[int] = mapped_column(SmallInteger, default=0)
    done: Mapped[bool] = mapped_column(default=False)
    due: Mapped[dt.date | None] = mapped_column(Date)
    colour: Mapped[Colour] = mapped_column(Enum(Colour), default=Colour.red)
    code: Mapped[str | None] = mapped_column(String(20), unique=True)
    secret: Mapped[str | None] = mapped_column(String(50))
    created: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("auth_user.id", ondelete="CASCADE"))
