"""Celery tasks of export packages: thin wrappers that take ids and call a service.

Imported by the app's ``ready()``, so every process registers them. Each is safe to run again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task
from django.db import InterfaceError, OperationalError

from exports import build, delivery
from outbox.api import once
from requests_app.jobs import EMAIL_RETRY

logger = logging.getLogger(__name__)


@shared_task(
    name="exports.build_export",
    autoretry_for=(OperationalError, InterfaceError, OSError),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=build.MAX_ATTEMPTS - 1,
)
def build_export(package_id: int) -> int | None:
    """Build an export package; a database or storage failure is retried with backoff."""
    package = build.export_build(package_id=package_id)
    return package.pk if package is not None else None


@shared_task(name="exports.send_export_email", **EMAIL_RETRY)
def send_export_email(package_id: int) -> bool:
    """Email the subject a link to their delivered export package."""
    with once() as first:
        return first and delivery.export_email_send(package_id=package_id)


@shared_task(name="exports.resume_stalled_builds")
def resume_stalled_builds() -> int:
    """Queue again the builds whose heartbeat stopped (their worker died); return how many."""
    recovered = delivery.exports_recover_stalled()
    if recovered:
        logger.info("%d stalled export builds recovered", recovered)
    return recovered


@shared_task(name="exports.delete_expired_exports")
def delete_expired_exports() -> dict[str, int]:
    """Expire download links, delete expired and discarded files, recover stalled builds."""
    report = delivery.exports_housekeeping()
    logger.info(
        "export housekeeping: %d links expired, %d files deleted, %d stalled builds recovered",
        report.expired,
        report.files_deleted,
        report.recovered,
    )
    return asdict(report)
