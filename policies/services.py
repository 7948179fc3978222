"""Workflows on policies that change rows: starting a draft, publishing a version.

A new draft starts as a copy of the version it follows (its text, language and every rule), so
nothing is lost by forgetting to type it again. Publishing compares the draft with that version:
a right it no longer offers, or a retention rule it no longer carries, is published only with a
reason, recorded with the publication (``PolicyPublication``). A significant version is announced
by email (the ``announcements`` app, queued by task name).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from outbox.api import enqueue
from policies.models import (
    MinorsRule,
    Policy,
    PolicyPublication,
    PolicyVersion,
    PublishedVersionFrozen,
    RequestType,
    RetentionExemption,
)

ANNOUNCE_TASK = "announcements.announce_version"
# The longest reason kept; longer is refused, not cut.
MAX_REASON_LENGTH = 2000


@dataclass(frozen=True)
class DroppedPromise:
    """A right or a retention rule of the previous version that a draft no longer carries."""

    kind: str  # "right" or "retention_rule"
    key: str  # the request type, or the retention rule's slug
    description: str

    def as_data(self) -> dict[str, str]:
        return {"kind": self.kind, "key": self.key, "description": self.description}


class PromisesDropped(ValidationError):
    """Publishing would drop rights or retention rules and no reason was given; nothing changed."""

    def __init__(self, dropped: list[DroppedPromise]) -> None:
        self.dropped = dropped
        super().__init__(
            _(
                "This version drops promises of the version it follows (%(what)s); publish it "
                "only with a reason, which is recorded."
            ),
            code="promises_dropped",
            params={"what": "; ".join(d.description for d in dropped)},
        )


def version_followed(version: PolicyVersion) -> PolicyVersion | None:
    """The published version a draft follows: the newest published version of its policy (the one
    in force, or the one announced to take effect next), never the draft itself."""
    return (
        PolicyVersion.objects.filter(policy_id=version.policy_id, published_at__isnull=False)
        .exclude(pk=version.pk)
        .order_by("-published_at", "-pk")
        .first()
    )


def promises_dropped(version: PolicyVersion) -> list[DroppedPromise]:
    """The rights and retention rules of the version ``version`` follows that it drops: a right
    it no longer offers, a retention rule (by slug) it no longer has."""
    previous = version_followed(version)
    if previous is None:
        return []
    offered_now = set(
        version.request_type_rules.filter(offered=True).values_list("request_type", flat=True)
    )
    rules_now = set(version.retention_rules.values_list("slug", flat=True))
    dropped = [
        DroppedPromise(
            "right",
            request_type,
            gettext("the right “%(right)s”") % {"right": RequestType(request_type).label},
        )
        for request_type in previous.request_type_rules.filter(offered=True)
        .order_by("request_type")
        .values_list("request_type", flat=True)
        if request_type not in offered_now
    ]
    dropped += [
        DroppedPromise(
            "retention_rule",
            rule.slug,
            gettext("the retention rule “%(slug)s” (%(rule)s)") % {"slug": rule.slug, "rule": rule},
        )
        for rule in previous.retention_rules.order_by("slug")
        if rule.slug not in rules_now
    ]
    return dropped


@transaction.atomic
def policy_version_draft(
    *, policy: Policy, version_label: str, copy_of: PolicyVersion | None = None
) -> PolicyVersion:
    """Create a draft of ``policy`` labelled ``version_label``, a copy of ``copy_of`` (by default
    the newest published version): text, language, request type rules, retention rules and
    their exemptions. The notice period is the policy's own and applies to the draft as is.

    Raise ``ValidationError`` for an empty or taken label; nothing is created.
    """
    label = version_label.strip()
    if not label:
        raise ValidationError({"version_label": _("Give the new version a label.")})
    if len(label) > PolicyVersion._meta.get_field("version_label").max_length:  # type: ignore[operator]
        raise ValidationError({"version_label": _("The label is too long.")})
    if PolicyVersion.objects.filter(policy=policy, version_label=label).exists():
        raise ValidationError(
            {"version_label": _("This policy already has a version labelled %(label)s.")},
            params={"label": label},
        )
    source = copy_of or (
        PolicyVersion.objects.filter(policy=policy, published_at__isnull=False)
        .order_by("-published_at", "-pk")
        .first()
    )
    draft = PolicyVersion.objects.create(
        policy=policy,
        version_label=label,
        language=source.language if source else policy.organization.default_language,
        text=source.text if source else "",
    )
    if source is None:
        return draft
    for rule in source.request_type_rules.all():
        rule.pk = None
        rule.version = draft
        rule.save()
    for retention in source.retention_rules.prefetch_related("exemptions"):
        exemptions = list(retention.exemptions.all())
        retention.pk = None
        retention.version = draft
        retention.save()
        RetentionExemption.objects.bulk_create(
            RetentionExemption(
                rule=retention,
                category=e.category,
                legal_basis=e.legal_basis,
                period=e.period,
                period_unit=e.period_unit,
                source=e.source,
            )
            for e in exemptions
        )
    minors = MinorsRule.objects.filter(version=source).first()
    if minors is not None:
        # The rule for minors (a child's data deleted promptly) is a promise too.
        minors.pk = None
        minors.version = draft
        minors.save()
    return draft


@transaction.atomic
def policy_version_publish(
    *,
    version: PolicyVersion,
    at: datetime | None = None,
    published_by: str = "",
    reason: str = "",
) -> PolicyVersion:
    """Publish a draft: stamp ``published_at`` and ``effective_at`` (published + notice period),
    record the publication, and queue the announcement of a significant version.

    Raise ``PromisesDropped`` (nothing changed) when the draft drops a right or a retention rule
    of the version it follows and ``reason`` is empty. The update is conditional on the row still
    being a draft, so publishing twice (a double click, two staff members at once) fails with
    ``PublishedVersionFrozen`` instead of moving the dates of a version already in the public
    record.
    """
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationError(
            {"reason": _("At most %(max)d characters.")}, params={"max": MAX_REASON_LENGTH}
        )
    locked = PolicyVersion.objects.select_for_update().filter(pk=version.pk).first()
    if locked is None or locked.is_published:
        raise PublishedVersionFrozen()
    follows = version_followed(locked)
    dropped = promises_dropped(locked)
    if dropped and not reason:
        raise PromisesDropped(dropped)
    published_at = at or timezone.now()
    tz = locked.policy.organization.tz
    # The notice period counts calendar days on the organisation's clock: the same local time
    # N days later, whatever daylight-saving changes fall in between.
    local = published_at.astimezone(tz)
    effective_at = (local + timedelta(days=locked.policy.notice_period_days)).astimezone(UTC)
    changed = PolicyVersion.objects.filter(pk=locked.pk, published_at__isnull=True).update(
        published_at=published_at, effective_at=effective_at
    )
    if changed != 1:
        raise PublishedVersionFrozen()
    PolicyPublication.objects.create(
        version=locked,
        follows=follows,
        published_at=published_at,
        published_by=published_by[:150] or gettext("unknown"),
        significant=locked.significant,
        dropped=[d.as_data() for d in dropped],
        reason=reason if dropped else "",
    )
    if locked.significant:
        enqueue(ANNOUNCE_TASK, locked.pk)
    version.refresh_from_db()
    return version
