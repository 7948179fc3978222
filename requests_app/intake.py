"""Receiving a request from the public form: a new request, or a pointer to the open one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from outbox.api import enqueue
from policies.deadlines import rule_deadline
from policies.models import ClockStart, Organization, PolicyVersion, RequestTypeRule
from requests_app.audit import Actor, event_append
from requests_app.models import (
    OPEN_STATUSES,
    EventKind,
    ReferenceCounter,
    RequestStatus,
    SubjectRequest,
)
from requests_app.representation import OnBehalf, representation_create

REFERENCE_PREFIX = "DSR"


@dataclass(frozen=True)
class SubjectDetails:
    """What the subject told us on the form, already validated and normalised."""

    email: str
    name: str
    account_identifier: str = ""
    phone: str = ""
    on_behalf_relationship: str = ""
    on_behalf_subject_name: str = ""
    description: str = ""
    details: dict[str, Any] | None = None
    # Whom a request filed for someone else is about (``on_behalf_relationship`` set).
    on_behalf: OnBehalf | None = None


@dataclass(frozen=True)
class SubmitResult:
    request: SubjectRequest
    created: bool


def reference_next(*, year: int) -> str:
    """Return the next reference of ``year``, e.g. ``DSR-2026-000123``.

    The counter row is locked for the rest of the transaction, so references are gapless within
    committed requests and never handed out twice. A reference is a name for the request, not a
    key to it: the status page opens only with a secret link.
    """
    ReferenceCounter.objects.get_or_create(year=year)
    counter = ReferenceCounter.objects.select_for_update().get(year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"{REFERENCE_PREFIX}-{year}-{counter.last_number:06d}"


def open_duplicate(
    *, organization: Organization, request_type: str, email: str
) -> SubjectRequest | None:
    return (
        SubjectRequest.objects.filter(
            organization=organization,
            request_type=request_type,
            email=email.lower(),
            status__in=OPEN_STATUSES,
        )
        .select_related("organization", "rule")
        .first()
    )


@transaction.atomic
def request_submit(
    *,
    organization: Organization,
    version: PolicyVersion,
    rule: RequestTypeRule,
    subject: SubjectDetails,
    language: str,
    at: datetime | None = None,
) -> SubmitResult:
    """File a request, or point the subject to the open one of the same type and email.

    A new request waits for its email to be confirmed; the subject gets the confirmation link.
    When the same email already has an open request of this type with this organisation, no
    second one is made: the subject gets a link to the existing one instead (a new confirmation
    link if it is not yet confirmed). Both answers look the same on screen, so the form does not
    tell anyone whether an address has a request.
    """
    if rule.version_id != version.pk or not rule.offered:
        raise ValueError(f"rule {rule.pk} is not offered by policy version {version.pk}")
    now = at or timezone.now()
    email = subject.email.lower()
    existing = open_duplicate(
        organization=organization, request_type=rule.request_type, email=email
    )
    if existing is None:
        try:
            # A savepoint: a concurrent twin that wins the unique constraint is a duplicate.
            with transaction.atomic():
                request = _create(
                    organization=organization,
                    version=version,
                    rule=rule,
                    subject=subject,
                    email=email,
                    language=language,
                    at=now,
                )
                enqueue("requests_app.send_request_email", request.pk, "verification")
        except IntegrityError:
            existing = open_duplicate(
                organization=organization, request_type=rule.request_type, email=email
            )
            if existing is None:
                raise
        else:
            return SubmitResult(request=request, created=True)

    kind = (
        "verification" if existing.status == RequestStatus.AWAITING_VERIFICATION else "status_link"
    )
    with transaction.atomic():
        event_append(
            request=existing,
            kind=EventKind.DUPLICATE_SUBMITTED,
            actor=Actor.subject(),
            at=now,
            note="The same email filed this request type again; pointed to this request.",
        )
        enqueue("requests_app.send_request_email", existing.pk, kind)
    return SubmitResult(request=existing, created=False)


def _create(
    *,
    organization: Organization,
    version: PolicyVersion,
    rule: RequestTypeRule,
    subject: SubjectDetails,
    email: str,
    language: str,
    at: datetime,
) -> SubjectRequest:
    local_year = at.astimezone(organization.tz).year
    due_at = (
        rule_deadline(rule, at, organization=organization)
        if rule.clock_starts == ClockStart.RECEIPT
        else None
    )
    request = SubjectRequest.objects.create(
        reference=reference_next(year=local_year),
        organization=organization,
        policy_version=version,
        rule=rule,
        request_type=rule.request_type,
        status=RequestStatus.AWAITING_VERIFICATION,
        language=language,
        email=email,
        name=subject.name,
        account_identifier=subject.account_identifier,
        phone=subject.phone,
        on_behalf_relationship=subject.on_behalf_relationship,
        on_behalf_subject_name=subject.on_behalf_subject_name,
        description=subject.description,
        details=subject.details or {},
        received_at=at,
        clock_started_at=at if rule.clock_starts == ClockStart.RECEIPT else None,
        due_at=due_at,
    )
    if subject.on_behalf_relationship:
        representation_create(
            request=request, on_behalf=subject.on_behalf or OnBehalf(subject_email="")
        )
    event_append(
        request=request,
        kind=EventKind.SUBMITTED,
        actor=Actor.subject(),
        at=at,
        to_status=RequestStatus.AWAITING_VERIFICATION,
        subject_visible=True,
        data={
            "policy_version": version.version_label,
            "due_at": due_at.isoformat() if due_at else None,
            "on_behalf": subject.on_behalf_relationship,
        },
    )
    return request
