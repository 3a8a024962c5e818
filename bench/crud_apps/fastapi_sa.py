"""FastAPI + SQLAlchemy async, as FastAPI's SQL tutorial writes it.

``SessionDep = Annotated[AsyncSession, Depends(get_session)]``, pydantic
models with ``from_attributes`` as ``response_model``s, ``select(...).limit``
for the list, ``add`` + ``commit`` + ``refresh`` for the create.
"""

import os
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

KIND = "asgi"
DSN = os.environ.get("CRUD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
POOL_SIZE = 8

engine = create_async_engine(
    DSN.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=POOL_SIZE, max_overflow=0
)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class Task(Base):
    __tablename__ = "bench_crud_task"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    completed: Mapped[bool] = mapped_column(default=False)


class TaskCreate(BaseModel):
    title: str = Field(max_length=100)
    completed: bool = False


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    completed: bool


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

app = FastAPI()


@app.get("/tasks", response_model=list[TaskPublic])
async def list_tasks(session: SessionDep, offset: int = 0, limit: int = 50) -> list[Task]:
    result = await session.scalars(select(Task).order_by(Task.id).offset(offset).limit(limit))
    return list(result.all())


@app.post("/tasks", response_model=TaskPublic, status_code=201)
async def create_task(task: TaskCreate, session: SessionDep) -> Task:
    row = Task(**task.model_dump())
    session.add(row)
    await session.commit()
    await session.refresh(row)
    return row
