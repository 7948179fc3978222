"""The emails a subject receives about a request, in the request's language, text and HTML.

Each email that carries a link issues its own token when it is sent (in the worker), so no
secret travels through the broker and a re-sent email never invalidates an earlier link.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from requests_app.audit import Actor, event_append
from requests_app.models import (
    EventKind,
    RequestEvent,
    RequestStatus,
    SubjectRequest,
    TokenPurpose,
)
from requests_app.verification import token_issue

SEND_JOB = "send-request-email"
KINDS = frozenset({"verification", "verified", "status_update", "status_link"})


def absolute_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _link(request: SubjectRequest, kind: str) -> str:
    if kind == "verification":
        token = token_issue(request=request, purpose=TokenPurpose.VERIFICATION)
        return absolute_url(reverse("requests_app:request_verify", args=[token]))
    token = token_issue(request=request, purpose=TokenPurpose.STATUS)
    return absolute_url(reverse("requests_app:request_status", args=[token]))


def build_message(
    *, request: SubjectRequest, kind: str, link: str, event: RequestEvent | None = None
) -> EmailMultiAlternatives:
    """Render the ``kind`` email for ``request`` in its language."""
    organization = request.organization
    due = request.effective_due_at
    context: dict[str, Any] = {
        "request": request,
        "organization": organization,
        "link": link,
        "event": event,
        "due_local": due.astimezone(organization.tz) if due else None,
        "received_local": request.received_at.astimezone(organization.tz),
        "link_hours": settings.VERIFICATION_LINK_HOURS,
    }
    with translation.override(request.language):
        subject = " ".join(render_to_string(f"emails/requests/{kind}_subject.txt", context).split())
        text = render_to_string(f"emails/requests/{kind}.txt", context)
        html = render_to_string(f"emails/requests/{kind}.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[request.email],
        reply_to=[organization.contact_email],
    )
    message.attach_alternative(html, "text/html")
    return message


def request_email_send(*, request_id: int, kind: str, event_id: int | None = None) -> bool:
    """Send the ``kind`` email about a request; return False when it no longer applies.

    A confirmation link is only sent while the request still waits for confirmation, so a
    retried or late task does not mail a link that could not work. Nothing is sent (or recorded)
    about a request whose subject we do not email (``SubjectRequest.emails_subject``). The send is
    recorded in the audit trail (without the link).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown request email {kind!r}")
    request = (
        SubjectRequest.objects.select_related("organization", "rule", "policy_version")
        .filter(pk=request_id)
        .first()
    )
    if request is None or not request.emails_subject:
        return False
    if kind == "verification" and request.status != RequestStatus.AWAITING_VERIFICATION:
        return False
    event = RequestEvent.objects.filter(pk=event_id, request=request).first() if event_id else None
    message = build_message(request=request, kind=kind, link=_link(request, kind), event=event)
    message.send()
    event_append(
        request=request,
        kind=EventKind.EMAIL_SENT,
        actor=Actor.system(SEND_JOB),
        at=timezone.now(),
        data={"email": kind, "event": event.sequence if event else None},
    )
    return True
