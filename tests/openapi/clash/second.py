"""Another msgspec ``Item``, and a pydantic ``Item`` nesting a pydantic ``Tag``."""

import msgspec
import pydantic


class Item(msgspec.Struct):
    count: int


class Tag(pydantic.BaseModel):
    label: str


class PydanticItem(pydantic.BaseModel):
    price: float
    tags: list[Tag] = []


PydanticItem.__name__ = "Item"  # NOTE: as a pydantic model named Item in its own module would be
PydanticItem.__qualname__ = "Item"


class Tag2(msgspec.Struct):
    colour: str


Tag2.__name__ = "Tag"
Tag2.__qualname__ = "Tag"
