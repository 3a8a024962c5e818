# docs/examples/signals_app.py
import logging

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App
from oakling.db import Database, Model, Session
from oakling.signals import post_save, request_finished

log = logging.getLogger("tasks.audit")
INDEXED: list[str] = []  # a stand-in for a search index


class Note(Model):
    __tablename__ = "signals_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(100))


def index_note(sender, instance, created, **extra):
    INDEXED.append(instance.text)  # runs after COMMIT: never a rolled-back note


post_save.connect(index_note, sender=Note, after_commit=True)


@request_finished.connect
def log_status(sender, scope, status, **extra):
    log.info("%s %s -> %s", scope["method"], scope["path"], status)


database = Database("sqlite:///:memory:")
app = App(debug=True, plugins=[database])
app.on_startup(database.create_all)


@app.post("/notes")
def add_note(session: Session, text: str = "") -> dict[str, str]:
    if not text:
        session.add(Note(text="(empty)"))
        session.flush()
        raise ValueError("empty note")  # a 500: the transaction rolls back
    session.add(Note(text=text))
    return {"added": text}
