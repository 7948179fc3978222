"""The Celery application; every option is read from Django settings under the CELERY_ prefix."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dsr_tracker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping() -> dict[str, str]:
    """Answer with the database vendor the worker reaches, proving both the broker and the DB."""
    from django.db import connection

    connection.ensure_connection()
    return {"pong": "ok", "database": connection.vendor}
