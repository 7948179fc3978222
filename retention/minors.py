"""The rule for minors: a child's data, found in a request or in the data, handled within days.

A policy version may carry a ``MinorsRule`` (BESHQOZON: under 13, delete promptly unless a parent
consents). When a request is verified (a listener of the workflow), the subject's date of birth
is read from what the filer gave (``Representation.subject_date_of_birth``) and from the birth-date
fields the registry names (``register(..., birth_date=...)``) on the subject's rows. Under the
threshold, the request's deadline becomes the rule's short one and the finding is recorded in the
audit trail; an officer must confirm it (``minor_confirm``) before the request is completed or
its erasure approved.

``minors_found`` is the rule applied to the data itself: the rows of every registered birth-date
field that say a person is under the threshold today (``manage.py minors`` lists them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from policies.models import MinorsRule, Organization
from requests_app.audit import Actor, event_append
from requests_app.models import EventKind, SubjectRequest
from requests_app.workflow import IllegalAction
from subject_data.registry import Registration, SubjectIdentity, registry

CONFIRM_MINOR = "requests_app.approve_erasure"


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def minors_rule_of(request: SubjectRequest) -> MinorsRule | None:
    return MinorsRule.objects.filter(version_id=request.policy_version_id).first()


def subject_birth_dates(request: SubjectRequest) -> list[date]:
    """The subject's dates of birth: what the filer gave and what the registered birth-date
    fields of the subject's rows hold."""
    found: list[date] = []
    representation = getattr(request, "representation", None)
    if request.is_on_behalf and representation is not None and representation.subject_date_of_birth:
        found.append(representation.subject_date_of_birth)
    identity = SubjectIdentity.of_request(request)
    for registration, rows in registry.for_subject(identity):
        if not registration.birth_date:
            continue
        try:
            # A savepoint: a system that cannot be read leaves the verification intact.
            with transaction.atomic(using=rows.db):
                values = rows.exclude(**{f"{registration.birth_date}__isnull": True}).values_list(
                    registration.birth_date, flat=True
                )[:100]
                found.extend(values)
        except DatabaseError:
            continue
    return found


@dataclass(frozen=True)
class MinorFinding:
    born: date
    age: int
    rule: MinorsRule


def minor_finding(request: SubjectRequest, *, on: date) -> MinorFinding | None:
    """The child the request is about, when the policy has a rule for minors and the youngest
    date of birth found makes the subject younger than its threshold on ``on``."""
    rule = minors_rule_of(request)
    if rule is None:
        return None
    dates = subject_birth_dates(request)
    if not dates:
        return None
    born = max(dates)
    age = age_on(born, on)
    if age >= rule.age_below:
        return None
    return MinorFinding(born=born, age=age, rule=rule)


def _recorded(request: SubjectRequest, event: str) -> bool:
    return request.events.filter(data__minor__event=event).exists()


def minors_apply(request: SubjectRequest) -> None:
    """A verified listener: record a child's request and give it the rule's short deadline."""
    now = request.verified_at or timezone.now()
    finding = minor_finding(request, on=timezone.localdate(now, request.organization.tz))
    if finding is None or _recorded(request, "found"):
        return
    due = now + timedelta(days=finding.rule.response_days)
    changes: dict[str, Any] = {}
    if request.due_at is None or due < request.due_at:
        changes["due_at"] = due
    if changes:
        SubjectRequest.objects.filter(pk=request.pk).update(**changes)
        for name, value in changes.items():
            setattr(request, name, value)
    event_append(
        request=request,
        kind=EventKind.NOTE,
        actor=Actor.system("minors-rule"),
        at=now,
        note=(
            f"The subject appears to be {finding.age} (born {finding.born.isoformat()}), under "
            f"{finding.rule.age_below}: {finding.rule.get_action_display()}; due within "
            f"{finding.rule.response_days} days. An officer must confirm."
        ),
        data={
            "minor": {
                "event": "found",
                "born": finding.born.isoformat(),
                "age_below": finding.rule.age_below,
                "action": finding.rule.action,
                "due_at": request.due_at.isoformat() if request.due_at else None,
            }
        },
    )


def minor_blocker(request: SubjectRequest) -> str:
    """Why a child's request waits for an officer ("" when it does not)."""
    if _recorded(request, "found") and not _recorded(request, "confirmed"):
        return _(
            "Request %(reference)s appears to concern a child: an officer must confirm it and "
            "the action the policy's rule for minors requires."
        ) % {"reference": request.reference}
    return ""


def completion_guard(request: SubjectRequest) -> list[str]:
    blocker = minor_blocker(request)
    return [blocker] if blocker else []


@transaction.atomic
def minor_confirm(
    *, request: SubjectRequest, actor: Actor, note: str, at: datetime | None = None
) -> None:
    """An officer confirms a child's request (what they checked, and whether a parent consented)
    in the audit trail. Raise ``IllegalAction`` for an actor who may not, no note, or a request
    with no finding or one confirmed already."""
    if actor.user is None or not actor.user.has_perm(CONFIRM_MINOR):
        raise IllegalAction(_("Only a privacy officer may confirm a child's request."))
    if not note.strip():
        raise IllegalAction(_("Say what you checked."))
    locked = SubjectRequest.objects.select_for_update(of=("self",)).get(pk=request.pk)
    if not _recorded(locked, "found") or _recorded(locked, "confirmed"):
        raise IllegalAction(_("There is no child's finding to confirm on this request."))
    event_append(
        request=locked,
        kind=EventKind.NOTE,
        actor=actor,
        at=at or timezone.now(),
        note=note.strip(),
        data={"minor": {"event": "confirmed"}},
    )


def minors_found(
    organization: Organization, *, on: date
) -> Iterator[tuple[Registration, QuerySet[Any]]]:
    """The rule for minors applied to the data: per registered birth-date field, the rows of the
    organisation that say a person is under the threshold on ``on`` (none without a rule)."""
    rule = (
        MinorsRule.objects.filter(version__policy__organization=organization)
        .filter(version__effective_at__lte=timezone.now())
        .order_by("-version__effective_at")
        .first()
    )
    if rule is None:
        return
    threshold = years_before(on, rule.age_below)
    for registration in registry.of_organization(organization.pk):
        if not registration.birth_date:
            continue
        rows = registration.model._default_manager.filter(
            registration.in_organization(organization.pk),
            **{f"{registration.birth_date}__gt": threshold},
        )
        yield registration, rows
