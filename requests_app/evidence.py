"""The evidence record of one request: what an auditor is handed to check what was done and when.

The record holds the request and its outcome, the policy version it was made under (its text and
the text's SHA-256) with the rule that set its deadline, the email verification, and every audit
event with the fields its hash covers, so the chain can be checked with nothing but the record
and SHA-256. It is rendered as JSON (downloadable) and as a printable HTML page.

Later features add their own evidence (export checksums, erasure certificates) by registering a
section with ``evidence_section_register``; a section appears once it has something to say.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from requests_app.audit import GENESIS_HASH, Actor, canonical_fields, chain_breaks, event_append
from requests_app.emails import absolute_url
from requests_app.models import EventKind, RequestEvent, RequestToken, SubjectRequest

FORMAT = "dsr-tracker/evidence-record"
FORMAT_VERSION = 1
HASH_RECIPE = (
    "hash = sha256(previous_hash + json(hashed_fields, sort_keys, separators=(',', ':'), "
    "ensure_ascii=False)) over UTF-8; the first event's previous_hash is 64 zeros and the last "
    "event's hash is the request's audit head."
)

EvidenceSection = Callable[[SubjectRequest], Any]
_SECTIONS: dict[str, EvidenceSection] = {}


def evidence_section_register(name: str, section: EvidenceSection) -> None:
    """Add ``section(request)`` to every evidence record under ``name``.

    The callable returns JSON-serialisable data, or an empty value when it has nothing for that
    request (the section is then left out). Registering a name again replaces the section.
    """
    _SECTIONS[name] = section


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _policy_version(request: SubjectRequest) -> dict[str, Any]:
    version = request.policy_version
    organization = request.organization
    try:
        url = absolute_url(reverse("policies:version_detail", args=[organization.slug, version.pk]))
    except NoReverseMatch:  # pragma: no cover - the public pages are always installed
        url = ""
    return {
        "policy": version.policy.title,
        "version_label": version.version_label,
        "language": version.language,
        "published_at": _iso(version.published_at),
        "effective_at": _iso(version.effective_at),
        "text_sha256": version.text_sha256,
        "text_sha256_matches_text": (
            hashlib.sha256(version.text.encode("utf-8")).hexdigest() == version.text_sha256
        ),
        "url": url,
        "text": version.text,
    }


def _rule(request: SubjectRequest) -> dict[str, Any]:
    rule = request.rule
    return {
        "request_type": rule.request_type,
        "offered": rule.offered,
        "response_period": rule.response_period,
        "response_unit": rule.response_unit,
        "clock_starts": rule.clock_starts,
        "pauses_while_on_hold": rule.pauses_while_on_hold,
        "max_extension": rule.max_extension,
        "extension_unit": rule.extension_unit,
        "extension_notice_required": rule.extension_notice_required,
        "identity_verification_required": rule.identity_verification_required,
        "source": rule.source,
        "source_quote": rule.source_quote,
    }


def _verification(request: SubjectRequest) -> dict[str, Any]:
    # Only when each link was issued and used: the tokens' hashes stay in the database.
    links = RequestToken.objects.filter(request=request).order_by("created_at", "pk")
    return {
        "identity_verification_required": request.rule.identity_verification_required,
        "email": request.email,
        "email_confirmed": request.verified_at is not None,
        "verified_at": _iso(request.verified_at),
        "links": [
            {
                "purpose": link.purpose,
                "created_at": _iso(link.created_at),
                "expires_at": _iso(link.expires_at),
                "used_at": _iso(link.used_at),
            }
            for link in links
        ],
    }


def _event(event: RequestEvent) -> dict[str, Any]:
    return {
        "sequence": event.sequence,
        "kind": event.kind,
        "what": str(event.get_kind_display()),
        "created_at": _iso(event.created_at),
        "actor_kind": event.actor_kind,
        "actor": event.actor_label,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "note": event.note,
        "public_note": event.public_note,
        "subject_visible": event.subject_visible,
        "data": event.data,
        "previous_hash": event.previous_hash,
        "hash": event.hash,
        "hashed_fields": canonical_fields(event),
    }


def _on_time(request: SubjectRequest) -> bool | None:
    due = request.effective_due_at
    if request.closed_at is None or due is None:
        return None
    return request.closed_at <= due


def evidence_record(
    *, request: SubjectRequest, generated_by: str = "", at: datetime | None = None
) -> dict[str, Any]:
    """Return the evidence record of ``request`` as JSON-serialisable data."""
    request = SubjectRequest.objects.select_related(
        "organization", "policy_version__policy", "rule", "assignee"
    ).get(pk=request.pk)
    organization = request.organization
    events = list(RequestEvent.objects.filter(request=request).order_by("sequence"))
    broken = next(chain_breaks(SubjectRequest.objects.filter(pk=request.pk)), None)
    record: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generated_at": _iso(at or timezone.now()),
        "generated_by": generated_by,
        "request": {
            "reference": request.reference,
            "organization": {
                "name": organization.name,
                "legal_name": organization.legal_name,
                "country": organization.country,
                "time_zone": organization.time_zone,
                "contact_email": organization.contact_email,
            },
            "request_type": request.request_type,
            "status": request.status,
            "language": request.language,
            "subject": {
                "email": request.email,
                "name": request.name,
                "account_identifier": request.account_identifier,
                "phone": request.phone,
                "on_behalf_relationship": request.on_behalf_relationship,
                "on_behalf_subject_name": request.on_behalf_subject_name,
            },
            "description": request.description,
            "details": request.details,
            "received_at": _iso(request.received_at),
            "clock_started_at": _iso(request.clock_started_at),
            "due_at": _iso(request.due_at),
            "extension": (
                {"amount": request.extension_amount, "unit": request.extension_unit}
                if request.extension_amount is not None
                else None
            ),
            "extended_due_at": _iso(request.extended_due_at),
            "paused_days": request.paused_days,
            "assignee": request.assignee.get_username() if request.assignee else "",
        },
        "policy_version": _policy_version(request),
        "rule": _rule(request),
        "verification": _verification(request),
        "outcome": {
            "status": request.status,
            "closed_at": _iso(request.closed_at),
            "outcome": request.outcome,
            "reason_code": request.reason_code,
            "answered_on_time": _on_time(request),
        },
        "audit_trail": {
            "length": request.audit_length,
            "head": request.audit_head,
            "genesis_hash": GENESIS_HASH,
            "hash_recipe": HASH_RECIPE,
            "verified": broken is None,
            "break": str(broken) if broken is not None else None,
            "events": [_event(event) for event in events],
        },
    }
    for name, section in _SECTIONS.items():
        content = section(request)
        if content:
            record[name] = content
    return record


def evidence_sections(record: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the registered sections present in ``record``, each as name and indented JSON."""
    return [(name, evidence_json(record[name])) for name in _SECTIONS if name in record]


def evidence_json(record: Any) -> str:
    """Serialise a record: UTF-8 text, keys in a stable order, readable when printed."""
    return json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True)


@transaction.atomic
def evidence_export(*, request: SubjectRequest, user: User) -> dict[str, Any]:
    """Record that ``user`` took the evidence record of ``request``, then return the record.

    The download is appended to the audit trail first, so the record handed over shows who took
    it and when, and its chain ends at that event.
    """
    now = timezone.now()
    event_append(
        request=request,
        kind=EventKind.EVIDENCE_EXPORTED,
        actor=Actor.staff(user),
        at=now,
        data={"format": FORMAT, "format_version": FORMAT_VERSION},
    )
    return evidence_record(request=request, generated_by=user.get_username(), at=now)
