# docs/examples/tasks_app.py
import msgspec

from oakling import App
from oakling.db import Database, Session
from oakling.tasks import Tasks, task

SENT: list[str] = []


class Welcome(msgspec.Struct):
    email: str
    name: str


@task(retries=3, retry_backoff=2.0, time_limit=30)
def send_welcome(welcome: Welcome) -> str:
    SENT.append(welcome.email)  # a real app sends a mail here
    return welcome.email


# TASKS_BROKER_URL (OAKLING_TASKS_BROKER_URL) picks the backend:
# unset: in-process, after the response (not durable);
# amqp://... or redis://...: Celery, run by `oakling worker`.
app = App(debug=True, plugins=[Database("sqlite:///:memory:"), Tasks()])


@app.post("/signup")
def signup(email: str, name: str, session: Session) -> dict[str, str]:
    # ... session.add(User(...)) ...
    handle = send_welcome.enqueue(Welcome(email=email, name=name))
    # Checked now (a bad argument is a 422 here, not an error in a worker);
    # sent only once this request's transaction commits, dropped on rollback.
    return {"task_id": handle.id}
