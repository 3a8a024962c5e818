"""The Tasks demo scaled out, with the real services: what a user relies on.

Two "hosts" (``scaled.sh host``: uvicorn with 2 workers each, on ports of
their own), one Celery worker (``scaled.sh worker``: ``oakling worker``) and
HAProxy on a private port (``scaled.sh balancer`` with the shipped
``haproxy.cfg``), over PostgreSQL, Redis and RabbitMQ, configured by
environment variables only (tests/scale/topology.py). Issue 15, part 5.

Not part of the README's test command (marker ``scale``, deselected in
``addopts``); ``.ci/run`` runs it with ``-m scale`` after that command, with
the services required. The tests share one deployment and run in file order:
the last one kills host A.
"""

from __future__ import annotations

import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.scale.topology import LOGIN_LIMIT, Topology, scaled_demo

pytestmark = pytest.mark.scale

CSRF_FIELD = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
NEW_TOKEN = re.compile(r'<code id="new-token">([^<]+)</code>')
PASSWORD = "a long enough password 123"
#: The Celery worker's log line for a run of the demo's announce task.
SUCCEEDED = re.compile(r"Task examples\.tasks\.announce\[[0-9a-f-]+\] succeeded")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with scaled_demo(tmp_path_factory.mktemp("scale")) as topology:
        yield topology


def csrf(page: httpx.Response) -> str:
    match = CSRF_FIELD.search(page.text)
    assert match, f"no CSRF field in {page.request.url}: {page.status_code} {page.text[:300]}"
    return match.group(1)


def unique(name: str) -> str:
    """A username of this run: throttles count per account in the shared Redis."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def sign_up(client: httpx.Client, username: str) -> None:
    """Make an account through the sign-up form (which logs the client in)."""
    form = client.get("/auth/signup")
    made = client.post(
        "/auth/signup",
        data={
            "csrf_token": csrf(form),
            "username": username,
            "email": f"{username}@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert made.status_code == 303, made.text[:500]


def api_token(client: httpx.Client) -> str:
    """Make an API token (both scopes) on the list page; return it."""
    made = client.post("/tokens", data={"csrf_token": csrf(client.get("/")), "name": "scale"})
    assert made.status_code == 201, made.text[:500]
    match = NEW_TOKEN.search(made.text)
    assert match
    return match.group(1)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_a_login_on_host_a_is_valid_on_host_b(demo: Topology) -> None:
    username = unique("ann")
    with httpx.Client(base_url=demo.host_a, timeout=10) as setup:
        sign_up(setup, username)
    with httpx.Client(base_url=demo.host_a, timeout=10) as on_a:
        form = on_a.get("/auth/login")
        logged_in = on_a.post(
            "/auth/login",
            data={"csrf_token": csrf(form), "username": username, "password": PASSWORD},
        )
        assert logged_in.status_code == 303, logged_in.text[:500]
        page_a = on_a.get("/")
        assert page_a.status_code == 200 and username in page_a.text
        with httpx.Client(base_url=demo.host_b, timeout=10, cookies=on_a.cookies) as on_b:
            # The session made on A (in Redis) is B's too: no redirect to the login page.
            page_b = on_b.get("/")
            assert page_b.status_code == 200, page_b.headers.get("location")
            assert username in page_b.text
            # A form rendered by A posts to B: the CSRF token checks out there.
            added = on_b.post("/tasks", data={"csrf_token": csrf(page_a), "title": "From A's form"})
            assert added.status_code == 303, added.text[:500]
            assert "From A&#39;s form" in on_a.get("/").text  # autoescaped, and stored
            # So does a forged token: refused on B as on A.
            forged = on_b.post("/tasks", data={"csrf_token": "x" * 64, "title": "forged"})
            assert forged.status_code == 403
            # An API token made on A works on B; after logout on B the cookie is dead on A.
            token = api_token(on_a)
            listed = httpx.get(demo.host_b + "/api/tasks", headers=bearer(token), timeout=10)
            assert listed.status_code == 200
            assert [task["title"] for task in listed.json()] == ["From A's form"]
            out = on_b.post("/auth/logout", data={"csrf_token": csrf(on_b.get("/"))})
            assert out.status_code == 303
        after = httpx.get(demo.host_a + "/", cookies=on_a.cookies, timeout=10)
        assert after.status_code in (302, 303) and "/auth/login" in after.headers["location"]


def test_a_rate_limit_is_counted_once_across_both_hosts(demo: Topology) -> None:
    username = unique("bob")
    with httpx.Client(base_url=demo.host_a, timeout=10) as setup:
        sign_up(setup, username)
    clients = [httpx.Client(base_url=host, timeout=10) for host in (demo.host_a, demo.host_b)]
    try:
        tokens = [csrf(client.get("/auth/login")) for client in clients]
        answers = []
        for attempt in range(3 * LOGIN_LIMIT):
            which = attempt % 2  # alternately host A and host B
            answer = clients[which].post(
                "/auth/login",
                data={"csrf_token": tokens[which], "username": username, "password": "wrong"},
            )
            answers.append(answer.status_code)
    finally:
        for client in clients:
            client.close()
    # LOGIN_THROTTLE_ACCOUNT lets LOGIN_LIMIT attempts through in all, not per host
    # (nor per worker: 4 processes would let 4x through with memory counters).
    assert answers.count(400) == LOGIN_LIMIT, answers
    assert answers.count(429) == 2 * LOGIN_LIMIT, answers
    assert answers[:LOGIN_LIMIT] == [400] * LOGIN_LIMIT


def wait_until(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_cache_is_shared_by_the_hosts_and_the_worker(demo: Topology) -> None:
    import psycopg

    username = unique("cara")
    with httpx.Client(base_url=demo.host_a, timeout=10) as on_a:
        sign_up(on_a, username)
        token = api_token(on_a)
    summary_a = lambda: httpx.get(demo.host_a + "/api/summary", headers=bearer(token), timeout=10)  # noqa: E731
    summary_b = lambda: httpx.get(demo.host_b + "/api/summary", headers=bearer(token), timeout=10)  # noqa: E731
    assert summary_b().json() == {"total": 0, "completed": 0}  # computed on B, cached
    # A row the app does not know about (nothing deletes the cached summary):
    # host A answers from the entry B stored, where a cache of its own would count 1.
    with psycopg.connect(demo.database_url) as connection:
        owner = connection.execute(
            "SELECT id FROM auth_user WHERE username = %s", (username,)
        ).fetchone()
        assert owner is not None
        connection.execute(
            "INSERT INTO tasks_task (title, completed, owner_id)"
            " VALUES ('behind the cache', false, %s)",
            owner,
        )
    for _ in range(4):  # each of A's two workers, whichever answers
        assert summary_a().json() == {"total": 0, "completed": 0}
    # A change through the app: its task, run on the Celery worker after the
    # commit, deletes the entry in the same Redis, so B counts afresh.
    created = httpx.post(
        demo.host_a + "/api/tasks", json={"title": "through the app"}, headers=bearer(token)
    )
    assert created.status_code == 201
    wait_until(lambda: summary_b().json() == {"total": 2, "completed": 0})


def read_events(stream: Iterator[bytes], needle: bytes, timeout: float) -> bytes:
    received = b""
    started = time.monotonic()
    while needle not in received:
        assert time.monotonic() - started < timeout, received.decode(errors="replace")
        received += next(stream)
    return received


def test_a_task_enqueued_on_host_a_runs_on_the_worker_and_reaches_a_feed_on_host_b(
    demo: Topology,
) -> None:
    worker = demo.services["worker"]
    with httpx.Client(base_url=demo.host_a, timeout=10) as on_a:
        sign_up(on_a, unique("dan"))
        ran_before = len(SUCCEEDED.findall(worker.output()))
        with httpx.Client(base_url=demo.host_b, timeout=10, cookies=on_a.cookies) as on_b:
            with on_b.stream("GET", "/events", headers={"accept": "text/event-stream"}) as feed:
                assert feed.status_code == 200
                chunks = feed.iter_raw()
                assert next(chunks).startswith(b"retry:")  # subscribed, on host B
                page = on_a.get("/")
                added = on_a.post("/tasks", data={"csrf_token": csrf(page), "title": "Heard on B"})
                assert added.status_code == 303
                received = read_events(chunks, b"Heard on B", timeout=15)
                assert b"event: task" in received and b'"action":"added"' in received
    # The announcement ran on the Celery worker (the hosts have a broker: nothing
    # runs in-process), received and succeeded there.
    wait_until(lambda: len(SUCCEEDED.findall(worker.output())) >= ran_before + 1)


@dataclass
class Load:
    """What the load's clients saw: POSTs by title and status, GETs by outcome."""

    posts: dict[str, int | str] = field(default_factory=dict)
    gets: list[int | str] = field(default_factory=list)
    after_kill: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def drive(
    url: str, token: str, client_id: int, load: Load, stop: threading.Event, killed: threading.Event
) -> None:
    """Alternate POST /api/tasks and GETs through the balancer until ``stop``."""
    last_id: int | None = None
    with httpx.Client(base_url=url, headers=bearer(token), timeout=20) as client:
        count = 0
        while not stop.is_set():
            title = f"load {client_id}-{count}"
            count += 1
            outcome: int | str
            try:
                answer = client.post("/api/tasks", json={"title": title})
                outcome = answer.status_code
                if answer.status_code == 201:
                    last_id = answer.json()["id"]
            except httpx.HTTPError as ex:
                outcome = type(ex).__name__
            got: list[int | str] = []
            for path in ("/api/summary", f"/api/tasks/{last_id}" if last_id else "/api/tasks"):
                try:
                    got.append(client.get(path).status_code)
                except httpx.HTTPError as ex:
                    got.append(type(ex).__name__)
            with load.lock:
                load.posts[title] = outcome
                load.gets.extend(got)
                if killed.is_set():
                    load.after_kill += 1


def stop_a_host_under_load(demo: Topology, host: str, signum: int, drain: bool = False) -> Load:
    """Drive 6 clients through HAProxy; send ``signum`` to ``host``'s group mid-load.

    With ``drain``, the host is first set to DRAIN on HAProxy's admin socket
    and given a second to finish what it was sent.

    Returns once HAProxy has the host DOWN and 30 more rounds went through,
    with the load's outcomes; the POSTs that were acknowledged are checked
    against PostgreSQL by the caller.
    """
    with httpx.Client(base_url=demo.host_b, timeout=10) as setup:
        sign_up(setup, unique("eve"))
        token = api_token(setup)
    load, stop, stopped = Load(), threading.Event(), threading.Event()
    clients = [
        threading.Thread(target=drive, args=(demo.balancer, token, number, load, stop, stopped))
        for number in range(6)
    ]
    for thread in clients:
        thread.start()
    try:
        # NOTE: by counts, not seconds: the machine may be slow, never the test flaky.
        wait_until(lambda: len(load.posts) >= 30, timeout=40)
        if drain:
            assert demo.balancer_command(f"set server tasks_hosts/{host} state drain") == "\n"
            time.sleep(1)
        demo.services[host].signal_group(signum)
        stopped.set()
        wait_until(lambda: demo.server_states().get(host) in ("DOWN", "DRAIN (DOWN)"), timeout=15)
        wait_until(lambda: load.after_kill >= 30, timeout=40)
    finally:
        stop.set()
        for thread in clients:
            thread.join(30)
    acknowledged = sum(1 for status in load.posts.values() if status == 201)
    print(
        f"\n{host} {signal.Signals(signum).name}: {len(load.posts)} POSTs ({acknowledged} 201),"
        f" {len(load.gets)} GETs, {load.after_kill} rounds after the signal;"
        f" POSTs not acknowledged: {sorted(set(load.posts.values()) - {201}, key=str)}"
    )
    return load


def check_no_acknowledged_write_lost(demo: Topology, load: Load) -> None:
    import psycopg

    acknowledged = {title for title, status in load.posts.items() if status == 201}
    with psycopg.connect(demo.database_url) as connection:
        stored = {
            row[0]
            for row in connection.execute("SELECT title FROM tasks_task WHERE title LIKE 'load %%'")
        }
    # Every 201 is a row (a POST that died with its host may be a row its client
    # was never told about: it was not acknowledged, so nothing was promised).
    assert acknowledged <= stored, sorted(acknowledged - stored)[:10]
    # A POST that died with its host is told so: a 502 from HAProxy, or (for a
    # request sent on a reused connection) its connection closed with no
    # answer, as the server would have done. Never a 4xx or a 500.
    failed_posts = {title: status for title, status in load.posts.items() if status != 201}
    assert set(failed_posts.values()) <= {502, 503, 504, "RemoteProtocolError", "ReadError"}, (
        failed_posts
    )
    # GETs are idempotent: HAProxy retried each one that the host dropped on the other.
    errors = [outcome for outcome in load.gets if outcome != 200]
    assert errors == [], f"{len(errors)} of {len(load.gets)} GETs failed: {errors[:20]}"
    # Every announcement left the outbox (TASKS_OUTBOX, scaled.env): sent after
    # its commit, or by a surviving process's relay when its host died first.
    with psycopg.connect(demo.database_url) as connection:

        def outbox_empty() -> bool:
            row = connection.execute("SELECT count(*) FROM oakling_task_outbox").fetchone()
            connection.commit()
            return row is not None and row[0] == 0

        wait_until(outbox_empty, timeout=40)

        def staged() -> bool:  # the outbox was in use (the statistics lag a little)
            row = connection.execute(
                "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'oakling_task_outbox'"
            ).fetchone()
            connection.commit()
            return row is not None and row[0] > 0

        wait_until(staged, timeout=10)


def test_killing_a_host_mid_load_loses_no_acknowledged_write_and_no_get(
    demo: Topology,
) -> None:
    # No goodbye: the uvicorn master and both workers of host A, at once.
    load = stop_a_host_under_load(demo, "host_a", signal.SIGKILL)
    check_no_acknowledged_write_lost(demo, load)


def test_a_host_drained_then_stopped_gracefully_fails_no_request(demo: Topology) -> None:
    # Host A comes back (HAProxy's checks see it UP again), then host B is
    # stopped as a deploy stops it: drained on the balancer (no new requests),
    # then SIGTERM (uvicorn finishes what it has). Nothing fails, POSTs included.
    demo.restart("host_a")
    wait_until(lambda: demo.server_states().get("host_a") == "UP", timeout=60)
    load = stop_a_host_under_load(demo, "host_b", signal.SIGTERM, drain=True)
    check_no_acknowledged_write_lost(demo, load)
    assert set(load.posts.values()) == {201}, load.posts
