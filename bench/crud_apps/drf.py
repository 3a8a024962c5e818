"""Django REST framework: a ModelSerializer and a ModelViewSet behind a router.

Django configured in the module (as bench/tfb/apps/django.py), with Django's
psycopg pool; DRF with JSON only (no browsable API), no authentication and
``AllowAny`` (as the other apps: no users), ``CursorPagination`` ordered by
id with 50 a page (one query, no COUNT, as the others).
"""

import os
from urllib.parse import urlsplit

import django
from django.conf import settings

KIND = "wsgi"
DSN = os.environ.get("CRUD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
POOL_SIZE = 8
_url = urlsplit(DSN)

settings.configure(
    DEBUG=False,
    SECRET_KEY="crud-benchmark-only-" + "k" * 32,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    INSTALLED_APPS=["rest_framework"],
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
    REST_FRAMEWORK={
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
        "UNAUTHENTICATED_USER": None,
    },
    USE_TZ=True,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import models  # noqa: E402
from django.urls import include, path  # noqa: E402
from rest_framework import pagination, routers, serializers, viewsets  # noqa: E402


class Task(models.Model):
    title = models.CharField(max_length=100)
    completed = models.BooleanField(default=False)

    class Meta:
        app_label = "crud"
        db_table = "bench_crud_task"
        managed = False


class TaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = ["id", "title", "completed"]


class TaskPagination(pagination.CursorPagination):
    page_size = 50
    ordering = "id"


class TaskViewSet(viewsets.ModelViewSet):
    queryset = Task.objects.all()
    serializer_class = TaskSerializer
    pagination_class = TaskPagination


router = routers.SimpleRouter(trailing_slash=False)
router.register("tasks", TaskViewSet)
urlpatterns = [path("", include(router.urls))]

app = get_wsgi_application()
