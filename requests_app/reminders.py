"""Deadline notices: reminders and escalations to staff, and the subject's extension notice.

The reminder job runs every few minutes. A request whose clock is running gets one reminder when
it is due within ``REMINDER_DAYS_BEFORE`` days and one when it becomes overdue: the first goes to
the assignee (or to the privacy officers when nobody is assigned); the overdue one escalates: the
assignee is written to with the officers in copy (or the officers alone).

Each threshold is claimed with an update conditional on the marker not yet holding the deadline
in force, so repeated or concurrent runs send one email per threshold, never two. The marker holds
the deadline the reminder was for: when an extension moves the deadline, the new one earns its
own reminders. The claim and its audit event commit together; the email is sent by a task after
the commit and retried if the mail server fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.db.models.lookups import Exact
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from outbox.api import enqueue
from requests_app import roles
from requests_app.audit import Actor, event_append
from requests_app.emails import absolute_url, build_message
from requests_app.models import (
    OPEN_STATUSES,
    EventKind,
    RequestEvent,
    SubjectRequest,
    TokenPurpose,
    effective_due,
)
from requests_app.verification import token_issue

logger = logging.getLogger(__name__)

REMINDER_JOB = "send-deadline-reminders"
EXTENSION_NOTICE_JOB = "send-extension-notice"
DUE_SOON = "due_soon"
OVERDUE = "overdue"
MARKERS = {DUE_SOON: "due_soon_reminder_for", OVERDUE: "overdue_reminder_for"}


@dataclass(frozen=True)
class ReminderRun:
    """What one run of the reminder job did."""

    due_soon: int = 0
    overdue: int = 0
    nobody_to_tell: int = 0

    @property
    def sent(self) -> int:
        return self.due_soon + self.overdue


def officer_emails() -> list[str]:
    return [user.email for user in roles.officers()]


def reminder_recipients(
    request: SubjectRequest, threshold: str, officers: list[str]
) -> tuple[list[str], list[str]]:
    """Return (to, cc) for a reminder: the assignee, with the officers escalated to when due.

    ``officers`` are the officers' addresses, looked up once per run of the job.
    """
    assignee = request.assignee
    if assignee is not None and assignee.is_active and assignee.email:
        cc = [email for email in officers if email != assignee.email]
        return [assignee.email], (cc if threshold == OVERDUE else [])
    return list(officers), []


@transaction.atomic
def reminder_claim(
    *,
    request: SubjectRequest,
    threshold: str,
    deadline: datetime,
    at: datetime,
    officers: list[str] | None = None,
) -> RequestEvent | None:
    """Claim ``threshold`` for ``request``'s ``deadline`` and record it; None if already claimed.

    The update applies only while the request is open, its deadline is still ``deadline`` and
    the marker does not hold it yet: of two runs racing for the same reminder, one wins.
    """
    marker = MARKERS[threshold]
    to, cc = reminder_recipients(
        request, threshold, officer_emails() if officers is None else officers
    )
    if not to:
        return None
    still_due = Q(extended_due_at=deadline) | Q(extended_due_at__isnull=True, due_at=deadline)
    claimed = (
        SubjectRequest.objects.filter(still_due, pk=request.pk, status__in=sorted(OPEN_STATUSES))
        .exclude(**{marker: deadline})
        .update(**{marker: deadline})
    )
    if claimed != 1:
        return None
    event = event_append(
        request=request,
        kind=EventKind.REMINDER_SENT,
        actor=Actor.system(REMINDER_JOB),
        at=at,
        data={"threshold": threshold, "deadline": deadline.isoformat(), "to": to, "cc": cc},
    )
    enqueue("requests_app.send_staff_reminder", event.pk)
    return event


def _not_reminded(threshold: str) -> Q:
    """Requests whose ``threshold`` reminder was not sent for the deadline in force."""
    marker = MARKERS[threshold]
    return Q(**{f"{marker}__isnull": True}) | Q(~Exact(F(marker), effective_due()))


def reminders_send_due(*, at: datetime | None = None) -> ReminderRun:
    """Claim and queue every reminder due at ``at`` (now); safe to run again at any time."""
    now = at or timezone.now()
    days = settings.REMINDER_DAYS_BEFORE
    counts = {DUE_SOON: 0, OVERDUE: 0, "nobody": 0}
    officers = officer_emails()
    base = SubjectRequest.objects.select_related("assignee").with_deadline()
    candidates = {
        DUE_SOON: base.due_within(now, days).filter(_not_reminded(DUE_SOON)),
        OVERDUE: base.overdue(now).filter(_not_reminded(OVERDUE)),
    }
    for threshold, requests in candidates.items():
        for request in requests.order_by(effective_due(), "pk").iterator(chunk_size=500):
            deadline: datetime = request.deadline  # type: ignore[attr-defined]
            if reminder_claim(
                request=request, threshold=threshold, deadline=deadline, at=now, officers=officers
            ):
                counts[threshold] += 1
            elif not reminder_recipients(request, threshold, officers)[0]:
                counts["nobody"] += 1
    if counts["nobody"]:
        logger.warning(
            "%d deadline reminders found nobody to tell: add privacy officers with an email",
            counts["nobody"],
        )
    return ReminderRun(
        due_soon=counts[DUE_SOON], overdue=counts[OVERDUE], nobody_to_tell=counts["nobody"]
    )


def reminder_email_send(*, event_id: int) -> bool:
    """Send the reminder recorded as ``event_id``; False when the request has closed since."""
    event = (
        RequestEvent.objects.select_related("request__organization", "request__assignee")
        .filter(pk=event_id, kind=EventKind.REMINDER_SENT)
        .first()
    )
    if event is None or not event.request.is_open:
        return False
    request = event.request
    organization = request.organization
    deadline = datetime.fromisoformat(event.data["deadline"])
    change_page = reverse("admin:requests_app_subjectrequest_change", args=[request.pk])
    context: dict[str, Any] = {
        "request": request,
        "organization": organization,
        "overdue": event.data["threshold"] == OVERDUE,
        "deadline_local": deadline.astimezone(organization.tz),
        "days": abs(request.days_to_deadline() or 0),
        "link": absolute_url(change_page),
    }
    with translation.override(settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string("emails/staff/reminder_subject.txt", context).split())
        text = render_to_string("emails/staff/reminder.txt", context)
        html = render_to_string("emails/staff/reminder.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=event.data["to"],
        cc=event.data["cc"],
    )
    message.attach_alternative(html, "text/html")
    message.send()
    return True


def extension_notice_send(*, request_id: int, event_id: int) -> bool:
    """Tell the subject their deadline was extended, and why; record that it was sent.

    Return False, sending nothing, when the request has closed or its subject is not emailed.
    """
    request = (
        SubjectRequest.objects.select_related("organization", "rule", "policy_version")
        .filter(pk=request_id)
        .first()
    )
    event = RequestEvent.objects.filter(
        pk=event_id, request_id=request_id, kind=EventKind.EXTENDED
    ).first()
    if request is None or event is None or not request.is_open or not request.emails_subject:
        return False
    token = token_issue(request=request, purpose=TokenPurpose.STATUS)
    link = absolute_url(reverse("requests_app:request_status", args=[token]))
    build_message(request=request, kind="extended", link=link, event=event).send()
    event_append(
        request=request,
        kind=EventKind.EMAIL_SENT,
        actor=Actor.system(EXTENSION_NOTICE_JOB),
        at=timezone.now(),
        data={"email": "extended", "event": event.sequence},
    )
    return True
