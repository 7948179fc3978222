"""Celery tasks of export packages: thin wrappers that take ids and call a service.

Imported by ``requests_app.tasks`` so every worker registers them. Each is safe to run again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from smtplib import SMTPException

from celery import shared_task
from django.db import InterfaceError, OperationalError

from requests_app.subject_data import delivery, exports

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(OperationalError, InterfaceError, OSError),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=exports.MAX_ATTEMPTS - 1,
)
def build_export(package_id: int) -> int | None:
    """Build an export package; a database or storage failure is retried with backoff."""
    package = exports.export_build(package_id=package_id)
    return package.pk if package is not None else None


@shared_task(
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=60 * 60,
    retry_jitter=True,
    max_retries=8,
)
def send_export_email(package_id: int) -> bool:
    """Email the subject a link to their delivered export package."""
    return delivery.export_email_send(package_id=package_id)


@shared_task
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
