"""Retention rules, applied: advance notices, then purges, as the policy version in force says.

For each retention rule of each policy version in force, the daily job (and ``manage.py purge``)
finds the rows whose trigger started long enough ago: the account deleted 30 days ago (ZPos),
the licence overdue for 6 months (Clopos). It tells the subject in advance, on the days before
the purge the rule names (each notice once), then starts a purge run for the rule and the day.

- **Dates** are days on the organisation's calendar. A row is due when ``trigger day + period``
  (the deadline engine's arithmetic: 31 August + 6 months = 28 February) is on or before the day
  of the run; equivalently, when its trigger started on or before :func:`latest_start`.
- **Exemptions**: a category the rule exempts (accounting records) is kept for the exemption's
  own period, under its legal basis, and purged once that has passed too. A model the registry
  retains under a legal basis is treated the same way when the rule names no exemption for it.
- **Re-checked at purge time**: every batch selects its rows through the trigger clock again, so
  an account whose licence is paid before its purge date (or while the purge runs) is left alone.
- **Refused rules**: a rule with a period below one, an unknown trigger or unit, or an exemption
  without a legal basis is refused with one line naming the problem, and nothing is purged for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from policies.deadlines import Period, add_period, end_of_local_day
from policies.models import (
    DataCategory,
    Organization,
    PeriodUnit,
    Policy,
    PolicyVersion,
    RetentionAction,
    RetentionRule,
    RetentionTrigger,
)
from retention.models import PurgeAction, PurgeKind, PurgeRun
from retention.purge import (
    StepSpec,
    steps_create,
)
from retention.scopes import (
    PurgeError,
    anonymise_fields,
    deletion_order,
    resolve_path,
    retention_rows,
)
from subject_data.clocks import clock_for
from subject_data.holds import held_rows
from subject_data.registry import ErasureAction, Registration, registry

logger = logging.getLogger(__name__)

RETENTION_JOB = "apply-retention-rules"
NOTICE_JOB = "send-retention-notice"


class RuleRefused(PurgeError):
    """A retention rule that cannot be applied as stored; ``str()`` names the rule and problem."""


# --- Checking a rule ------------------------------------------------------------------------------


def rule_check(rule: RetentionRule) -> None:
    """Refuse (``RuleRefused``) a rule that cannot be applied safely, naming the first problem."""

    def refuse(problem: str) -> RuleRefused:
        return RuleRefused(
            _("Retention rule %(slug)s (id %(id)s): %(problem)s")
            % {"slug": rule.slug, "id": rule.pk, "problem": problem}
        )

    if isinstance(rule.period, bool) or not isinstance(rule.period, int) or rule.period < 1:
        raise refuse(_("the period must be at least 1, not %(period)r") % {"period": rule.period})
    if rule.period_unit not in PeriodUnit.values:
        raise refuse(_("unknown period unit %(unit)r") % {"unit": rule.period_unit})
    if rule.trigger not in RetentionTrigger.values:
        raise refuse(_("unknown trigger %(trigger)r") % {"trigger": rule.trigger})
    if rule.action not in RetentionAction.values:
        raise refuse(_("unknown action %(action)r") % {"action": rule.action})
    notices = rule.notice_days_before
    if not isinstance(notices, list) or any(
        isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in notices
    ):
        raise refuse(_("advance notices must be a list of whole days of at least 1"))
    for exemption in rule.exemptions.all():
        if not exemption.legal_basis.strip():
            raise refuse(
                _("the exemption of %(category)s names no legal basis")
                % {"category": exemption.category}
            )
        if exemption.category not in DataCategory.values:
            raise refuse(
                _("unknown exempt category %(category)r") % {"category": exemption.category}
            )
        if exemption.period < 1 or exemption.period_unit not in PeriodUnit.values:
            raise refuse(
                _("the exemption of %(category)s needs a period of at least 1 in a known unit")
                % {"category": exemption.category}
            )


def rule_period(rule: RetentionRule) -> Period:
    return Period(rule.period, PeriodUnit(rule.period_unit))


# --- Dates ----------------------------------------------------------------------------------------


def latest_start(period: Period, as_of: date, *, country: str | None = None) -> date:
    """The last day a clock may have started for ``start + period`` to fall on or before ``as_of``.

    ``add_period`` never decreases when its start moves later, so the days whose period has
    passed are exactly those up to this one (31 August for 6 months as of 28 February: 29, 30
    and 31 August all reach 28 February). Found by bisection, so it holds for every unit.
    """
    low = as_of - timedelta(days=period.amount * 40 + 60)
    if add_period(low, period, country=country) > as_of:  # pragma: no cover - 40 days per unit
        raise ValueError(f"no start found for {period} before {as_of}")
    high = as_of
    if add_period(high, period, country=country) <= as_of:
        return high
    # Invariant: add_period(low) <= as_of < add_period(high).
    while (high - low).days > 1:
        middle = low + timedelta(days=(high - low).days // 2)
        if add_period(middle, period, country=country) <= as_of:
            low = middle
        else:
            high = middle
    return low


def organization_today(organization: Organization, at: datetime | None = None) -> date:
    return timezone.localdate(at or timezone.now(), timezone=organization.tz)


# --- What a rule covers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """What one rule does to one registered model: the period after which its rows go, and
    whether that period is an exemption's (with its legal basis)."""

    registration: Registration
    period: Period
    legal_basis: str = ""

    @property
    def exempt(self) -> bool:
        return bool(self.legal_basis)

    @property
    def label(self) -> str:
        return self.registration.label


def rule_coverage(rule: RetentionRule) -> list[Coverage]:
    """The registered models ``rule`` applies to, children before parents."""
    exemptions = {e.category: e for e in rule.exemptions.all()}
    found: dict[type[models.Model], Coverage] = {}
    for registration in registry.of_organization(rule.version.policy.organization_id):
        if rule.trigger not in registration.retention_triggers:
            continue
        anchor = resolve_path(registration.model, registration.retention_anchor)
        if clock_for(anchor, rule.trigger) is None:
            continue
        exemption = exemptions.get(registration.category)
        erasure = registration.erasure
        if exemption is not None:
            coverage = Coverage(
                registration,
                Period(exemption.period, PeriodUnit(exemption.period_unit)),
                exemption.legal_basis,
            )
        elif erasure.action == ErasureAction.RETAIN and erasure.period is not None:
            coverage = Coverage(registration, erasure.period, erasure.legal_basis)
        else:
            coverage = Coverage(registration, rule_period(rule))
        found[registration.model] = coverage
    return [found[model] for model in deletion_order(found)]


def coverage_cutoff(rule: RetentionRule, coverage: Coverage, as_of: date) -> date:
    """The latest trigger day whose rows of this model are due on ``as_of``.

    An exemption only ever keeps rows longer than the rule does.
    """
    country = rule.version.policy.organization.country
    cutoff = latest_start(rule_period(rule), as_of, country=country)
    if coverage.exempt:
        cutoff = min(cutoff, latest_start(coverage.period, as_of, country=country))
    return cutoff


def _rows(rule: RetentionRule, coverage: Coverage, cutoff: date) -> Any:
    organization = rule.version.policy.organization
    return retention_rows(
        coverage.registration,
        organization_id=organization.pk,
        trigger=rule.trigger,
        cutoff=cutoff,
        tz=organization.tz,
        whole=True,
    )


def _held(rule: RetentionRule, coverage: Coverage, as_of: date) -> int:
    """Rows of an exempt model the rule would purge were it not for the exemption."""
    country = rule.version.policy.organization.country
    rule_cutoff = latest_start(rule_period(rule), as_of, country=country)
    due = _rows(rule, coverage, coverage_cutoff(rule, coverage, as_of)).count()
    return max(0, _rows(rule, coverage, rule_cutoff).count() - due)


def held_entries(rule: RetentionRule, as_of: date) -> list[dict[str, Any]]:
    """The rows due on ``as_of`` that a legal hold on their subject or account keeps, per model
    and hold: the run skips them and its evidence says why."""
    organization = rule.version.policy.organization
    entries = []
    for coverage in rule_coverage(rule):
        holds = held_rows(coverage.registration, organization.pk)
        if not holds:
            continue
        due = retention_rows(
            coverage.registration,
            organization_id=organization.pk,
            trigger=rule.trigger,
            cutoff=coverage_cutoff(rule, coverage, as_of),
            tz=organization.tz,
            whole=True,
            skip_held=False,
        )
        if due is None:
            continue
        for hold, rows in holds:
            count = due.filter(pk__in=rows.values("pk")).count()
            if count:
                entries.append(
                    {
                        "model": coverage.label,
                        "category": coverage.registration.category,
                        "rows": count,
                        "legal_basis": hold.basis,
                        "until": _("until the legal hold is released"),
                    }
                )
    return entries


def retained_entries(rule: RetentionRule, as_of: date) -> list[dict[str, Any]]:
    """The rows kept under an exemption on ``as_of``, per model, with basis and period."""
    return [
        {
            "model": coverage.label,
            "category": coverage.registration.category,
            "rows": _held(rule, coverage, as_of),
            "legal_basis": coverage.legal_basis,
            "period": {"amount": coverage.period.amount, "unit": coverage.period.unit.value},
            "until": _("%(period)s after %(trigger)s")
            % {"period": coverage.period, "trigger": RetentionTrigger(rule.trigger).label},
        }
        for coverage in rule_coverage(rule)
        if coverage.exempt
    ]


# --- Runs -----------------------------------------------------------------------------------------


def _specs(rule: RetentionRule, as_of: date) -> list[StepSpec]:
    specs: list[StepSpec] = []
    for index, coverage in enumerate(rule_coverage(rule)):
        cutoff = coverage_cutoff(rule, coverage, as_of)
        registration = coverage.registration
        if rule.action == RetentionAction.DELETE:
            specs.append(
                StepSpec(
                    2 * index, coverage.label, PurgeAction.DELETE, cutoff, coverage.legal_basis
                )
            )
            # A row kept because records that stay still refer to it (an account its retained
            # invoices point at) is anonymised instead, as the registry says erasure does.
            if registration.erasure.action == ErasureAction.ANONYMISE:
                # The legal basis the retained records are kept under may require some fields
                # to stay (the buyer's name and tax number on invoices): ``keeping``.
                specs.append(
                    StepSpec(
                        2 * index + 1,
                        coverage.label,
                        PurgeAction.ANONYMISE,
                        cutoff,
                        registration.erasure.kept_basis,
                    )
                )
        elif anonymise_fields(registration):
            specs.append(StepSpec(2 * index, coverage.label, PurgeAction.ANONYMISE, cutoff))
    return specs


def retention_run_start(
    *,
    rule: RetentionRule,
    as_of: date,
    triggered_by: str = RETENTION_JOB,
    batch_size: int | None = None,
) -> PurgeRun:
    """Start a purge run of ``rule`` as of ``as_of``, or return the unfinished one to resume.

    The run and all its steps are created in one transaction, so a run exists completely
    planned or not at all.
    """
    rule_check(rule)
    organization = rule.version.policy.organization
    existing = _open_run(rule, as_of)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            run = PurgeRun.objects.create(
                kind=PurgeKind.RETENTION,
                organization=organization,
                rule=rule,
                as_of=as_of,
                triggered_by=triggered_by[:150],
                batch_size=batch_size or int(settings.PURGE_BATCH_SIZE),
                totals={
                    c.label: {"deleted": 0, "anonymised": 0, "kept": 0} for c in rule_coverage(rule)
                },
                retained=[*retained_entries(rule, as_of), *held_entries(rule, as_of)],
            )
            steps_create(run, _specs(rule, as_of))
    except IntegrityError:
        # Another process started the same rule and day a moment ago: resume that one.
        found = _open_run(rule, as_of)
        if found is None:
            raise
        return found
    logger.info("retention run %s planned for %s as of %s", run.pk, rule.slug, as_of)
    return run


def _open_run(rule: RetentionRule, as_of: date) -> PurgeRun | None:
    return PurgeRun.objects.filter(
        kind=PurgeKind.RETENTION, rule=rule, as_of=as_of, finished_at__isnull=True
    ).first()


def rules_in_force(at: date | None = None) -> list[RetentionRule]:
    """The retention rules of every policy version in force (on ``at``, today by default)."""
    found: list[RetentionRule] = []
    for policy in Policy.objects.select_related("organization").order_by("organization__slug"):
        moment = end_of_local_day(at, policy.organization.tz) if at is not None else timezone.now()
        version = PolicyVersion.objects.in_force(moment).filter(policy=policy).first()
        if version is None:
            continue
        found.extend(
            version.retention_rules.select_related("version__policy__organization")
            .prefetch_related("exemptions")
            .order_by("slug")
        )
    return found


def rule_find(spec: str, *, at: date | None = None) -> RetentionRule:
    """Find a rule by id, by ``organisation/slug`` or by a slug only one rule in force has."""
    spec = spec.strip()
    if spec.isdigit():
        found = (
            RetentionRule.objects.select_related("version__policy__organization")
            .filter(pk=int(spec))
            .first()
        )
        if found is None:
            raise PurgeError(_("No retention rule has id %(id)s.") % {"id": spec})
        return found
    in_force = rules_in_force(at)
    if "/" in spec:
        organization, slug = spec.split("/", 1)
        matches = [
            r
            for r in in_force
            if r.slug == slug and r.version.policy.organization.slug == organization
        ]
    else:
        matches = [r for r in in_force if r.slug == spec]
    if not matches:
        known = ", ".join(f"{r.version.policy.organization.slug}/{r.slug}" for r in in_force)
        raise PurgeError(
            _("No retention rule in force is called %(spec)r (rules in force: %(known)s).")
            % {"spec": spec, "known": known or _("none")}
        )
    if len(matches) > 1:
        names = ", ".join(
            f"{r.version.policy.organization.slug}/{r.slug} (id {r.pk})" for r in matches
        )
        raise PurgeError(
            _("%(spec)r names several rules; say which: %(names)s.")
            % {"spec": spec, "names": names}
        )
    return matches[0]
