"""Models the admin tests register: authors and their books (label ``shop``)."""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import Date, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from oakling.db import Model


class Genre(enum.Enum):
    NOVEL = "novel"
    POETRY = "poetry"
    ESSAY = "essay"


class Author(Model):
    __tablename__ = "shop_author"
    __permission_label__ = "shop"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    secret_note: Mapped[str] = mapped_column(String(100), default="")

    def __str__(self) -> str:
        return self.name


class Book(Model):
    __tablename__ = "shop_book"
    __permission_label__ = "shop"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    is_published: Mapped[bool] = mapped_column(default=False)
    genre: Mapped[Genre] = mapped_column(Enum(Genre, length=20), default=Genre.NOVEL)
    author_id: Mapped[int] = mapped_column(ForeignKey("shop_author.id", ondelete="CASCADE"))
    published_on: Mapped[date | None] = mapped_column(Date, default=None)
    pages: Mapped[int | None] = mapped_column(default=None)
    link: Mapped[str | None] = mapped_column(String(300), default=None)

    author: Mapped[Author] = relationship()

    def __str__(self) -> str:
        return self.title


class Shelf(Model):
    __tablename__ = "shop_shelf"
    __permission_label__ = "shop"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    items: Mapped[list[ShelfItem]] = relationship(back_populates="shelf")

    def __str__(self) -> str:
        return self.name


class ShelfItem(Model):
    __tablename__ = "shop_shelf_item"
    __permission_label__ = "shop"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    shelf_id: Mapped[int] = mapped_column(ForeignKey("shop_shelf.id", ondelete="CASCADE"))
    book_id: Mapped[int | None] = mapped_column(ForeignKey("shop_book.id"), default=None)
    shelf: Mapped[Shelf] = relationship(back_populates="items")
    book: Mapped[Book | None] = relationship()

    def __str__(self) -> str:
        return self.label
