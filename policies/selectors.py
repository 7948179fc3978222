"""Reads behind the public policy pages and the admin's version comparison.

Each page's reads run a fixed number of queries however many policies, versions and rules an
organisation has: versions are fetched in one query per page and their rules prefetched.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from policies.models import (
    Organization,
    Policy,
    PolicyVersion,
    RequestType,
    RequestTypeRule,
    RetentionExemption,
    RetentionRule,
)

# Languages written right to left (Arabic script, plus Hebrew, Thaana and Yiddish). Django's own
# LANG_INFO marks Azerbaijani as bidi, which would turn Latin-script Azerbaijani texts around.
_RIGHT_TO_LEFT_LANGUAGES = frozenset(
    {"ar", "ckb", "dv", "fa", "he", "ks", "ps", "sd", "ug", "ur", "yi"}
)
_RIGHT_TO_LEFT_SCRIPTS = frozenset({"arab", "hebr", "thaa", "syrc", "nkoo"})

_REQUEST_TYPE_ORDER = {value: index for index, value in enumerate(RequestType.values)}

VersionStatus = Literal["in_force", "upcoming", "superseded"]


def text_direction(language: str) -> Literal["ltr", "rtl"]:
    """Return the writing direction of a BCP 47 language tag such as ``ur``, ``uz-Cyrl``.

    An explicit script subtag decides (``az-Arab`` is right to left, ``ur-Latn`` left to right);
    otherwise the language does.
    """
    primary, *subtags = language.replace("_", "-").lower().split("-")
    for subtag in subtags:
        if len(subtag) == 4 and subtag.isalpha():
            return "rtl" if subtag in _RIGHT_TO_LEFT_SCRIPTS else "ltr"
    return "rtl" if primary in _RIGHT_TO_LEFT_LANGUAGES else "ltr"


def _with_rules(versions: QuerySet[PolicyVersion]) -> QuerySet[PolicyVersion]:
    """Prefetch the versions' offered request type rules and their retention rules."""
    return versions.prefetch_related(
        Prefetch(
            "request_type_rules",
            queryset=RequestTypeRule.objects.filter(offered=True),
            to_attr="offered_rules",
        ),
        Prefetch(
            "retention_rules",
            queryset=RetentionRule.objects.order_by("slug").prefetch_related(
                Prefetch("exemptions", queryset=RetentionExemption.objects.order_by("category"))
            ),
            to_attr="retention_rule_list",
        ),
    )


def _offered_rights(version: PolicyVersion) -> list[RequestTypeRule]:
    rules: list[RequestTypeRule] = getattr(version, "offered_rules", [])
    return sorted(rules, key=lambda rule: _REQUEST_TYPE_ORDER.get(rule.request_type, 99))


@dataclass(frozen=True)
class PolicyPage:
    """One policy as its organisation's public page shows it."""

    policy: Policy
    in_force: PolicyVersion | None
    upcoming: list[PolicyVersion]
    history: list[PolicyVersion]
    offered_rights: list[RequestTypeRule] = field(default_factory=list)
    retention_rules: list[RetentionRule] = field(default_factory=list)

    @property
    def direction(self) -> str:
        return text_direction(self.in_force.language) if self.in_force else "ltr"


@dataclass(frozen=True)
class VersionPage:
    """One published version on its own page, with where it stands on the policy's timeline."""

    version: PolicyVersion
    status: VersionStatus
    offered_rights: list[RequestTypeRule]
    retention_rules: list[RetentionRule]

    @property
    def direction(self) -> str:
        return text_direction(self.version.language)

    @property
    def is_in_force(self) -> bool:
        return self.status == "in_force"


def organization_list() -> QuerySet[Organization]:
    """Return every organisation, by name, for the public index."""
    return Organization.objects.order_by("name", "pk")


def organization_policy_pages(
    *, organization: Organization, at: datetime | None = None
) -> list[PolicyPage]:
    """Return each policy of ``organization`` with its version in force at ``at`` (now).

    Only published versions are read: drafts never reach the public. ``upcoming`` holds the
    published versions not yet in force, the soonest first; ``history`` every published version,
    the latest to take effect first. Runs six queries whatever the number of policies, versions and
    rules (two when no version is in force anywhere).
    """
    moment = at or timezone.now()
    policies = list(Policy.objects.filter(organization=organization).order_by("title", "pk"))
    # The history table needs no text; only the versions in force have theirs loaded below.
    history_by_policy: dict[int, list[PolicyVersion]] = defaultdict(list)
    for version in (
        PolicyVersion.objects.published()
        .filter(policy__in=policies)
        .defer("text")
        .order_by("-effective_at", "-pk")
    ):
        history_by_policy[version.policy_id].append(version)

    in_force_ids: dict[int, int] = {}
    for policy_id, history in history_by_policy.items():
        # Same rule as PolicyVersionQuerySet.in_force(): the latest effective, then the latest pk.
        current = next((v for v in history if v.effective_at and v.effective_at <= moment), None)
        if current is not None:
            in_force_ids[policy_id] = current.pk
    in_force = {
        version.policy_id: version
        for version in _with_rules(PolicyVersion.objects.filter(pk__in=in_force_ids.values()))
    }

    pages = []
    for policy in policies:
        history = history_by_policy.get(policy.pk, [])
        current_version = in_force.get(policy.pk)
        upcoming = sorted(
            (v for v in history if v.effective_at and v.effective_at > moment),
            key=lambda v: (v.effective_at, v.pk),
        )
        pages.append(
            PolicyPage(
                policy=policy,
                in_force=current_version,
                upcoming=upcoming,
                history=history,
                offered_rights=_offered_rights(current_version) if current_version else [],
                retention_rules=getattr(current_version, "retention_rule_list", []),
            )
        )
    return pages


def published_version_page(
    *, organization: Organization, pk: int, at: datetime | None = None
) -> VersionPage:
    """Return the published version ``pk`` of ``organization`` with its status at ``at`` (now).

    Raises ``PolicyVersion.DoesNotExist`` for drafts and for versions of other organisations.
    Runs five queries (four for an upcoming version).
    """
    moment = at or timezone.now()
    version = (
        _with_rules(PolicyVersion.objects.published())
        .select_related("policy")
        .get(pk=pk, policy__organization=organization)
    )
    status: VersionStatus
    if not version.is_in_force(moment):
        status = "upcoming"
    else:
        current_pk = (
            PolicyVersion.objects.filter(policy_id=version.policy_id)
            .in_force(moment)
            .values_list("pk", flat=True)
            .first()
        )
        status = "in_force" if current_pk == version.pk else "superseded"
    return VersionPage(
        version=version,
        status=status,
        offered_rights=_offered_rights(version),
        retention_rules=getattr(version, "retention_rule_list", []),
    )


# --- Admin: comparing two versions -------------------------------------------------------------

DiffKind = Literal["same", "added", "removed", "changed"]


@dataclass(frozen=True)
class TextDiffRow:
    """One row of a side-by-side diff; a side is blank where its version has no line."""

    kind: DiffKind
    left_number: int | None
    left: str
    right_number: int | None
    right: str


@dataclass(frozen=True)
class RuleDiffRow:
    """One rule (a request type or a retention rule slug) as each version states it."""

    kind: DiffKind
    name: str
    left: str
    right: str


@dataclass(frozen=True)
class VersionComparison:
    left: PolicyVersion
    right: PolicyVersion
    text_rows: list[TextDiffRow]
    request_type_rows: list[RuleDiffRow]
    retention_rows: list[RuleDiffRow]

    @property
    def text_is_identical(self) -> bool:
        return all(row.kind == "same" for row in self.text_rows)

    @property
    def rule_sections(self) -> list[tuple[str, list[RuleDiffRow]]]:
        return [
            (_("Request types"), self.request_type_rows),
            (_("Retention rules"), self.retention_rows),
        ]


def text_diff_rows(left: str, right: str) -> list[TextDiffRow]:
    """Align two texts line by line for a two-column diff.

    Replaced blocks are paired line by line as ``changed``; what one side has beyond the other is
    ``removed`` (only on the left) or ``added`` (only on the right).
    """
    left_lines, right_lines = left.splitlines(), right.splitlines()
    rows: list[TextDiffRow] = []
    matcher = difflib.SequenceMatcher(a=left_lines, b=right_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(
                TextDiffRow("same", i + 1, left_lines[i], j + 1, right_lines[j])
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            )
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        rows.extend(
            TextDiffRow("changed", i1 + k + 1, left_lines[i1 + k], j1 + k + 1, right_lines[j1 + k])
            for k in range(paired)
        )
        rows.extend(
            TextDiffRow("removed", i + 1, left_lines[i], None, "") for i in range(i1 + paired, i2)
        )
        rows.extend(
            TextDiffRow("added", None, "", j + 1, right_lines[j]) for j in range(j1 + paired, j2)
        )
    return rows


def _describe_request_type_rule(rule: RequestTypeRule) -> str:
    parts = [
        _("offered") if rule.offered else _("not offered"),
        f"{rule.response_period} {rule.get_response_unit_display()}",
        _("clock starts %(when)s") % {"when": rule.get_clock_starts_display()},
        _("pauses on hold") if rule.pauses_while_on_hold else _("no pause on hold"),
        _("extension up to %(n)s %(unit)s")
        % {"n": rule.max_extension, "unit": rule.get_extension_unit_display()}
        if rule.max_extension
        else _("no extension"),
        _("identity verified") if rule.identity_verification_required else _("no verification"),
        rule.get_source_display(),
    ]
    return "; ".join(str(part) for part in parts)


def _describe_retention_rule(rule: RetentionRule) -> str:
    parts = [
        f"{rule.get_action_display()} {rule.period} {rule.get_period_unit_display()}",
        _("after %(trigger)s") % {"trigger": rule.get_trigger_display()},
    ]
    if rule.notice_days_before:
        parts.append(
            _("notice %(days)s days before")
            % {"days": ", ".join(str(d) for d in rule.notice_days_before)}
        )
    parts.extend(
        _("keeps %(category)s %(n)s %(unit)s (%(basis)s)")
        % {
            "category": exemption.get_category_display(),
            "n": exemption.period,
            "unit": exemption.get_period_unit_display(),
            "basis": exemption.legal_basis,
        }
        for exemption in rule.exemptions.all()
    )
    parts.append(str(rule.get_source_display()))
    return "; ".join(str(part) for part in parts)


def _rule_rows(
    left: dict[str, str], right: dict[str, str], names: dict[str, str] | None = None
) -> list[RuleDiffRow]:
    names = names or {}
    order = {key: index for index, key in enumerate(names)}
    rows = []
    for key in sorted(left.keys() | right.keys(), key=lambda k: (order.get(k, len(order)), k)):
        if key not in right:
            kind: DiffKind = "removed"
        elif key not in left:
            kind = "added"
        else:
            kind = "same" if left[key] == right[key] else "changed"
        rows.append(RuleDiffRow(kind, names.get(key, key), left.get(key, ""), right.get(key, "")))
    return rows


def version_comparison(*, left_pk: int, right_pk: int) -> VersionComparison:
    """Compare two versions' texts and rules, ``left`` the older side by convention.

    Raises ``PolicyVersion.DoesNotExist`` when either is missing. Runs four queries.
    """
    versions = {
        version.pk: version
        for version in PolicyVersion.objects.filter(pk__in=[left_pk, right_pk])
        .select_related("policy__organization")
        .prefetch_related("request_type_rules", "retention_rules__exemptions")
    }
    if left_pk not in versions or right_pk not in versions:
        raise PolicyVersion.DoesNotExist
    left, right = versions[left_pk], versions[right_pk]

    def request_types(version: PolicyVersion) -> dict[str, str]:
        return {
            rule.request_type: _describe_request_type_rule(rule)
            for rule in version.request_type_rules.all()
        }

    def retention(version: PolicyVersion) -> dict[str, str]:
        return {rule.slug: _describe_retention_rule(rule) for rule in version.retention_rules.all()}

    type_names = {value: str(label) for value, label in RequestType.choices}
    return VersionComparison(
        left=left,
        right=right,
        text_rows=text_diff_rows(left.text, right.text),
        request_type_rows=_rule_rows(request_types(left), request_types(right), type_names),
        retention_rows=_rule_rows(retention(left), retention(right)),
    )
