"""What a retention rule would do today, counted without changing anything (``purge --dry-run``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from policies.models import (
    RetentionAction,
    RetentionRule,
)
from retention.rules import (
    Coverage,
    _rows,
    coverage_cutoff,
    latest_start,
    rule_check,
    rule_coverage,
    rule_period,
)
from retention.scopes import (
    anonymise_fields,
    references_to,
)
from subject_data.registry import ErasureAction

logger = logging.getLogger(__name__)


# --- What a run would do ------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewLine:
    """What a rule would do to one model as of a day: rows deleted, anonymised and kept."""

    organization: str
    rule: str
    model: str
    delete: int
    anonymise: int
    keep: int
    keep_reason: str


def _blocked(rule: RetentionRule, coverage: Coverage, cutoffs: dict[str, date]) -> Q:
    """Rows of ``coverage``'s model some row that stays refers to (one level down)."""
    model = coverage.registration.model
    condition = Q(pk__in=[])
    covered = {c.registration.model: c for c in rule_coverage(rule)}
    for child, field_name, on_delete in references_to(model):
        child_coverage = covered.get(child)
        if on_delete is models.SET_NULL and not (
            child_coverage is not None and child_coverage.exempt
        ):
            continue
        staying = child._base_manager.filter(**{field_name: OuterRef("pk")})
        if child_coverage is not None and rule.action == RetentionAction.DELETE:
            child_due = _rows(rule, child_coverage, cutoffs[child_coverage.label])
            staying = staying.exclude(pk__in=child_due.values("pk"))
        condition |= Q(Exists(staying))
    return condition


def retention_preview(
    *,
    rule: RetentionRule,
    as_of: date,
    progress: Callable[[str, int, int], object] | None = None,
) -> list[PreviewLine]:
    """Count, without changing anything, what a run of ``rule`` as of ``as_of`` would do."""
    rule_check(rule)
    organization = rule.version.policy.organization
    coverages = rule_coverage(rule)
    cutoffs = {c.label: coverage_cutoff(rule, c, as_of) for c in coverages}
    rule_cutoff = latest_start(rule_period(rule), as_of, country=organization.country)
    lines: list[PreviewLine] = []
    for index, coverage in enumerate(coverages):
        if progress is not None:
            progress(coverage.label, index, len(coverages))
        due = _rows(rule, coverage, cutoffs[coverage.label])
        registration = coverage.registration
        total = due.count()
        blocked = due.filter(_blocked(rule, coverage, cutoffs)).count() if total else 0
        delete = anonymise = keep = 0
        reason = ""
        if rule.action == RetentionAction.DELETE:
            delete = total - blocked
            if registration.erasure.action == ErasureAction.ANONYMISE:
                anonymise = blocked
            else:
                keep = blocked
                reason = _("referred to by records that stay") if blocked else ""
        elif anonymise_fields(registration):
            anonymise = total
        if coverage.exempt:
            held = _rows(rule, coverage, rule_cutoff).count() - total
            if held > 0:
                keep += held
                reason = _("%(basis)s, for %(period)s") % {
                    "basis": coverage.legal_basis,
                    "period": coverage.period,
                }
        lines.append(
            PreviewLine(
                organization=organization.slug,
                rule=rule.slug,
                model=coverage.label,
                delete=delete,
                anonymise=anonymise,
                keep=keep,
                keep_reason=reason,
            )
        )
    if progress is not None:
        progress("", len(coverages), len(coverages))
    return lines
