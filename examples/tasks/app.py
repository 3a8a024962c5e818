"""The Tasks demo: HTML pages, a JSON API and a live feed, one list per user.

``oakling demo`` serves it; so does ``uvicorn --factory examples.tasks.app:create_app``.
Tasks are stored with ``oakling.db``: in ``tasks-demo.db`` (SQLite, in the
current folder) unless ``OAKLING_DATABASE_URL`` names another database, e.g.
``postgresql://postgres@127.0.0.1:5432/test`` or ``mysql://root@127.0.0.1:3306/test``.
At startup the database is migrated to the latest revision of
``examples/tasks/migrations``, so the first start creates the tables and later
ones keep the data.

It is also the acceptance app of oakling's security batteries, all installed
in their documented order (``Database``, ``Sessions``, ``Auth``, ``CSRF``,
``Security``):

- people sign up, log in and out on the auth battery's pages (``/auth/...``,
  restyled by ``templates/auth/base.html``); every page but those needs a
  login (anonymous visitors are sent to the login page with ``?next=``);
- each user sees and changes only their own tasks: the repository is made
  for the logged-in user and filters every query by owner, so another
  user's task is a 404, like a task that does not exist; the live feed only
  sends a user their own changes. Tasks stored before migration ``0002``
  (when tasks had no owner) belong to nobody and are shown to nobody;
- every form carries a CSRF token (``{{ csrf_input() }}``); titles are
  escaped by Jinja's autoescape; responses carry the security battery's
  headers and a strict Content-Security-Policy (:data:`POLICY`: the demo's
  own scripts and styles only), and a Host not in ``ALLOWED_HOSTS`` is 400;
- the JSON API takes the logged-in session (then CSRF applies: send the
  token in ``X-CSRFToken``) or ``Authorization: Bearer <token>``, a token
  made in the page's "API token" section, with the scopes ``tasks:read``
  (GET) and ``tasks:write`` (everything else). Without either: 401.

Pages and endpoints:

- ``GET /``: the user's list, with a form to add a task and buttons to toggle
  or delete one (each form posts, then redirects back with 303:
  post/redirect/get), and the user's API tokens;
- ``/api/tasks``: the same tasks as JSON (list, create, read, update, delete),
  rate-limited per token (``API_RATE_LIMIT``, 600 a minute by default);
- ``GET /api/summary``: how many tasks the user has and how many are done,
  kept in the app's cache (``oakling.cache``, memory by default, Redis with
  ``OAKLING_REDIS_URL`` or ``OAKLING_CACHES``) until a change deletes it;
- ``GET /healthz``: ``ok``, with no login: the load balancer's health check;
- ``GET /events``: server-sent events announcing each change of the user's
  tasks, so every open tab of theirs updates when another one (or an API
  client) changes something. The feed is a channel per user
  (``oakling.channels``): in memory by default, on Redis pub/sub with
  ``OAKLING_CHANNELS_URL=redis://...``, so that with several workers or hosts
  a page hears the changes made through every one of them.

It runs with no configuration at all: the secret key is ``OAKLING_SECRET_KEY``
when set, else a random one made for each process (logins are signed with
it, so everyone is logged out when the server restarts);
``ALLOWED_HOSTS`` is the setting when set, else the local names
(:data:`LOCAL_HOSTS`); password-reset mails are printed to the console
unless ``OAKLING_EMAIL_BACKEND`` says otherwise.

Sessions are server-side: rows of ``oakling_session`` in the demo's database
(:data:`SESSION_BACKEND`, created by migration ``0003``), so logging out
ends a session for good, and a copy of the cookie is worth nothing
afterwards. "Log out everywhere" (the auth battery's ``auth:logout_all``,
a button next to "Log out") ends every session of the account, on every
device; API tokens keep working until revoked on the page.

Each request runs in one transaction (``oakling.db``'s default): committed
when the handler returns, rolled back when it fails. A change is announced on
the live feed only once it is committed: handlers hand it to
:class:`Announcer`, which enqueues the :func:`announce` task
(``oakling.tasks``): a task enqueued in a request leaves only once the
request's transaction has committed, and is dropped when it rolls back. A
change that is rolled back (or whose commit fails) is never announced. The
tasks run in-process by default (after the response, not durable); with
``OAKLING_TASKS_BROKER_URL`` they go through Celery to ``oakling worker``.

Scaled out (several workers and hosts behind a load balancer), every piece
of shared state moves to a service by environment variables alone: see
``examples/tasks/deploy`` and docs/deployment.md, "Scaling out". Then
``OAKLING_SECRET_KEY`` must be set (the same on every process): the demo
refuses to start with ``CHANNELS_URL`` or ``TASKS_BROKER_URL`` set and no key.

To change the model, write a migration from the repository root, against a
scratch database brought to the latest revision first::

    export OAKLING_APP='examples.tasks.app:create_app()'
    export OAKLING_DATABASE_URL=sqlite:////tmp/tasks-scratch.db
    DB="oakling db -d examples/tasks/migrations --version-table tasks_alembic_version"
    $DB migrate && $DB makemigrations -m "add due date"
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from examples.tasks.admin import build_admin
from examples.tasks.events import Broadcaster, channel_for
from examples.tasks.repository import MAX_TITLE_LENGTH, SqlTaskRepository, Task, TaskRepository
from oakling import (
    App,
    Depends,
    Form,
    JSONResponse,
    RedirectResponse,
    Request,
    Response,
    Router,
    abort,
    render,
)
from oakling.auth import Auth, CurrentUser, User, login_required
from oakling.auth.tokens import create_token_sync, list_tokens_sync, revoke_token_sync
from oakling.cache import Cache, cache
from oakling.channels import Channels, sse_response
from oakling.concurrency import run_in_threadpool
from oakling.config import Settings, load_settings
from oakling.csrf import CSRF
from oakling.db import Database, Session, migrations
from oakling.exceptions import ImproperlyConfigured
from oakling.i18n import I18n, gettext
from oakling.messages import Messages, flash
from oakling.middleware import Middleware
from oakling.openapi import OpenAPI
from oakling.ratelimit import Limiter, user_or_ip
from oakling.security import CSP, Security
from oakling.sessions import Sessions
from oakling.signals import user_logged_in
from oakling.staticfiles import StaticFiles
from oakling.tasks import Tasks as TaskQueue
from oakling.tasks import task
from oakling.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "DEFAULT_API_RATE_LIMIT",
    "DEFAULT_DATABASE_URL",
    "LOCAL_HOSTS",
    "MIGRATIONS",
    "POLICY",
    "READ_SCOPE",
    "SCALED_SETTINGS",
    "SESSION_BACKEND",
    "SUMMARY_TIMEOUT",
    "VERSION_TABLE",
    "WRITE_SCOPE",
    "APIAccess",
    "Announcer",
    "announce",
    "TaskChange",
    "TaskIn",
    "TaskPatch",
    "TaskSummary",
    "create_app",
    "demo_settings",
    "get_announcer",
    "get_feed",
    "get_repository",
    "migrate_database",
    "summary_key",
]

HERE = Path(__file__).resolve().parent

DEFAULT_DATABASE_URL = "sqlite:///tasks-demo.db"
"""Where tasks go with no configuration: a SQLite file in the current folder."""

MIGRATIONS = HERE / "migrations"
"""The demo's migrations folder (Alembic, written by ``oakling db``)."""

VERSION_TABLE = "tasks_alembic_version"
"""The table recording the demo's applied revision.

Not Alembic's default ``alembic_version``: the demo may share a database with
a project that has migrations of its own.
"""

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "testserver")
"""``ALLOWED_HOSTS`` when the setting is empty: this machine's names, and the
test client's ``testserver``. ``oakling demo`` runs without DEBUG, where an
empty list would refuse every request; set ``OAKLING_ALLOWED_HOSTS`` to serve
the demo under another name."""

DEFAULT_API_RATE_LIMIT = "600/minute"
"""Requests a token (or a logged-in browser) may make to ``/api`` when
``OAKLING_API_RATE_LIMIT`` is not set: generous, so scripts and checks that
drive the API are not throttled; beyond it, 429 with ``Retry-After`` and the
``RateLimit`` fields (:mod:`oakling.ratelimit`)."""

SESSION_BACKEND = "database"
"""The demo's session store when ``OAKLING_SESSION_BACKEND`` is not set: rows
of the ``oakling_session`` table (:class:`~oakling.sessions.database.DatabaseBackend`),
in the demo's database, created by its migrations. The cookie holds only a
random id, so logging out deletes the row and a copy of the old cookie is
worth nothing. ``OAKLING_SESSION_BACKEND=redis`` (with ``OAKLING_REDIS_URL``)
keeps them in Redis; ``cookie`` is the signed cookie of a bare ``App``,
which logout cannot revoke."""

SUMMARY_TIMEOUT = 300
"""Seconds ``GET /api/summary`` is kept in the cache (``oakling.cache``'s
default cache) when no change of the user's tasks deletes it sooner."""

READ_SCOPE = "tasks:read"
"""The API token scope needed to read tasks (``GET``)."""

WRITE_SCOPE = "tasks:write"
"""The API token scope needed to create, change or delete tasks."""

POLICY: dict[str, list[str]] = {
    "default-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],  # the empty favicon is a data: URL
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
"""The demo's Content-Security-Policy (``Security(csp=POLICY)``): only its own
scripts, styles and connections (the live feed); no plugins, no ``<base>``,
forms posting to the site only, and no framing by any site."""

# A title as the API takes it: 1 to 100 characters, not only whitespace.
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TITLE_LENGTH, pattern=r"\S")]


class TaskIn(msgspec.Struct):
    """The body of ``POST /api/tasks``."""

    title: Title
    completed: bool = False


class TaskPatch(msgspec.Struct):
    """The body of ``PATCH /api/tasks/{id}``: only the fields to change."""

    title: Title | None = None
    completed: bool | None = None


class RateLimited(msgspec.Struct):
    """The body of a 429: the token's (or session's) API rate limit is spent."""

    detail: str


class TaskSummary(msgspec.Struct):
    """The body of ``GET /api/summary``: how many tasks the user has, and how many are done."""

    total: int
    completed: int


class TaskChange(msgspec.Struct):
    """One message of the live feed: what happened to which task."""

    action: Literal["added", "updated", "deleted"]
    task: Task


# -- dependencies: handlers ask for these, tests may override them -----------


#: The languages the demo offers (``OAKLING_LANGUAGES`` overrides): its own
#: pages are translated into German; the batteries' into German, French, Spanish.
DEMO_LANGUAGES = ["en", "de", "fr", "es"]
#: The zones the footer's selector offers (any IANA name works through the form).
DEMO_TIME_ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
]


def get_repository(db: Session, user: CurrentUser) -> TaskRepository:
    """Return the logged-in user's tasks, in the request's transaction.

    Replace it with ``app.dependency_overrides[get_repository]``.

    Raises:
        oakling.auth.LoginRequired: For an anonymous request (a redirect to
            the login page, or 401 for an API client).
    """
    return SqlTaskRepository(db, user.id)


async def get_feed(request: Request) -> Broadcaster[TaskChange]:
    """Return the app's live feed of changes."""
    feed: Broadcaster[TaskChange] = request.app.state.feed
    return feed


Feed = Annotated[Broadcaster[TaskChange], Depends(get_feed)]


def summary_key(owner_id: int) -> str:
    """Return the cache key of a user's :class:`TaskSummary`."""
    return f"tasks:summary:{owner_id}"


@task(name="examples.tasks.announce")
async def announce(change: TaskChange, owner_id: int, app: App) -> None:
    """Announce ``change`` to its owner's pages (run after the commit).

    First the owner's cached summary is deleted, then the change is
    published on the live feed: a page that hears of a change and asks for
    the summary gets a fresh one. With Celery this runs in ``oakling
    worker``, so the cache and the channel layer must be the ones the web
    processes use (Redis), or the delete and the publish reach nobody.
    """
    await cache.adelete(summary_key(owner_id))
    feed: Broadcaster[TaskChange] = app.state.feed
    await feed.apublish(change, owner_id)


class Announcer:
    """Announce a request's changes on the live feed once they are committed.

    Each change enqueues :func:`announce` (``oakling.tasks``). A task
    enqueued in a request is held until the request's transaction commits
    and dropped when it rolls back (the handler raises, returns a 5xx, or
    the commit fails), so a change that was not kept is never announced.

    Args:
        owner_id: The user whose tasks change: their pages alone hear of it.
    """

    def __init__(self, owner_id: int) -> None:
        self.owner_id = owner_id

    def publish(self, change: TaskChange) -> None:
        """Announce ``change`` to its owner once the request commits."""
        announce.enqueue(change, self.owner_id)


def get_announcer(user: CurrentUser) -> Announcer:
    """Return the request's :class:`Announcer`, for the logged-in user."""
    return Announcer(user.id)


Tasks = Annotated[TaskRepository, Depends(get_repository)]
Changes = Annotated[Announcer, Depends(get_announcer)]


def found(task: Task | None, task_id: int) -> Task:
    """Return ``task``, or answer 404 when the repository had no such task.

    The repository holds the user's tasks only, so another user's task is
    "not found" too: a 403 would tell that the id exists.
    """
    if task is None:
        abort(404, f"Task {task_id} not found")
    return task


def clean_title(raw: str) -> str:
    """Return the title a person typed, stripped.

    Raises:
        ValueError: With a message to show next to the form.
    """
    title = raw.strip()
    if not title:
        raise ValueError(gettext("Please enter a title."))
    if len(title) > MAX_TITLE_LENGTH:
        raise ValueError(
            gettext("A title has at most %(limit)d characters; this one has %(length)d.")
            % {"limit": MAX_TITLE_LENGTH, "length": len(title)}
        )
    return title


# -- pages ---------------------------------------------------------------------

# NOTE: HTML pages and form posts: not part of the documented API.
pages = Router(include_in_schema=False)


def show_list(
    request: Request, tasks: TaskRepository, db: Session, user: User, **context: Any
) -> Response:
    """Render the list page with the user's tasks and API tokens.

    ``context`` adds to what the template gets (``error``, ``title``,
    ``new_token``). A page showing a new token is never cached.
    """
    response = render(
        request, "index.html", tasks=tasks.list(), tokens=list_tokens_sync(db, user), **context
    )
    if "new_token" in context:
        response.headers["cache-control"] = "no-store"
    return response


@pages.get("/healthz")
async def healthz() -> Response:
    """Answer ``ok`` (200) while this process serves: the load balancer's health check.

    A liveness check, not a readiness one: it touches no service, so an
    outage of the database or Redis (a 503 from the pages that need it)
    does not take every host out of the balancer at once.
    """
    return Response("ok\n", media_type="text/plain", headers={"cache-control": "no-store"})


@pages.get("/")
@login_required
def index(request: Request, tasks: Tasks, db: Session, user: CurrentUser) -> Response:
    return show_list(request, tasks, db, user)


@pages.post("/tasks")
@login_required
def add_task_form(
    request: Request,
    tasks: Tasks,
    changes: Changes,
    db: Session,
    user: CurrentUser,
    title: Annotated[str, Form()] = "",
) -> Response | tuple[Response, int]:
    try:
        cleaned = clean_title(title)
    except ValueError as ex:
        # Show the form again with the message and what was typed (Django's form flow).
        return show_list(request, tasks, db, user, error=str(ex), title=title), 422
    task = tasks.add(cleaned)
    changes.publish(TaskChange("added", task))
    flash(gettext("Added “%(title)s”.") % {"title": task.title}, "success")
    return RedirectResponse(request.url_for("index"), 303)


@pages.post("/tasks/{task_id}/toggle")
@login_required
def toggle_task_form(request: Request, task_id: int, tasks: Tasks, changes: Changes) -> Response:
    task = found(tasks.get(task_id), task_id)
    task = found(tasks.update(task_id, completed=not task.completed), task_id)
    changes.publish(TaskChange("updated", task))
    message = (
        gettext("Marked “%(title)s” as done.")
        if task.completed
        else gettext("Marked “%(title)s” as not done.")
    )
    flash(message % {"title": task.title}, "success")
    return RedirectResponse(request.url_for("index"), 303)


@pages.post("/tasks/{task_id}/delete")
@login_required
def delete_task_form(request: Request, task_id: int, tasks: Tasks, changes: Changes) -> Response:
    task = found(tasks.delete(task_id), task_id)
    changes.publish(TaskChange("deleted", task))
    flash(gettext("Deleted “%(title)s”.") % {"title": task.title}, "success")
    return RedirectResponse(request.url_for("index"), 303)


@pages.post("/tokens")
@login_required
def create_token_form(
    request: Request,
    tasks: Tasks,
    db: Session,
    user: CurrentUser,
    name: Annotated[str, Form()] = "",
) -> Response | tuple[Response, int]:
    """Make an API token (both scopes) and show it, this once: only its hash is kept."""
    label = name.strip() or "API token"
    if len(label) > 100:
        message = gettext("A token name has at most 100 characters; this one has %(length)d.") % {
            "length": len(label)
        }
        return show_list(request, tasks, db, user, token_error=message, token_name=name), 422
    _, raw = create_token_sync(db, user, name=label, scopes=[READ_SCOPE, WRITE_SCOPE])
    return show_list(request, tasks, db, user, new_token=raw), 201


@pages.post("/tokens/{token_id}/delete")
@login_required
def revoke_token_form(request: Request, token_id: int, db: Session, user: CurrentUser) -> Response:
    """Revoke one of the user's tokens; someone else's is a 404."""
    if not revoke_token_sync(db, token_id, user=user):
        abort(404, f"Token {token_id} not found")
    return RedirectResponse(request.url_for("index"), 303)


@pages.get("/events")
@login_required
async def events(request: Request, feed: Feed, user: CurrentUser) -> Response:
    """Stream each change of the user's tasks as a server-sent ``task`` event.

    Until the client leaves; other users' changes are never sent. Each
    event carries an id: a browser that reconnects (``EventSource`` does by
    itself) sends it back as ``Last-Event-ID`` and is sent what it missed
    (see docs/channels.md for the limits, and the ``channel-*`` status events).
    """
    return sse_response(
        request, channel_for(user.id), event="task", layer=feed.layer, max_queue=feed.max_pending
    )


# -- JSON API: /api/tasks ------------------------------------------------------
# NOTE: written by hand, not with oakling.rest.ModelRouter (docs/rest.md, "The
# demo's API"): its answers are the repository's Task values (no owner_id),
# the list is a plain array, a create answers with a Location header, every
# change goes out on the live feed, and titles must hold a non-space
# character. A ModelRouter keeps the owner scoping (get_queryset) but would
# change those answers, which the demo's clients and tests rely on.


class APIAccess:
    """Refuse API requests without a user, or whose token lacks the scope.

    Pure ASGI middleware around the API router's routes, so it answers
    before the app's ``before_request`` hooks: an unauthenticated call gets
    401 (with ``WWW-Authenticate: Bearer``, RFC 6750 section 3) rather than
    the CSRF check's 403, and a token without the method's scope gets 403
    ``insufficient_scope`` (section 3.1). ``GET``/``HEAD`` need
    :data:`READ_SCOPE`, other methods :data:`WRITE_SCOPE`; a logged-in
    session has every scope (``AuthCredentials.allows``).

    Args:
        app: The routes to guard.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request's user and scope, then call the route."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            refusal = JSONResponse(
                {"detail": "Authentication required: log in, or send Authorization: Bearer"},
                401,
                {"www-authenticate": "Bearer"},
            )
            await refusal(scope, receive, send)
            return
        needed = READ_SCOPE if scope["method"] in ("GET", "HEAD") else WRITE_SCOPE
        credentials = scope.get("auth")
        if credentials is None or not credentials.allows(needed):
            refusal = JSONResponse(
                {"detail": f"The token lacks the scope {needed}"},
                403,
                {"www-authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'},
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


api = Router("/api", name="api", middleware=[Middleware(APIAccess)])


def _needs(scope: str, unsafe: bool) -> dict[str, Any]:
    """The OpenAPI ``security`` of an API route: a token with ``scope``, or the session."""
    session: dict[str, list[str]] = (
        {"sessionCookie": [], "csrfHeader": []} if unsafe else {"sessionCookie": []}
    )
    return {"security": [{"bearerAuth": [scope]}, session]}


READS = _needs(READ_SCOPE, unsafe=False)
WRITES = _needs(WRITE_SCOPE, unsafe=True)
#: Every API route may answer 429 (``API_RATE_LIMIT`` per token), so the document says so.
LIMITED: dict[int | str, Any] = {
    429: {
        "description": "Too many requests: the rate limit of this token (API_RATE_LIMIT) is "
        "spent; retry after Retry-After seconds",
        "model": RateLimited,
        "headers": {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}},
            "RateLimit-Policy": {
                "description": "draft-ietf-httpapi-ratelimit-headers-10",
                "schema": {"type": "string"},
            },
            "RateLimit": {
                "description": "draft-ietf-httpapi-ratelimit-headers-10",
                "schema": {"type": "string"},
            },
        },
    }
}
CREATED: dict[int | str, Any] = {
    201: {
        "description": "Created",
        "model": Task,
        "headers": {"Location": {"description": "The task's URL", "schema": {"type": "string"}}},
    },
    **LIMITED,
}


@api.get("/tasks", responses=LIMITED, openapi_extra=READS)
def list_tasks(tasks: Tasks) -> list[Task]:
    """List the user's tasks, oldest first."""
    return list(tasks.list())


@api.post("/tasks", status_code=201, responses=CREATED, openapi_extra=WRITES)
def create_task(request: Request, body: TaskIn, tasks: Tasks, changes: Changes) -> Response:
    """Create a task (201, with its URL in ``Location``)."""
    # NOTE: read the host first: a forged Host is refused (400) before anything is stored.
    base = str(request.base_url).rstrip("/")
    task = tasks.add(body.title.strip(), body.completed)
    changes.publish(TaskChange("added", task))
    location = base + request.app.url_path_for("api:get_task", task_id=task.id)
    return JSONResponse(task, 201, {"location": location})


@api.get("/summary", responses=LIMITED, openapi_extra=READS)
def task_summary(tasks: Tasks, user: CurrentUser) -> TaskSummary:
    """Count the user's tasks and the completed ones (cached, see :data:`SUMMARY_TIMEOUT`).

    The count is kept in the app's default cache until a change of the
    user's tasks deletes it (:func:`announce`, after the commit) or
    :data:`SUMMARY_TIMEOUT` passes. A cache that is down is a miss.
    """

    def count() -> dict[str, int]:
        listed = tasks.list()
        return {"total": len(listed), "completed": sum(1 for item in listed if item.completed)}

    counted = cache.get_or_set(summary_key(user.id), count, timeout=SUMMARY_TIMEOUT)
    return msgspec.convert(counted, TaskSummary)


@api.get("/tasks/{task_id}", responses=LIMITED, openapi_extra=READS)
def get_task(task_id: int, tasks: Tasks) -> Task:
    """Read one of the user's tasks."""
    return found(tasks.get(task_id), task_id)


@api.patch("/tasks/{task_id}", responses=LIMITED, openapi_extra=WRITES)
def update_task(task_id: int, patch: TaskPatch, tasks: Tasks, changes: Changes) -> Task:
    """Change a task's title or completed flag."""
    title = None if patch.title is None else patch.title.strip()
    task = found(tasks.update(task_id, title=title, completed=patch.completed), task_id)
    changes.publish(TaskChange("updated", task))
    return task


@api.delete("/tasks/{task_id}", responses=LIMITED, openapi_extra=WRITES)
def delete_task(task_id: int, tasks: Tasks, changes: Changes) -> None:
    """Delete a task (204)."""
    task = found(tasks.delete(task_id), task_id)
    changes.publish(TaskChange("deleted", task))


# -- the app -------------------------------------------------------------------


def migrate_database(database: Database, revision: str = "heads") -> None:
    """Migrate the demo's tables to ``revision`` (default: the latest).

    The demo's migrations create the auth battery's tables too. Idempotent:
    an up-to-date database is left as it is. Blocking (run it in a thread
    from async code).

    Raises:
        sqlalchemy.exc.OperationalError: When the database is unreachable.
    """
    migrations.migrate(database, revision, directory=MIGRATIONS, version_table=VERSION_TABLE)


#: A year, in seconds: how long browsers keep a versioned static file.
ASSET_MAX_AGE = 31_536_000


def asset_version(filename: str) -> str:
    """Return the first 12 hex digits of the SHA-256 of ``static/<filename>``.

    The stylesheet and script are linked as ``/static/app.css?v=<version>``
    (:func:`versioned_assets`): a new file is a new URL, so browsers may
    keep each one for a year and never see a stale style after a deploy.
    """
    return hashlib.sha256((HERE / "static" / filename).read_bytes()).hexdigest()[:12]


class VersionedStatic:
    """The demo's static files: a versioned URL is cached for a year, immutable.

    ``/static/app.css?v=<the file's hash>`` gets ``Cache-Control: public,
    max-age=31536000, immutable`` (the URL changes with the file);
    an unversioned URL keeps StaticFiles' ``ETag`` and ``Last-Modified``,
    so browsers revalidate it and get ``304 Not Modified``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if not query.startswith(b"v="):
            await self.app(scope, receive, send)
            return
        wanted = query[2:].decode("latin-1")
        path = str(scope["path"]).lstrip("/")

        async def send_immutable(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                try:
                    current = asset_version(path)
                except (OSError, ValueError):
                    current = ""
                if current == wanted:
                    headers = [
                        (key, value)
                        for key, value in message.get("headers", ())
                        if key.lower() != b"cache-control"
                    ]
                    value = f"public, max-age={ASSET_MAX_AGE}, immutable".encode()
                    message = {**message, "headers": [*headers, (b"cache-control", value)]}
            await send(message)

        await self.app(scope, receive, send_immutable)


def versioned_assets(app: App) -> None:
    """Add ``asset_url(filename)`` to the templates: the static URL with ``?v=<hash>``."""
    versions: dict[str, str] = {}

    def asset_url(filename: str) -> str:
        if filename not in versions:
            versions[filename] = asset_version(filename)
        return f"{app.url_path_for('static', path=filename)}?v={versions[filename]}"

    app.add_template_global("asset_url", asset_url)


#: Settings that name a shared service only a deployment of several
#: processes needs: with one of them set, ``SECRET_KEY`` must be set too.
SCALED_SETTINGS = ("CHANNELS_URL", "TASKS_BROKER_URL")


def _names_a_service(value: object) -> bool:
    """Tell whether a URL setting names a service (not unset, not ``memory://``)."""
    return bool(value) and not str(value).startswith("memory:")


def demo_settings() -> Settings:
    """Return the settings (environment, ``.env``) with the demo's defaults filled in.

    What is set is kept; otherwise ``SECRET_KEY`` is random for this process
    (logins end when it does), ``ALLOWED_HOSTS`` is :data:`LOCAL_HOSTS`,
    ``EMAIL_BACKEND`` is ``"console"`` (reset links are printed),
    ``SESSION_BACKEND`` is ``"database"`` (:data:`SESSION_BACKEND`) and,
    when ``REDIS_URL`` is set, ``CACHES`` is a Redis cache there (the rate
    limits and login throttles already count in that Redis).

    Raises:
        oakling.exceptions.ImproperlyConfigured: When ``CHANNELS_URL`` or
            ``TASKS_BROKER_URL`` names a service (so the demo runs as
            several processes: docs/deployment.md, "Scaling out") and
            ``SECRET_KEY`` is not set: a random key per process would make
            one process refuse the logins and CSRF tokens of the others.
    """
    settings = load_settings()
    changes: dict[str, Any] = {}
    if "SECRET_KEY" not in settings.sources:
        shared = [name for name in SCALED_SETTINGS if _names_a_service(settings.get(name))]
        if shared:
            # NOTE: each process would make a key of its own, and a login (a
            # signed cookie, a CSRF token) made by one would be refused by the next.
            raise ImproperlyConfigured(
                f"{', '.join(shared)} say the demo runs as several processes: set one "
                "OAKLING_SECRET_KEY for all of them, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
            )
        changes["SECRET_KEY"] = secrets.token_urlsafe(50)
    if not settings.ALLOWED_HOSTS:
        changes["ALLOWED_HOSTS"] = list(LOCAL_HOSTS)
    extra = dict(settings.extra)
    if settings.get("EMAIL_BACKEND") is None:
        extra["EMAIL_BACKEND"] = "console"
    if not settings.get("SESSION_BACKEND"):
        extra["SESSION_BACKEND"] = SESSION_BACKEND
    if settings.get("CACHES") is None and settings.get("REDIS_URL"):
        # NOTE: the rate limits and throttles follow REDIS_URL by themselves;
        # the cache does too, so that no shared state is left in one process.
        extra["CACHES"] = {
            "default": {
                "BACKEND": "redis",
                "LOCATION": settings.get("REDIS_URL"),
                "KEY_PREFIX": "tasks-demo",
            }
        }
    if extra != settings.extra:
        changes["extra"] = extra
    return msgspec.structs.replace(settings, **changes) if changes else settings


def welcome(sender: type[User], request: Request, user: User, **extra: Any) -> None:
    """Flash a welcome after login (the ``user_logged_in`` signal, Django's)."""
    # NOTE: signals are process-wide: only the demo's apps say it.
    if request.app.extensions.get("tasks_demo"):
        flash(
            gettext("Signed in as %(name)s.") % {"name": user.username}, "success", request=request
        )


user_logged_in.connect(welcome)


def create_app(database_url: str | None = None) -> App:
    """Build the demo app over a database migrated at startup.

    It needs no configuration (see :func:`demo_settings`): with no
    ``OAKLING_SECRET_KEY`` the key is random for this process, so every
    session (every login) ends when the process does.

    Args:
        database_url: Where tasks and users are stored. Default: the
            ``DATABASE_URL`` setting (``OAKLING_DATABASE_URL`` in the
            environment or ``.env``), else :data:`DEFAULT_DATABASE_URL`.
            SQLite, PostgreSQL and MariaDB or MySQL URLs work unchanged
            (drivers: ``pip install 'oakling[db]'``, plus ``[postgres]`` or
            ``[mysql]``).

    ``DATABASE_POOL_SIZE`` and ``DATABASE_MAX_OVERFLOW`` size each engine's
    pool (SQLAlchemy's ``pool_size`` and ``max_overflow``; oakling's
    defaults 10 and 10), for deployments of many processes on one server.

    Raises:
        oakling.exceptions.ImproperlyConfigured: For an invalid security
            setting (``ALLOWED_HOSTS``, ``SESSION_*``, ``CSRF_*``, ...).
    """
    settings = demo_settings()
    # NOTE: every process has a pool per engine (sync and async): with many
    # processes on one server, DATABASE_POOL_SIZE and DATABASE_MAX_OVERFLOW
    # keep the sum under its max_connections (docs/deployment.md).
    pool = {
        option: settings.get(name, cast=int)
        for option, name in (
            ("pool_size", "DATABASE_POOL_SIZE"),
            ("max_overflow", "DATABASE_MAX_OVERFLOW"),
        )
        if settings.get(name) is not None
    }
    database = Database(
        database_url or settings.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        engine_options=pool,
    )
    # NOTE: before Auth, which then counts its throttles in the same store.
    limiter = Limiter()
    # The API is limited per token (per user for a browser session):
    # API_RATE_LIMIT, generous by default so scripts are not throttled.
    limiter.limit_router(
        api, settings.get("API_RATE_LIMIT", DEFAULT_API_RATE_LIMIT), key=user_or_ip, name="api"
    )
    # NOTE: the live feed's channel layer: memory unless OAKLING_CHANNELS_URL
    # names Redis (then every worker and host shares it).
    channels = Channels()
    app = App(
        settings=settings,
        template_folder=HERE / "templates",
        # NOTE: the documented order: each battery needs the ones before it;
        # Security's middleware ends up outermost. Sessions are rows of the
        # database (SESSION_BACKEND) unless the setting says otherwise.
        plugins=[
            database,
            Sessions(),
            Messages(),
            limiter,
            Auth(signup=True),
            CSRF(),
            Security(csp=POLICY),
            channels,
            # NOTE: CACHES; memory unless set (or REDIS_URL, see demo_settings).
            Cache(),
            OpenAPI(
                title="oakling Tasks",
                version="1.0",
                description="The Tasks demo's JSON API. Sign in on the site (the session "
                "cookie and the page's CSRF token are used), or click Authorize and paste "
                "an API token made on the task list page.",
            ),
            build_admin(),  # /admin: tasks and the auth models, for staff users
            # NOTE: in-process unless OAKLING_TASKS_BROKER_URL names a broker.
            TaskQueue(),
            # NOTE: last, so its middleware is outside the others (a CSRF
            # refusal is translated too); the language is chosen when first
            # needed: the selector cookie, else Accept-Language, else English.
            I18n(
                languages=settings.get("LANGUAGES", DEMO_LANGUAGES, cast=list),
                default=settings.get("LANGUAGE_CODE") or "en",
                translations_dir=HERE / "translations",
            ),
        ],
    )
    app.add_template_global("TIME_ZONES", DEMO_TIME_ZONES)

    async def migrate() -> None:
        # NOTE: Alembic blocks; a thread keeps the event loop free meanwhile.
        await run_in_threadpool(migrate_database, database)

    # NOTE: served at /static, url_for("static", path=...); see VersionedStatic.
    app.mount("/static", VersionedStatic(StaticFiles(directory=HERE / "static")), name="static")
    versioned_assets(app)
    app.on_startup(migrate)
    assert channels.layer is not None
    app.state.feed = Broadcaster(TaskChange, layer=channels.layer)
    app.include(pages)
    app.include(api)
    app.extensions["tasks_demo"] = True
    return app
