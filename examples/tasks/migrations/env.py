"""Alembic environment, written by ``oakling db init``.

The app's Database gives the metadata and the engine (``oakling db`` finds the
app like ``oakling run``: OAKLING_APP, app.py, main.py or wsgi.py). Pass extra
``context.configure()`` options to run_migrations, e.g. ``include_object=...``.
"""

from alembic import context

from oakling.db.migrations import run_migrations

run_migrations(context)
