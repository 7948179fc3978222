"""Who may apply and lift effects, and the consent report per organisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q

from requests_app import roles
from requests_app.models import SubjectRequest
from subject_data.registry import registry

LIFT_RESTRICTION = roles.LIFT_RESTRICTION


def may_apply(user: Any, subject_request: SubjectRequest) -> bool:
    return user.has_perm(roles.PROCESS) and roles.works_on(user, subject_request)


def may_lift(user: Any, subject_request: SubjectRequest) -> bool:
    return user.has_perm(LIFT_RESTRICTION) and roles.works_on(user, subject_request)


@dataclass(frozen=True)
class ConsentCount:
    """One consent field of one model: how many rows say yes, no, and are restricted."""

    system: str
    model_name: str
    purpose: str
    field_name: str
    given: int
    not_given: int
    restricted: int
    # Rows with consent that the business may use: given and not restricted.
    usable: int


def consent_report(organization_id: int) -> list[ConsentCount]:
    """Per consent field of the organisation's systems, the rows by consent and restriction;
    one aggregate query per field."""
    counts = []
    for registration in registry.of_organization(organization_id):
        manager = registration.model._base_manager
        rows = manager.filter(registration.in_organization(organization_id))
        for purpose, field in registration.consent:
            restricted = (
                Q(**{registration.restriction: True}) if registration.restriction else Q(pk__in=[])
            )
            totals = rows.aggregate(
                given=Count("pk", filter=Q(**{field: True})),
                not_given=Count("pk", filter=~Q(**{field: True})),
                restricted=Count("pk", filter=restricted),
                usable=Count("pk", filter=Q(**{field: True}) & ~restricted),
            )
            counts.append(
                ConsentCount(
                    system=registration.system_name,
                    model_name=str(registration.model._meta.verbose_name_plural),
                    purpose=purpose,
                    field_name=str(registration.model_field(field).verbose_name),
                    **totals,
                )
            )
    return counts
