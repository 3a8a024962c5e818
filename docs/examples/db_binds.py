# docs/examples/db_binds.py
from datetime import datetime

from db_models import Task
from sqlalchemy import String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App
from oakling.db import Database, Model, Session


class PageView(Model):
    __tablename__ = "page_view"
    __bind_key__ = "analytics"  # this table lives in the "analytics" database

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(server_default=func.now())


db = Database(
    "sqlite:///main.db",  # every model without a __bind_key__
    binds={"analytics": "sqlite:///analytics.db"},
)
app = App(debug=True, plugins=[db])


@app.get("/stats/{page:path}")
def stats(page: str, session: Session):  # one session; each model goes to its database
    session.add(PageView(path=page))  # INSERT into analytics.db
    session.flush()
    views = select(func.count()).select_from(PageView).where(PageView.path == page)
    return {
        "views": session.scalar(views),  # read from analytics.db
        "tasks": session.scalar(select(func.count()).select_from(Task)),  # from main.db
    }
