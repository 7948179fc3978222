"""Receiving and cancelling OpenDSR requests, and issuing controllers' API keys.

A request from a controller becomes an ordinary ``SubjectRequest`` through the intake service the
public form uses, under the policy in force of the controller's organisation, and is then marked
verified at once, by the controller: OpenDSR has the controller verify its customer before
forwarding the request. From then on staff work it like any other; its OpenDSR status follows ours
(``STATUS_OF``). We never email its subject: the controller speaks to its own customer, and learns
of every change from the status callbacks (see ``SubjectRequest.emails_subject``).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from opendsr.models import (
    REQUEST_TYPE_OF,
    Controller,
    OpenDSRRequest,
    OpenDSRStatus,
    api_key_hash,
)
from policies.models import RequestType
from requests_app.audit import Actor, event_append
from requests_app.intake import SubjectDetails, open_duplicate, request_submit
from requests_app.models import EventKind
from requests_app.selectors import intake_offer
from requests_app.workflow import request_mark_verified, request_withdraw

API_KEY_PREFIX = "odsr_"


class OpenDSRError(Exception):
    """A request the processor cannot accept as it stands; the message names no subject."""


class RequestTypeNotOffered(OpenDSRError):
    """The controller's organisation does not offer this request type under its policy."""


class DuplicateOpenRequest(OpenDSRError):
    """The subject already has an open request of this type, filed some other way."""


class SubjectRequestIdReused(OpenDSRError):
    """The controller sent a different request under a subject_request_id it used before."""


class NotPending(OpenDSRError):
    """Only a pending request can be cancelled."""


@dataclass(frozen=True)
class Receipt:
    opendsr_request: OpenDSRRequest
    created: bool


def controller_actor(controller: Controller) -> Actor:
    """The audit trail's name for what a controller does: a system job named after it."""
    return Actor.system(f"opendsr:{controller.identifier}")


@transaction.atomic
def controller_key_issue(*, controller: Controller, at: datetime | None = None) -> str:
    """Give ``controller`` a new API key, replacing the old one, and return it.

    Only its SHA-256 and first characters are kept: the key is shown to staff once.
    """
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    controller.api_key_hash = api_key_hash(key)
    controller.api_key_hint = key[:12]
    controller.key_issued_at = at or timezone.now()
    if controller.pk is None:
        controller.save()
    else:
        controller.save(update_fields=["api_key_hash", "api_key_hint", "key_issued_at"])
    return key


def controller_for_key(key: str) -> Controller | None:
    """Return the active controller whose API key ``key`` is, or None."""
    if not key.startswith(API_KEY_PREFIX) or len(key) > 100:
        return None
    return (
        Controller.objects.select_related("organization")
        .filter(api_key_hash=api_key_hash(key), is_active=True)
        .first()
    )


def _same_request(existing: OpenDSRRequest, request_type: str, identities: list[Any]) -> bool:
    return existing.request_type == request_type and existing.identities == identities


@transaction.atomic
def opendsr_request_receive(
    *,
    controller: Controller,
    subject_request_id: UUID,
    regulation: str,
    request_type: str,
    identities: list[dict[str, str]],
    email: str,
    customer_id: str = "",
    submitted_time: datetime,
    status_callback_urls: list[str],
    api_version: str = "",
    raw_body: bytes,
    at: datetime | None = None,
) -> Receipt:
    """File a controller's request, or return the one it already filed under the same id.

    ``identities`` is the list as sent; ``email`` the subject's address taken from it. The same
    ``subject_request_id`` twice is the same request: the second call changes nothing and returns
    the first receipt. Raise ``SubjectRequestIdReused`` when the id comes back with a different
    type or identities, ``RequestTypeNotOffered`` when the organisation's policy in force does
    not offer the type, and ``DuplicateOpenRequest`` when the subject already has an open request
    of the type (from the form, say); nothing is written then.
    """
    # Submissions of one controller queue up here, so two calls with one id make one request.
    Controller.objects.select_for_update().filter(pk=controller.pk).get()
    existing = (
        OpenDSRRequest.objects.select_related("controller", "request__rule")
        .filter(controller=controller, subject_request_id=subject_request_id)
        .first()
    )
    if existing is not None:
        if not _same_request(existing, request_type, identities):
            raise SubjectRequestIdReused(
                _("This subject_request_id was already used for a different request.")
            )
        return Receipt(opendsr_request=existing, created=False)

    now = at or timezone.now()
    organization = controller.organization
    offer = intake_offer(organization=organization, at=now)
    rule = offer.rule_for(REQUEST_TYPE_OF[request_type]) if offer is not None else None
    if offer is None or rule is None:
        raise RequestTypeNotOffered(
            _("The processor's privacy policy does not offer this request type.")
        )
    duplicate = _(
        "An open request of this type for this subject is already being processed; "
        "send it again once that one is closed."
    )
    if open_duplicate(organization=organization, request_type=rule.request_type, email=email):
        raise DuplicateOpenRequest(duplicate)
    details: dict[str, Any] = {
        "opendsr": {
            "controller": controller.identifier,
            "subject_request_id": str(subject_request_id),
            "regulation": regulation,
        }
    }
    if rule.request_type == RequestType.DELETION:
        details["deletion_confirmed"] = True
    result = request_submit(
        organization=organization,
        version=offer.version,
        rule=rule,
        subject=SubjectDetails(
            email=email, name="", account_identifier=customer_id, details=details
        ),
        language=organization.default_language,
        at=now,
    )
    if not result.created:
        # A form submission for the same subject won the race; raising rolls back the pointer
        # event and the email request_submit queued for it.
        raise DuplicateOpenRequest(duplicate)
    subject_request = result.request
    event_append(
        request=subject_request,
        kind=EventKind.NOTE,
        actor=controller_actor(controller),
        at=now,
        note=(
            f"Received through OpenDSR from the controller {controller.name}, which verified "
            "the subject's identity before forwarding the request."
        ),
        data={
            "controller": controller.identifier,
            "subject_request_id": str(subject_request_id),
            "regulation": regulation,
            "opendsr_request_type": request_type,
            "submitted_time": submitted_time.isoformat(),
        },
    )
    request_mark_verified(request=subject_request, actor=controller_actor(controller), at=now)
    opendsr_request = OpenDSRRequest.objects.create(
        controller=controller,
        request=subject_request,
        subject_request_id=subject_request_id,
        regulation=regulation,
        request_type=request_type,
        identities=identities,
        status_callback_urls=status_callback_urls,
        api_version=api_version,
        submitted_time=submitted_time,
        received_time=now,
        encoded_request=base64.b64encode(raw_body).decode("ascii"),
        reported_status=OpenDSRStatus.PENDING,
    )
    return Receipt(opendsr_request=opendsr_request, created=True)


@transaction.atomic
def opendsr_request_cancel(
    *, opendsr_request: OpenDSRRequest, at: datetime | None = None
) -> OpenDSRRequest:
    """Cancel a pending request for its controller: the subject request is withdrawn.

    Cancelling one that is already cancelled (by an earlier call, or closed without an answer
    some other way) changes nothing. Raise ``NotPending`` once work has started or it is done.
    """
    locked = (
        OpenDSRRequest.objects.select_for_update(of=("self",))
        .select_related("controller", "request__rule", "request__organization")
        .get(pk=opendsr_request.pk)
    )
    status = locked.request_status
    if status == OpenDSRStatus.CANCELLED:
        return locked
    if status != OpenDSRStatus.PENDING:
        raise NotPending(
            _("Only a pending request can be cancelled; this one is %(status)s.")
            % {"status": OpenDSRStatus(status).label}
        )
    now = at or timezone.now()
    request_withdraw(request=locked.request, actor=controller_actor(locked.controller), at=now)
    locked.cancelled_at = now
    locked.save(update_fields=["cancelled_at"])
    return locked
