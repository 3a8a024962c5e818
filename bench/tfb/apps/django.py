"""Django (WSGI): function views, URLconf, ORM models, Django templates.

As Django's documentation writes it, compressed into one module (no project
folder): ``settings.configure(...)`` then ``django.setup()``, models with
``Meta.db_table`` on the existing tables, function views returning
``JsonResponse``/``HttpResponse`` or ``render(...)`` (the Django template
language, autoescaping), ``urlpatterns`` of ``path(...)``, and the WSGI
handler from ``get_wsgi_application()``. ORM path: the Django ORM (psycopg 3,
Django's own connection pool, ``OPTIONS["pool"]``, since Django 5.1),
``bulk_update`` for the writes. Raw path: a ``psycopg_pool.ConnectionPool``,
opened on first use.

NOTE: the pool, not ``CONN_MAX_AGE``: persistent connections are one per
server thread, and granian's WSGI mode runs up to hundreds of threads under
load, past PostgreSQL's ``max_connections`` and the suite's 8 per app. The
pool keeps connections open across requests as ``CONN_MAX_AGE`` would, and
holds at most 8 (Django requires ``CONN_MAX_AGE = 0`` with it).

Middleware: ``CommonMiddleware`` only, the one of ``startproject``'s list that
concerns these responses (it sets ``Content-Length``; without it the WSGI
servers send chunked bodies). JSON and HTML endpoints with no forms or users
need no sessions, auth, messages or CSRF, and the other apps run none either.

Served from the repository root (WSGI)::

    granian --interface wsgi --workers 1 --no-ws --log-level warning bench.tfb.apps.django:app
    uvicorn bench.tfb.apps.django:app --interface wsgi --no-access-log --http httptools
"""

import os
import random
from operator import itemgetter
from pathlib import Path
from urllib.parse import urlsplit

import django
from django.conf import settings

__all__ = ["KIND", "ORM", "app"]

KIND = "wsgi"
ORM = True

DSN = os.environ.get("TFB_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tfb")
POOL_SIZE = 8
ADDITIONAL_FORTUNE = "Additional fortune added at request time."

READ_ROW = "SELECT id, randomnumber FROM world WHERE id = %s"
WRITE_ROW = "UPDATE world SET randomnumber = %s WHERE id = %s"
READ_FORTUNES = "SELECT id, message FROM fortune"

_url = urlsplit(DSN)
settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "tfb-benchmark-only-" + "k" * 32),
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    INSTALLED_APPS=[],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _url.path.lstrip("/"),
            "USER": _url.username or "",
            "PASSWORD": _url.password or "",
            "HOST": _url.hostname or "",
            "PORT": str(_url.port or ""),
            "CONN_MAX_AGE": 0,  # the pool keeps the connections
            "OPTIONS": {"pool": {"min_size": 1, "max_size": POOL_SIZE}},
        }
    },
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [Path(__file__).resolve().parent.parent / "templates" / "django"],
        }
    ],
    USE_TZ=True,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after django.setup()
from django.db import models  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402
from psycopg_pool import ConnectionPool  # noqa: E402


class World(models.Model):
    randomnumber = models.IntegerField()

    class Meta:
        app_label = "tfb"
        db_table = "world"
        managed = False


class Fortune(models.Model):
    message = models.CharField(max_length=2048)

    class Meta:
        app_label = "tfb"
        db_table = "fortune"
        managed = False


# The raw path's pool: opened by the first request that needs it.
pool = ConnectionPool(DSN, min_size=1, max_size=POOL_SIZE, open=False)
by_id = itemgetter("id")


def get_queries(request) -> int:
    """Return ``?queries=`` clamped to 1..500; missing or not a number is 1."""
    try:
        return min(max(int(request.GET.get("queries", "1")), 1), 500)
    except ValueError:
        return 1


def get_pool() -> ConnectionPool:
    if pool.closed:
        pool.open()  # thread-safe, and a no-op on an open pool
    return pool


def json_view(request):
    return JsonResponse({"message": "Hello, World!"})


def plaintext(request):
    return HttpResponse("Hello, World!", content_type="text/plain")


# -- ORM: Django ---------------------------------------------------------------------


def single_query(request):
    world = World.objects.get(id=random.randint(1, 10000))
    return JsonResponse({"id": world.id, "randomNumber": world.randomnumber})


def multiple_queries(request):
    worlds = [
        World.objects.get(id=world_id)  # one query each
        for world_id in random.sample(range(1, 10001), get_queries(request))
    ]
    return JsonResponse(
        [{"id": world.id, "randomNumber": world.randomnumber} for world in worlds], safe=False
    )


def updates(request):
    worlds = [
        World.objects.get(id=world_id)
        for world_id in random.sample(range(1, 10001), get_queries(request))
    ]
    for world in worlds:
        world.randomnumber = random.randint(1, 10000)
    World.objects.bulk_update(sorted(worlds, key=lambda world: world.id), ["randomnumber"])
    return JsonResponse(
        [{"id": world.id, "randomNumber": world.randomnumber} for world in worlds], safe=False
    )


def fortunes(request):
    rows = list(Fortune.objects.all())
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return render(request, "fortunes.html", {"fortunes": rows})


# -- raw driver: psycopg pool --------------------------------------------------------


def raw_single_query(request):
    with get_pool().connection() as connection:
        world_id, number = connection.execute(READ_ROW, (random.randint(1, 10000),)).fetchone()
    return JsonResponse({"id": world_id, "randomNumber": number})


def read_worlds(connection, count: int) -> list[dict[str, int]]:
    worlds = []
    for world_id in random.sample(range(1, 10001), count):  # one query each
        found, number = connection.execute(READ_ROW, (world_id,)).fetchone()
        worlds.append({"id": found, "randomNumber": number})
    return worlds


def raw_multiple_queries(request):
    with get_pool().connection() as connection:
        worlds = read_worlds(connection, get_queries(request))
    return JsonResponse(worlds, safe=False)


def raw_updates(request):
    with get_pool().connection() as connection:  # committed when the block ends
        worlds = read_worlds(connection, get_queries(request))
        for world in worlds:
            world["randomNumber"] = random.randint(1, 10000)
        # Sorted by id so concurrent requests lock rows in the same order.
        connection.cursor().executemany(
            WRITE_ROW,
            [(world["randomNumber"], world["id"]) for world in sorted(worlds, key=by_id)],
        )
    return JsonResponse(worlds, safe=False)


def raw_fortunes(request):
    with get_pool().connection() as connection:
        rows = connection.cursor(row_factory=dict_row).execute(READ_FORTUNES).fetchall()
    rows.append({"id": 0, "message": ADDITIONAL_FORTUNE})
    rows.sort(key=lambda fortune: fortune["message"])
    return render(request, "fortunes.html", {"fortunes": rows})


urlpatterns = [
    path("json", json_view),
    path("plaintext", plaintext),
    path("db", single_query),
    path("queries", multiple_queries),
    path("updates", updates),
    path("fortunes", fortunes),
    path("raw/db", raw_single_query),
    path("raw/queries", raw_multiple_queries),
    path("raw/updates", raw_updates),
    path("raw/fortunes", raw_fortunes),
]

app = get_wsgi_application()
