"""Legal holds on one subject or one account: placed and released by an officer, with a reason.

A hold names a subject (their email) or an account (the identifier the host's registry resolves,
``subject_data.holds``) in one organisation. While it is active, erasures keep the held rows
(recorded under the hold's basis, ``LegalHold.basis``) and retention purges skip them, each
saying so in its evidence. Releasing it tells the apps that kept rows for it (the release
listeners, registered in their ``ready()``), so what an erasure kept is erased then.

This is not the per-category legal hold of a policy's retention exemptions
(``erasure.holds``), which keeps a category of records for a period after an erasure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from policies.models import Organization
from requests_app.audit import Actor, event_append
from requests_app.models import EventKind, LegalHold, SubjectRequest
from requests_app.workflow import IllegalAction

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PLACE_LEGAL_HOLD = "requests_app.place_legal_hold"

_RELEASE_LISTENERS: list[Callable[[LegalHold], object]] = []


def hold_release_listener_register(listener: Callable[[LegalHold], object]) -> None:
    """Call ``listener(hold)`` in the transaction that releases ``hold``."""
    if listener not in _RELEASE_LISTENERS:
        _RELEASE_LISTENERS.append(listener)


def active_holds(organization_id: int) -> QuerySet[LegalHold]:
    return LegalHold.objects.filter(organization_id=organization_id, released_at__isnull=True)


def subject_of(request: SubjectRequest) -> tuple[str, str]:
    """The email and account identifier of the person ``request`` is about."""
    if request.is_on_behalf:
        representation = getattr(request, "representation", None)
        if representation is None:
            return "", ""
        return representation.subject_email, representation.subject_account_identifier
    return request.email, request.account_identifier


def holds_for_request(request: SubjectRequest) -> QuerySet[LegalHold]:
    """The active holds that concern ``request``'s subject: on their email, on the account they
    named, or placed from this request."""
    email, account = subject_of(request)
    concerns = Q(request=request)
    if email:
        concerns |= Q(subject_email__iexact=email)
    if account:
        concerns |= Q(account_identifier=account)
    return active_holds(request.organization_id).filter(concerns)


def _note(hold: LegalHold, event: str, *, actor: Actor, at: datetime, reason: str) -> None:
    if hold.request_id is None:
        return
    event_append(
        request=SubjectRequest.objects.get(pk=hold.request_id),
        kind=EventKind.NOTE,
        actor=actor,
        at=at,
        note=reason,
        data={
            "legal_hold": {
                "event": event,
                "hold": hold.pk,
                "subject_email": hold.subject_email,
                "account": hold.account_identifier,
            }
        },
    )


def _officer(actor: Actor) -> User:
    """The actor's user, when they may place and release holds; ``IllegalAction`` otherwise."""
    if actor.user is None or not actor.user.has_perm(PLACE_LEGAL_HOLD):
        raise IllegalAction(_("Only a privacy officer may place or release a legal hold."))
    return actor.user


@transaction.atomic
def legal_hold_place(
    *,
    organization: Organization,
    actor: Actor,
    reason: str,
    subject_email: str = "",
    account_identifier: str = "",
    request: SubjectRequest | None = None,
    at: datetime | None = None,
) -> LegalHold:
    """Place a hold on a subject or an account of ``organization`` and record it in the audit
    trail of ``request`` (when placed from one). Raise ``IllegalAction`` (nothing changes) for an
    actor who may not, no reason, or neither a subject nor an account."""
    officer = _officer(actor)
    now = at or timezone.now()
    reason = reason.strip()
    subject_email = subject_email.strip().lower()
    account_identifier = account_identifier.strip()
    if not reason:
        raise IllegalAction(_("Give the reason for the legal hold."))
    if not subject_email and not account_identifier:
        raise IllegalAction(_("Name the subject's email or the account to hold."))
    if request is not None and request.organization_id != organization.pk:
        raise IllegalAction(_("The request belongs to another organisation."))
    hold = LegalHold.objects.create(
        organization=organization,
        subject_email=subject_email,
        account_identifier=account_identifier,
        request=request,
        reason=reason,
        placed_by=officer,
        placed_at=now,
    )
    _note(hold, "placed", actor=actor, at=now, reason=reason)
    return hold


@transaction.atomic
def legal_hold_release(
    *, hold: LegalHold, actor: Actor, reason: str, at: datetime | None = None
) -> LegalHold:
    """Release ``hold`` with a reason; what erasures kept for it is erased at the next daily run.
    Raise ``IllegalAction`` (nothing changes) for an actor who may not, no reason, or a hold
    released already."""
    officer = _officer(actor)
    now = at or timezone.now()
    reason = reason.strip()
    if not reason:
        raise IllegalAction(_("Give the reason for releasing the legal hold."))
    released = LegalHold.objects.filter(pk=hold.pk, released_at__isnull=True).update(
        released_at=now, released_by=officer, release_reason=reason
    )
    if released != 1:
        raise IllegalAction(_("This legal hold was released already."))
    hold.refresh_from_db()
    for listener in _RELEASE_LISTENERS:
        listener(hold)
    _note(hold, "released", actor=actor, at=now, reason=reason)
    return hold
