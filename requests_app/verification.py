"""Secret links: issuing them, confirming an email address with one, opening the status page.

A token is 256 random bits; only its SHA-256 is stored, so a copy of the database opens nothing.
A confirmation link works once, for ``VERIFICATION_LINK_HOURS``; a status link for
``STATUS_LINK_DAYS``, and every email that carries one issues its own. Every lookup answers "no
such link" the same way for a wrong, expired, used or other-purpose token, so nobody learns which
requests exist.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from outbox.api import enqueue
from policies.models import Organization
from requests_app.limits import limit_count
from requests_app.models import (
    OPEN_STATUSES,
    RequestStatus,
    RequestToken,
    SubjectRequest,
    TokenPurpose,
)
from requests_app.workflow import IllegalTransition, request_expire, request_mark_verified

EXPIRY_JOB = "expire-unverified-requests"
# Longer input is not a token we issued; refusing it early keeps hashing bounded.
MAX_TOKEN_LENGTH = 64


class InvalidLink(Exception):
    """The link is wrong, expired, already used or not meant for this page."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@transaction.atomic
def token_issue(*, request: SubjectRequest, purpose: str, at: datetime | None = None) -> str:
    """Create a link token for ``request`` and return it; only its hash is kept."""
    now = at or timezone.now()
    token = secrets.token_urlsafe(32)
    if purpose == TokenPurpose.VERIFICATION:
        expires_at = now + timedelta(hours=settings.VERIFICATION_LINK_HOURS)
    else:
        expires_at = now + timedelta(days=settings.STATUS_LINK_DAYS)
    RequestToken.objects.create(
        request=request,
        purpose=purpose,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=expires_at,
    )
    return token


def _valid_token(token: str, *, purpose: str, at: datetime) -> RequestToken:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidLink
    found = (
        RequestToken.objects.select_related("request__organization", "request__rule")
        .filter(token_hash=token_hash(token), purpose=purpose, used_at__isnull=True)
        .first()
    )
    # Every token is issued with an expiry; one without is not trusted to be current.
    if found is None or found.expires_at is None or found.expires_at <= at:
        raise InvalidLink
    return found


def verification_token_check(*, token: str, at: datetime | None = None) -> SubjectRequest:
    """Return the request a confirmation link would confirm, or raise ``InvalidLink``."""
    now = at or timezone.now()
    found = _valid_token(token, purpose=TokenPurpose.VERIFICATION, at=now)
    if found.request.status != RequestStatus.AWAITING_VERIFICATION:
        raise InvalidLink
    return found.request


@transaction.atomic
def request_verify(*, token: str, at: datetime | None = None) -> tuple[SubjectRequest, str]:
    """Confirm the email with a single-use link; return the request and a new status token.

    The token is spent by a conditional update, so a replayed or double-clicked link fails with
    ``InvalidLink`` and the request is verified once.
    """
    now = at or timezone.now()
    found = _valid_token(token, purpose=TokenPurpose.VERIFICATION, at=now)
    spent = RequestToken.objects.filter(
        pk=found.pk, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    request = found.request
    if spent != 1 or request.status != RequestStatus.AWAITING_VERIFICATION:
        raise InvalidLink
    request = request_mark_verified(request=request, at=now)
    return request, token_issue(request=request, purpose=TokenPurpose.STATUS, at=now)


def status_request(*, token: str, at: datetime | None = None) -> SubjectRequest:
    """Return the request a status link opens, or raise ``InvalidLink``."""
    return _valid_token(token, purpose=TokenPurpose.STATUS, at=at or timezone.now()).request


@transaction.atomic
def links_resend(*, organization: Organization, email: str, at: datetime | None = None) -> int:
    """Email the subject fresh links to their requests with ``organization`` that can be followed.

    An open request that is not confirmed gets a new confirmation link; a confirmed one, open or
    closed within the last ``STATUS_LINK_DAYS`` days, a new status link. Return how many emails
    were queued; the caller must not show it, so the answer reveals nothing.
    """
    now = at or timezone.now()
    recently_closed = Q(
        closed_at__gte=now - timedelta(days=settings.STATUS_LINK_DAYS), verified_at__isnull=False
    )
    requests = list(
        SubjectRequest.objects.filter(organization=organization, email=email.lower())
        .filter(Q(status__in=OPEN_STATUSES) | recently_closed)
        .values_list("pk", "status")
    )
    for pk, status in requests:
        kind = "verification" if status == RequestStatus.AWAITING_VERIFICATION else "status_link"
        enqueue("requests_app.send_request_email", pk, kind)
    return len(requests)


def links_resend_queue(*, organization: Organization, email: str) -> None:
    """Queue fresh links for ``email`` (``links_resend_limited``) after the commit.

    One job whatever the address, so the caller does the same work, and takes the same time,
    whether or not it has requests.
    """
    enqueue("requests_app.send_new_links", organization.pk, email)


def links_resend_limited(*, organization_id: int, email: str) -> int:
    """Do ``links_resend`` unless ``email`` had its ``RATELIMIT_NEW_LINK_PER_EMAIL`` already.

    Return how many emails were queued (0 over the limit or for an organisation since deleted).
    """
    if limit_count(
        group="new-link-email", rate=settings.RATELIMIT_NEW_LINK_PER_EMAIL, key=email.lower()
    ):
        return 0
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return 0
    return links_resend(organization=organization, email=email)


def requests_expire_unverified(*, at: datetime | None = None) -> int:
    """Expire requests not confirmed within ``UNVERIFIED_REQUEST_DAYS``; return how many.

    Each request is its own transaction and its own conditional update, so the job can run again
    (or twice at once) and a request confirmed meanwhile is left alone.
    """
    now = at or timezone.now()
    cutoff = now - timedelta(days=settings.UNVERIFIED_REQUEST_DAYS)
    expired = 0
    stale = SubjectRequest.objects.filter(
        status=RequestStatus.AWAITING_VERIFICATION, received_at__lte=cutoff
    ).select_related("organization", "rule")
    for request in stale.iterator(chunk_size=500):
        try:
            request_expire(request=request, job=EXPIRY_JOB, at=now)
        except IllegalTransition:
            continue  # confirmed or withdrawn since the query ran
        expired += 1
    return expired
