"""Announcing a significant version: plan one email per address, then send them in batches.

``announcement_plan`` runs when a significant version is published (queued by
``policies.services.policy_version_publish``): it writes one ``Announcement`` per address, read
in chunks from the subjects with an open request (in their request's language) and from the
account contacts the host registers with the registry (``registry.contacts``, in the
organisation's language); the unique constraint on (version, address) keeps each address once,
whoever lists it, however often planning runs. ``announcements_send`` then claims and sends
``ANNOUNCEMENT_BATCH`` at a time and queues the next batch, so memory and each task stay bounded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from announcements.models import Announcement, AnnouncementSource
from outbox.api import enqueue
from policies.models import PolicyVersion
from requests_app.emails import absolute_url
from requests_app.models import OPEN_STATUSES, SubjectRequest
from subject_data.registry import registry

logger = logging.getLogger(__name__)

SEND_TASK = "announcements.send_announcements"
ANNOUNCEMENT_BATCH = 200
PLAN_CHUNK = 1000


def _chunks(pairs: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    iterator = iter(pairs)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _open_request_subjects(organization_id: int) -> Iterator[tuple[str, str]]:
    rows = (
        SubjectRequest.objects.filter(organization_id=organization_id, status__in=OPEN_STATUSES)
        .exclude(email="")
        .order_by("pk")
        .values_list("email", "language")
    )
    yield from rows.iterator(chunk_size=PLAN_CHUNK)


def announcement_plan(*, version_id: int, at: datetime | None = None) -> int:
    """Write the announcements of a published significant version and queue their sending;
    return how many addresses were added now (0 when planned already)."""
    version = (
        PolicyVersion.objects.select_related("policy__organization")
        .filter(pk=version_id, published_at__isnull=False, significant=True)
        .first()
    )
    if version is None:
        return 0
    organization = version.policy.organization
    now = at or timezone.now()
    added = 0
    sources = (
        (AnnouncementSource.OPEN_REQUEST, _open_request_subjects(organization.pk)),
        (AnnouncementSource.ACCOUNT_CONTACT, registry.contacts(organization.pk)),
    )
    for source, pairs in sources:
        for chunk in _chunks(pairs, PLAN_CHUNK):
            # One row per address: a subject with several open requests, or a contact who also
            # has a request, is announced once (the first language found wins).
            rows = {
                email.strip().lower(): (language or organization.default_language)
                for email, language in reversed(chunk)
                if email and email.strip()
            }
            before = Announcement.objects.filter(version=version).count()
            Announcement.objects.bulk_create(
                [
                    Announcement(
                        version=version,
                        email=email,
                        language=language,
                        source=source,
                        created_at=now,
                    )
                    for email, language in rows.items()
                ],
                ignore_conflicts=True,
            )
            added += Announcement.objects.filter(version=version).count() - before
    enqueue(SEND_TASK, version.pk)
    logger.info("announcements of %s: %d addresses planned", version, added)
    return added


def _send_one(announcement: Announcement, version: PolicyVersion) -> None:
    organization = version.policy.organization
    link = absolute_url(
        reverse("announcements:version_changes", args=[organization.slug, version.pk])
    )
    with translation.override(announcement.language):
        context = {
            "organization": organization,
            "version": version,
            "effective_local": timezone.localtime(version.effective_at, organization.tz),
            "link": link,
        }
        subject = " ".join(
            render_to_string("emails/announcements/version_subject.txt", context).split()
        )
        text = render_to_string("emails/announcements/version.txt", context)
        html = render_to_string("emails/announcements/version.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[announcement.email],
        reply_to=[organization.contact_email],
    )
    message.attach_alternative(html, "text/html")
    message.send()


def announcements_send(*, version_id: int, batch: int | None = None) -> int:
    """Send the next batch of the version's unsent announcements; queue the next batch when
    more are left. Each is claimed by a conditional update before it is sent, so two workers
    never send one twice; a failed send gives its claim back and raises (the task retries).
    Return how many were sent."""
    version = (
        PolicyVersion.objects.select_related("policy__organization").filter(pk=version_id).first()
    )
    if version is None:
        return 0
    size = batch or ANNOUNCEMENT_BATCH
    pending = list(
        Announcement.objects.filter(version=version, sent_at__isnull=True).order_by("pk")[:size]
    )
    sent = 0
    for announcement in pending:
        now = timezone.now()
        if not Announcement.objects.filter(pk=announcement.pk, sent_at__isnull=True).update(
            sent_at=now
        ):
            continue  # another worker has it
        try:
            _send_one(announcement, version)
        except Exception:
            Announcement.objects.filter(pk=announcement.pk, sent_at=now).update(sent_at=None)
            raise
        sent += 1
    if Announcement.objects.filter(version=version, sent_at__isnull=True).exists():
        enqueue(SEND_TASK, version.pk)
    return sent
