"""The tracker's own retention: a closed request's subject details go after the evidence period.

A request is evidence of how a subject's demand was answered, so it is kept whole for
``CLOSED_REQUEST_EVIDENCE_YEARS`` (3 by default) after it closed. Then the subject's details on
the request (email, name, phone, account identifier, the person acted for, description and the
type-specific details) are overwritten and its secret links are revoked.

The audit trail is not touched: its events are append-only and hash-chained, and anonymising
the request row (which the hashes do not cover) keeps every chain verifiable. An event records
the anonymisation itself, so the chain also shows when it happened.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from requests_app.audit import Actor, event_append
from requests_app.models import (
    CLOSED_STATUSES,
    EventKind,
    Representation,
    RequestToken,
    SubjectRequest,
)
from retention.models import ClosedRequestAnonymisation

logger = logging.getLogger(__name__)

ANONYMISE_JOB = "anonymise-closed-requests"


def evidence_cutoff(at: datetime) -> datetime:
    """Requests closed before this instant are past their evidence period."""
    years = int(settings.CLOSED_REQUEST_EVIDENCE_YEARS)
    try:
        return at.replace(year=at.year - years)
    except ValueError:  # 29 February, in a year without one
        return at.replace(year=at.year - years, day=28)


def anonymised_email(request_id: int) -> str:
    return f"anonymised-{request_id}@invalid"


def closed_request_anonymise(*, request_id: int, at: datetime | None = None) -> bool:
    """Anonymise one closed request past its evidence period; return False if not due or done."""
    now = at or timezone.now()
    with transaction.atomic():
        request = (
            SubjectRequest.objects.select_for_update(of=("self",))
            .filter(
                pk=request_id,
                status__in=sorted(CLOSED_STATUSES),
                closed_at__lt=evidence_cutoff(now),
                anonymisation__isnull=True,
            )
            .first()
        )
        if request is None:
            return False
        SubjectRequest.objects.filter(pk=request.pk).update(
            email=anonymised_email(request.pk),
            name="",
            phone="",
            account_identifier="",
            on_behalf_subject_name="",
            description="",
            details={},
        )
        _representation_anonymise(request)
        revoked, _ = RequestToken.objects.filter(request=request).delete()
        ClosedRequestAnonymisation.objects.create(request=request, anonymised_at=now)
        event_append(
            request=request,
            kind=EventKind.NOTE,
            actor=Actor.system(ANONYMISE_JOB),
            at=now,
            data={
                "anonymised": {
                    "evidence_years": int(settings.CLOSED_REQUEST_EVIDENCE_YEARS),
                    "links_revoked": revoked,
                }
            },
        )
    return True


def _representation_anonymise(request: SubjectRequest) -> None:
    """Remove whom a request filed for someone else was about and the filer's authorisation
    (the file is deleted once the transaction commits; the decision and its reason stay)."""
    representation = Representation.objects.filter(request=request).first()
    if representation is None:
        return
    stored = representation.authorisation.name or ""
    Representation.objects.filter(pk=representation.pk).update(
        subject_email="",
        subject_phone="",
        subject_account_identifier="",
        subject_date_of_birth=None,
        authorisation="",
        authorisation_name="",
    )
    if stored:
        storage = representation.authorisation.storage
        transaction.on_commit(lambda: storage.delete(stored))


def closed_requests_anonymise(*, at: datetime | None = None) -> int:
    """Anonymise every closed request past its evidence period; return how many.

    Each request is its own transaction, so the job can stop anywhere and run again.
    """
    now = at or timezone.now()
    due = SubjectRequest.objects.filter(
        status__in=sorted(CLOSED_STATUSES),
        closed_at__lt=evidence_cutoff(now),
        anonymisation__isnull=True,
    )
    done = 0
    for request_id in due.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=500):
        done += closed_request_anonymise(request_id=request_id, at=now)
    logger.info("anonymised %d closed requests", done)
    return done
