"""The typed case's body as a pydantic model (FastAPI, BlackSheep)."""

from pydantic import BaseModel

__all__ = ["Item"]


class Item(BaseModel):
    """The typed case's body: ``{name: str, price: float, tags: list[str]}``."""

    name: str
    price: float
    tags: list[str]
