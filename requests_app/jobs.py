"""Celery tasks by name, with one retry policy for every email.

A service queues a task by its stable name through the outbox
(``outbox.api.enqueue("exports.build_export", package.pk)``, written in its transaction and sent on
commit) instead of importing the task's module: the task module imports the service it calls, so
the service importing it back would close a cycle. ``job(name)`` returns a registered task.
Each app imports its own ``tasks`` module in ``AppConfig.ready()``, so every process (web,
worker, tests) has every task registered before a request can queue one.

Task names are explicit and stable (``<app>.<task>``); ``LEGACY_NAMES`` maps the names tasks had
before the apps were split to today's, so messages already waiting in a broker when an install
upgrades still find their task (``config/celery.py`` registers the aliases).
"""

from __future__ import annotations

from smtplib import SMTPException
from typing import Any

from celery import Task, current_app

# Mail server failures are retried after about 30 s, 1, 2, 4... minutes (with jitter), at most an
# hour apart, eight times: about four hours in all. Everything else fails the task at once.
EMAIL_RETRY: dict[str, Any] = {
    "autoretry_for": (SMTPException, OSError),
    "retry_backoff": 30,
    "retry_backoff_max": 60 * 60,
    "retry_jitter": True,
    "max_retries": 8,
}


class UnknownJob(LookupError):
    """No task is registered under the name: a typo, or an app whose ready() did not run."""


def job(name: str) -> Task:
    """Return the registered task called ``name`` (``.delay(...)`` queues it)."""
    try:
        return current_app.tasks[name]
    except KeyError:
        raise UnknownJob(f"no Celery task is registered as {name!r}") from None


LEGACY_NAMES: dict[str, str] = {
    "requests_app.tasks.send_request_email": "requests_app.send_request_email",
    "requests_app.tasks.expire_unverified_requests": "requests_app.expire_unverified_requests",
    "requests_app.tasks.send_deadline_reminders": "requests_app.send_deadline_reminders",
    "requests_app.tasks.send_staff_reminder": "requests_app.send_staff_reminder",
    "requests_app.tasks.send_extension_notice": "requests_app.send_extension_notice",
    "requests_app.subject_data.tasks.build_export": "exports.build_export",
    "requests_app.subject_data.tasks.send_export_email": "exports.send_export_email",
    "requests_app.subject_data.tasks.delete_expired_exports": "exports.delete_expired_exports",
    "requests_app.erasure.tasks.execute_purge_step": "retention.execute_purge_step",
    "requests_app.erasure.tasks.apply_retention_rules": "retention.apply_retention_rules",
    "requests_app.erasure.tasks.anonymise_closed_requests": "retention.anonymise_closed_requests",
    "requests_app.erasure.tasks.send_retention_notice": "retention.send_retention_notice",
    "requests_app.erasure.tasks.execute_due_erasures": "erasure.execute_due_erasures",
    "requests_app.erasure.tasks.send_erasure_email": "erasure.send_erasure_email",
    "requests_app.opendsr.tasks.dispatch_status_callbacks": "opendsr.dispatch_status_callbacks",
    "requests_app.opendsr.tasks.deliver_status_callback": "opendsr.deliver_status_callback",
}
