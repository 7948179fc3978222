"""Celery tasks of policy announcements: thin, take ids, safe to run again."""

from __future__ import annotations

from celery import shared_task

from announcements import services
from requests_app.jobs import EMAIL_RETRY


@shared_task(name="announcements.announce_version")
def announce_version(version_id: int) -> int:
    """Plan the announcements of a significant version just published."""
    return services.announcement_plan(version_id=version_id)


@shared_task(name="announcements.send_announcements", **EMAIL_RETRY)
def send_announcements(version_id: int) -> int:
    """Send the next batch of a version's announcements."""
    return services.announcements_send(version_id=version_id)
