# docs/examples/db_transactions.py
from db_models import Task
from sqlalchemy.exc import IntegrityError

from oakling import App, abort
from oakling.db import Database, Session, no_transaction
from oakling.responses import JSONResponse

app = App(debug=True, plugins=[Database()])


@app.post("/tasks/fail")
def add_then_fail(session: Session):
    session.add(Task(title="never saved"))
    session.flush()  # the INSERT ran, inside the request's transaction
    abort(400, "changed my mind")  # a 4xx exception: rolled back all the same


@app.post("/tasks/upstream")
def add_then_502(session: Session):
    session.add(Task(title="never saved either"))
    return JSONResponse({"detail": "upstream failed"}, 502)  # 5xx returned: rolled back


@app.post("/tasks/import")
def import_tasks(titles: list[str], session: Session):  # ?titles=a&titles=b
    imported, skipped = [], []
    for title in titles:
        try:
            with session.begin_nested():  # SAVEPOINT: undo this row only
                session.add(Task(title=title, project_id=999 if title == "orphan" else None))
        except IntegrityError:  # project 999 does not exist
            skipped.append(title)
        else:
            imported.append(title)
    return {"imported": imported, "skipped": skipped}  # committed once, at the end


@app.post("/tasks/batch")
@no_transaction  # below @app.post: the handler commits by itself
def batch(count: int, session: Session):
    for number in range(count):
        session.add(Task(title=f"batch {number}"))
        if number % 100 == 99:
            session.commit()  # commit every 100 rows: each batch survives a later failure
    session.commit()
    return {"added": count}
