"""``oakling worker`` and ``oakling beat``: Celery's worker and beat, bound to the app.

Published in the ``oakling.commands`` entry-point group. The app is found as
``oakling run`` finds it (``--app``, ``OAKLING_APP``, ``app.py`` ...); its
settings name the broker (``TASKS_BROKER_URL``). The worker imports the app,
so its plugins, settings and Database are the web processes' own.
"""

from __future__ import annotations

from typing import Any

import click

__all__ = ["beat", "worker"]


def _celery(app_path: str | None) -> Any:
    from oakling.cli import load_app
    from oakling.exceptions import ImproperlyConfigured
    from oakling.tasks.worker import celery_app

    app = load_app(app_path)
    try:
        return celery_app(app)
    except ImproperlyConfigured as ex:
        raise click.ClickException(str(ex)) from None


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--app", "app_path", default=None, help="The app, as module:name.")
@click.option("-c", "--concurrency", type=int, default=None, help="Worker processes.")
@click.option("-P", "--pool", default=None, help="prefork (default), solo, threads.")
@click.option("-Q", "--queues", default=None, help="Queues to consume, comma-separated.")
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(
    app_path: str | None,
    concurrency: int | None,
    pool: str | None,
    queues: str | None,
    loglevel: str,
    celery_args: tuple[str, ...],
) -> None:
    """Run a Celery worker for the app's tasks (``celery worker``).

    Further arguments go to Celery's worker unchanged.
    """
    argv = ["worker", f"--loglevel={loglevel}"]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    if pool is not None:
        argv.append(f"--pool={pool}")
    if queues is not None:
        argv.append(f"--queues={queues}")
    _celery(app_path).worker_main([*argv, *celery_args])


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--app", "app_path", default=None, help="The app, as module:name.")
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat(app_path: str | None, loglevel: str, celery_args: tuple[str, ...]) -> None:
    """Send the app's periodic tasks on their schedules (``celery beat``); run one."""
    _celery(app_path).start(["beat", f"--loglevel={loglevel}", *celery_args])
