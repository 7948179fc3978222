"""The emails about an erasure: when it will run (and how to cancel), and its certificate.

Like every request email, each is rendered in the request's language, carries its own status
link (issued here, in the worker, so no secret travels through the broker) and is recorded in
the audit trail once sent.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from erasure.certificates import certificate_summary
from erasure.models import ErasureCertificate, ErasureSchedule, ErasureStatus
from requests_app.audit import Actor, event_append
from requests_app.emails import absolute_url
from requests_app.models import EventKind, TokenPurpose
from requests_app.verification import token_issue
from subject_data.registry import registry

EMAIL_JOB = "send-erasure-email"
KINDS = frozenset({"scheduled", "certificate"})


def erasure_email_send(*, schedule_id: int, kind: str) -> bool:
    """Send the ``kind`` email of an erasure; return False when it no longer applies.

    The "scheduled" email is only sent while the erasure still waits (a cancelled one is not
    announced); the certificate email attaches the certificate as JSON and records when it went.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown erasure email {kind!r}")
    schedule = (
        ErasureSchedule.objects.select_related("request__organization")
        .filter(pk=schedule_id)
        .first()
    )
    if schedule is None:
        return False
    certificate = ErasureCertificate.objects.filter(schedule=schedule).first()
    if kind == "scheduled" and schedule.status != ErasureStatus.SCHEDULED:
        return False
    if kind == "certificate" and (certificate is None or certificate.sent_at is not None):
        return False
    request = schedule.request
    if not request.emails_subject:
        return False  # a controller's request (OpenDSR): the controller tells its customer
    organization = request.organization
    token = token_issue(request=request, purpose=TokenPurpose.STATUS)
    context: dict[str, Any] = {
        "request": request,
        "organization": organization,
        "schedule": schedule,
        "certificate": certificate,
        "link": absolute_url(reverse("requests_app:request_status", args=[token])),
        "runs_local": timezone.localtime(schedule.execute_after, organization.tz),
    }
    with translation.override(request.language):
        if certificate is not None:
            context["summary"] = certificate_summary(certificate.content)
            context["models"] = [
                {
                    **entry,
                    "name": registry.for_label(entry["model"]).model._meta.verbose_name_plural,
                }
                for entry in certificate.content["models"]
            ]
        subject = " ".join(render_to_string(f"emails/erasure/{kind}_subject.txt", context).split())
        text = render_to_string(f"emails/erasure/{kind}.txt", context)
        html = render_to_string(f"emails/erasure/{kind}.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[request.email],
        reply_to=[organization.contact_email],
    )
    message.attach_alternative(html, "text/html")
    if certificate is not None and kind == "certificate":
        message.attach(
            f"erasure-certificate-{request.reference}.json",
            ErasureCertificate.canonical(certificate.content),
            "application/json",
        )
    message.send()
    now = timezone.now()
    if certificate is not None and kind == "certificate":
        ErasureCertificate.objects.filter(pk=certificate.pk, sent_at__isnull=True).update(
            sent_at=now
        )
    event_append(
        request=request,
        kind=EventKind.EMAIL_SENT,
        actor=Actor.system(EMAIL_JOB),
        at=now,
        data={"email": f"erasure_{kind}", "schedule": schedule.pk},
    )
    return True
