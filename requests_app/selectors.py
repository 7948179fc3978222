"""Reads behind the public request pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone

from policies.models import Organization, PolicyVersion, RequestType, RequestTypeRule
from requests_app.models import RequestEvent, SubjectRequest

_TYPE_ORDER = {value: index for index, value in enumerate(RequestType.values)}


@dataclass(frozen=True)
class IntakeOffer:
    """The policy version in force and the request types it offers, in a stable order."""

    version: PolicyVersion
    rules: list[RequestTypeRule]

    def rule_for(self, request_type: str) -> RequestTypeRule | None:
        return next((rule for rule in self.rules if rule.request_type == request_type), None)


def intake_offer(*, organization: Organization, at: datetime | None = None) -> IntakeOffer | None:
    """Return what ``organization``'s policy in force offers, or None when nothing is in force.

    An organisation may publish several policies; the newest version in force that offers any
    request type is the one requests are made under.
    """
    moment = at or timezone.now()
    candidates = (
        PolicyVersion.objects.filter(policy__organization=organization)
        .in_force(moment)
        .prefetch_related(
            Prefetch(
                "request_type_rules",
                queryset=RequestTypeRule.objects.filter(offered=True),
                to_attr="offered_rules",
            )
        )
    )
    current_per_policy: dict[int, Any] = {}
    for version in candidates:
        current_per_policy.setdefault(version.policy_id, version)
    for version in current_per_policy.values():
        rules: list[RequestTypeRule] = getattr(version, "offered_rules", [])
        if rules:
            ordered = sorted(rules, key=lambda rule: _TYPE_ORDER.get(rule.request_type, 99))
            return IntakeOffer(version=version, rules=ordered)
    return None


def subject_timeline(*, request: SubjectRequest) -> list[RequestEvent]:
    """Return the events meant for the subject, oldest first; staff notes are never included."""
    return list(
        RequestEvent.objects.filter(request=request, subject_visible=True)
        .only("kind", "to_status", "public_note", "created_at", "sequence", "request_id")
        .order_by("sequence")
    )
