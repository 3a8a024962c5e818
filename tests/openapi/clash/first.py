"""A msgspec ``Item`` whose name another module's classes also use."""

import msgspec


class Item(msgspec.Struct):
    sku: str
