"""Django's settings, URLs and ASGI app for bench/admin.py (one module, ``settings.configure``).

Serve with ``uvicorn --factory bench.admin_apps.django_site:create_app``.
Django's defaults where they matter to speed, except two choices made to
match oakling's: signed-cookie sessions (oakling's default; Django's default
is one session query per request) and persistent connections
(``CONN_MAX_AGE``; oakling keeps a pool).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import django
from django.conf import settings

from . import DATABASE_URL, SECRET_KEY, QueryCounter

_URL = urlsplit(DATABASE_URL)

SETTINGS: dict[str, Any] = {
    "DEBUG": False,
    "SECRET_KEY": SECRET_KEY,
    "ALLOWED_HOSTS": ["*"],
    "ROOT_URLCONF": "bench.admin_apps.django_urls",
    "USE_TZ": True,
    "INSTALLED_APPS": [
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "bench.admin_apps.djangoapp",
    ],
    "MIDDLEWARE": [
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
    "SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
    "TEMPLATES": [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ],
    "DATABASES": {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _URL.path.lstrip("/"),
            "USER": _URL.username or "postgres",
            "PASSWORD": _URL.password or "",
            "HOST": _URL.hostname or "127.0.0.1",
            "PORT": str(_URL.port or 5432),
            "CONN_MAX_AGE": 600,
            "OPTIONS": {"options": "-c search_path=django,public"},
        }
    },
    "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
    "STATIC_URL": "/static/",
    "LOGGING_CONFIG": None,
}


def setup() -> None:
    """Configure and set up Django (once)."""
    if not settings.configured:
        settings.configure(**SETTINGS)
        django.setup()


def create_app() -> Any:
    """Return Django's ASGI app, wrapped in the query counter."""
    setup()
    from django.core.asgi import get_asgi_application
    from django.db import connections

    app = get_asgi_application()
    counter = QueryCounter(app)

    def count(execute: Any, sql: Any, params: Any, many: Any, context: Any) -> Any:
        counter.hit()
        return execute(sql, params, many, context)

    from django.core.signals import request_started

    def wrap(**_kwargs: Any) -> None:
        connection = connections["default"]
        if count not in connection.execute_wrappers:
            connection.execute_wrappers.append(count)

    request_started.connect(wrap, weak=False)
    return counter
