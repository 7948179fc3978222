"""The Celery application; every option is read from Django settings under the CELERY_ prefix."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dsr_tracker")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each app imports its own tasks module in AppConfig.ready(); discovery finds them too.
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping() -> dict[str, str]:
    """Answer with the database vendor the worker reaches, proving both the broker and the DB."""
    from django.db import connection

    connection.ensure_connection()
    return {"pong": "ok", "database": connection.vendor}


@signals.worker_init.connect
def _legacy_task_names(**kwargs: Any) -> None:
    """Let a worker run messages queued under a task's name from before the apps were split."""
    import django

    django.setup()  # Idempotent; every app's ready() has registered its tasks after it.
    from requests_app.jobs import LEGACY_NAMES

    for old, new in LEGACY_NAMES.items():
        if new in app.tasks and old not in app.tasks:
            app.tasks[old] = app.tasks[new]
