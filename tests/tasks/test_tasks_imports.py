"""An app that does not use a broker pays nothing for Celery."""

from __future__ import annotations

import subprocess
import sys


def loaded(code: str) -> list[str]:
    probe = (
        f"{code}; import sys; "
        "print(','.join(m for m in ('celery', 'kombu', 'amqp', 'redis', 'sqlalchemy') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [name for name in result.stdout.strip().split(",") if name]


def test_the_core_imports_no_celery() -> None:
    assert loaded("import oakling") == []


def test_an_in_process_app_imports_neither_celery_nor_sqlalchemy() -> None:
    code = (
        "from oakling import App; from oakling.config import Settings; "
        "from oakling.tasks import Tasks, task; "
        "f = task(lambda x: x); "
        "app = App(settings=Settings(SECRET_KEY='k' * 40), plugins=[Tasks()]); app.build(); "
        "b = app.extensions['tasks'].backend"
    )
    assert loaded(code) == []


def test_a_broker_url_brings_celery_in() -> None:
    code = (
        "from oakling import App; from oakling.config import Settings; "
        "from oakling.tasks import Tasks; "
        "app = App(settings=Settings(SECRET_KEY='k' * 40, "
        "extra={'TASKS_BROKER_URL': 'amqp://guest:guest@127.0.0.1:5672//'}), plugins=[Tasks()]); "
        "b = app.extensions['tasks'].backend"
    )
    assert "celery" in loaded(code)
