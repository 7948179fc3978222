"""Requests filed for someone else: a parent for their child, an agent for the person they act for.

The request's own address is the filer's (they confirm it and get every email); the person the
request is about is named in its ``Representation`` (their email as the business knows it,
phone, account, date of birth) and the filer's authorisation is stored with it. Until an officer
has verified the relationship (``relationship_decide``) nothing is released, erased or corrected:
the services that would do so call ``relationship_require_verified`` first, and completing the
request is blocked too (a completion guard), so no admin button or API call gets round it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from requests_app.audit import Actor, event_append
from requests_app.models import (
    EventKind,
    ReasonCode,
    RelationshipStatus,
    Representation,
    RequestStatus,
    SubjectRequest,
)
from requests_app.workflow import IllegalAction, request_reject

VERIFY_RELATIONSHIP = "requests_app.verify_relationship"
# What an authorisation may be: the first bytes of each accepted type, its MIME type.
AUTHORISATION_TYPES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
AUTHORISATION_MAX_BYTES = 5 * 1024 * 1024


class RelationshipNotVerified(IllegalAction):
    """The request is for someone else and the filer's relationship is not verified."""


@dataclass(frozen=True)
class OnBehalf:
    """The person a request is about, as the filer gave them, and the filer's authorisation."""

    subject_email: str
    subject_phone: str = ""
    subject_account_identifier: str = ""
    subject_date_of_birth: date | None = None
    authorisation: UploadedFile | None = None


def authorisation_type(upload: UploadedFile) -> str | None:
    """The MIME type of ``upload`` read from its first bytes (never from its name or the type
    the browser claims); ``None`` when it is not a PDF, PNG or JPEG."""
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    for magic, mime in AUTHORISATION_TYPES:
        if head.startswith(magic):
            return mime
    return None


def representation_create(*, request: SubjectRequest, on_behalf: OnBehalf) -> Representation:
    """Record whom ``request`` is about and store the filer's authorisation (part of intake)."""
    representation = Representation(
        request=request,
        subject_email=on_behalf.subject_email.lower(),
        subject_phone=on_behalf.subject_phone,
        subject_account_identifier=on_behalf.subject_account_identifier,
        subject_date_of_birth=on_behalf.subject_date_of_birth,
    )
    upload = on_behalf.authorisation
    if upload is not None:
        mime = authorisation_type(upload)
        if mime is None or (upload.size or 0) > AUTHORISATION_MAX_BYTES:
            raise ValueError("the authorisation was not checked by the form")
        representation.authorisation_name = (upload.name or "")[:200]
        representation.authorisation_type = mime
        representation.authorisation_size = int(upload.size or 0)
        extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}[mime]
        # The stored name is ours: the filer's file name is shown, never used as a path.
        representation.authorisation.save(f"{request.reference}.{extension}", upload, save=False)
    representation.save()
    return representation


def representation_of(request: SubjectRequest) -> Representation | None:
    """The request's representation, or ``None`` for a request the subject filed themselves."""
    return Representation.objects.filter(request_id=request.pk).first()


def relationship_blocker(request: SubjectRequest) -> str:
    """Why no data may be released, erased or corrected for ``request`` yet ("" when it may)."""
    if not request.is_on_behalf:
        return ""
    representation = representation_of(request)
    if representation is None or representation.status == RelationshipStatus.PENDING:
        return _(
            "Request %(reference)s was filed by someone else (%(relationship)s): verify the "
            "relationship before any data is released, erased or corrected."
        ) % {
            "reference": request.reference,
            "relationship": request.get_on_behalf_relationship_display(),
        }
    if representation.status == RelationshipStatus.REJECTED:
        return _(
            "The relationship of whoever filed request %(reference)s was rejected: no data is "
            "released, erased or corrected."
        ) % {"reference": request.reference}
    if not representation.subject_email:
        return _(
            "Request %(reference)s names no email of the person it is about: their data cannot "
            "be found."
        ) % {"reference": request.reference}
    return ""


def relationship_require_verified(request: SubjectRequest) -> None:
    """Raise ``RelationshipNotVerified`` unless data may be acted on for ``request``."""
    blocker = relationship_blocker(request)
    if blocker:
        raise RelationshipNotVerified(blocker)


def completion_guard(request: SubjectRequest) -> list[str]:
    """A completion guard: a request for someone else is not completed before verification."""
    blocker = relationship_blocker(request)
    return [blocker] if blocker else []


@transaction.atomic
def relationship_decide(
    *,
    request: SubjectRequest,
    actor: Actor,
    verified: bool,
    reason: str,
    at: datetime | None = None,
) -> Representation:
    """Record an officer's decision on the filer's relationship, with the reason, in the audit
    trail. A rejection also rejects the request (the filer is told why).

    Raise ``IllegalAction`` (nothing changes) when the actor may not verify relationships, the
    reason is empty, the request is closed or was not filed for someone else, or it was decided
    already.
    """
    now = at or timezone.now()
    if actor.user is None or not actor.user.has_perm(VERIFY_RELATIONSHIP):
        raise IllegalAction(_("Only a privacy officer may verify a relationship."))
    reason = reason.strip()
    if not reason:
        raise IllegalAction(_("Give the reason for the decision."))
    locked = (
        SubjectRequest.objects.select_for_update(of=("self",))
        .select_related("organization", "rule")
        .get(pk=request.pk)
    )
    if not locked.is_on_behalf:
        raise IllegalAction(
            _("Request %(reference)s was filed by the subject themselves.")
            % {"reference": locked.reference}
        )
    if not locked.is_open or locked.status == RequestStatus.AWAITING_VERIFICATION:
        raise IllegalAction(
            _("The relationship cannot be decided while request %(reference)s is “%(status)s”.")
            % {"reference": locked.reference, "status": locked.get_status_display()}
        )
    representation, _created = Representation.objects.get_or_create(request=locked)
    status = RelationshipStatus.VERIFIED if verified else RelationshipStatus.REJECTED
    if verified and not representation.subject_email:
        raise IllegalAction(
            _("The request names no email of the person it is about; it cannot be verified.")
        )
    changed = Representation.objects.filter(
        pk=representation.pk, status=RelationshipStatus.PENDING
    ).update(status=status, decided_by=actor.user, decided_at=now, decision_reason=reason)
    if changed != 1:
        raise IllegalAction(
            _("The relationship for request %(reference)s was decided already.")
            % {"reference": locked.reference}
        )
    event_append(
        request=locked,
        kind=EventKind.NOTE,
        actor=actor,
        at=now,
        note=reason,
        data={
            "relationship": {
                "decision": status,
                "relationship": locked.on_behalf_relationship,
                "subject_email": representation.subject_email,
            }
        },
    )
    if not verified:
        with translation.override(locked.language):
            message = _(
                "We could not accept that you may make this request for %(name)s: %(reason)s"
            ) % {"name": locked.on_behalf_subject_name, "reason": reason}
        request_reject(
            request=locked,
            actor=actor,
            reason_code=ReasonCode.IDENTITY_NOT_CONFIRMED,
            reason=message,
            at=now,
        )
    request.refresh_from_db()
    representation.refresh_from_db()
    return representation
