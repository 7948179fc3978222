"""The seed loader: load the seeds ``policies.seed_files`` read and checked, in one transaction.

Reading and loading are separate steps so that nothing is written unless every file is valid
(:func:`policies.seed_files.seeds_read`); :func:`seeds_load` then writes all of them in one
transaction.

Loading is idempotent. Organisations and policies are updated in place; a policy version is never
edited: when the text (by SHA-256), its language or any of its rules differ from the policy's
latest published version, a new version is created and published through
:func:`policies.services.policy_version_publish`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from policies.models import (
    MinorsRule,
    Organization,
    Policy,
    PolicyVersion,
    RequestTypeRule,
    RetentionExemption,
    RetentionRule,
)
from policies.seed_files import (
    Seed,
    SeedError,
    VersionContent,
)
from policies.services import policy_version_publish

# --- Loading ---------------------------------------------------------------------------------


@dataclass
class SeedOutcome:
    """What loading one seeds file changed, for the operator."""

    slug: str
    changes: list[str] = field(default_factory=list)
    published: PolicyVersion | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def line(self) -> str:
        return f"{self.slug}: " + ("; ".join(self.changes) if self.changes else _("unchanged"))


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def _free_label(policy: Policy, wanted: str) -> str:
    """Return ``wanted``, or ``wanted-2``, ``wanted-3``... when a version already has it."""
    taken = set(policy.versions.values_list("version_label", flat=True))
    label, number = wanted, 2
    while label in taken:
        label, number = f"{wanted}-{number}", number + 1
    return label


def _organization_upsert(seed: Seed, outcome: SeedOutcome) -> Organization:
    values = seed.organization
    organization = Organization.objects.select_for_update().filter(slug=seed.slug).first()
    if organization is None:
        organization = Organization.objects.create(**values)
        outcome.changes.append(_("created organisation %(name)s") % {"name": organization.name})
        return organization
    changed = [name for name, value in values.items() if getattr(organization, name) != value]
    if changed:
        for name in changed:
            setattr(organization, name, values[name])
        organization.save(update_fields=changed)
        outcome.changes.append(
            _("updated organisation (%(fields)s)") % {"fields": ", ".join(changed)}
        )
    return organization


def _policy_upsert(seed: Seed, organization: Organization, outcome: SeedOutcome) -> Policy:
    values = {"title": seed.policy_title, "notice_period_days": seed.notice_period_days}
    policy = (
        Policy.objects.select_for_update()
        .filter(organization=organization, slug=seed.policy_slug)
        .first()
    )
    if policy is None:
        policy = Policy.objects.create(organization=organization, slug=seed.policy_slug, **values)
        outcome.changes.append(_("created policy %(slug)s") % {"slug": policy.slug})
        return policy
    changed = [name for name, value in values.items() if getattr(policy, name) != value]
    if changed:
        for name in changed:
            setattr(policy, name, values[name])
        # A new notice period applies to versions published from now on; published ones keep
        # the dates they were published with.
        policy.save(update_fields=changed)
        outcome.changes.append(
            _("updated policy %(slug)s (%(fields)s)")
            % {"slug": policy.slug, "fields": ", ".join(changed)}
        )
    return policy


def _what_changed(old: VersionContent, new: VersionContent) -> list[str]:
    parts = []
    if old.text_sha256 != new.text_sha256:
        parts.append(_("text"))
    if old.language != new.language:
        parts.append(_("language"))
    if old.request_types != new.request_types:
        parts.append(_("request types"))
    if old.retention_rules != new.retention_rules:
        parts.append(_("retention rules"))
    if old.minors != new.minors:
        parts.append(_("rule for minors"))
    return parts


def _version_publish_if_changed(
    seed: Seed, policy: Policy, outcome: SeedOutcome, now: datetime
) -> None:
    tz = policy.organization.tz
    latest = policy.versions.published().order_by("-published_at", "-pk").first()
    content = seed.version_content()
    if latest is not None and VersionContent.of(latest) == content:
        return

    if not policy.versions.filter(version_label=seed.version_label).exists():
        label = seed.version_label
        published_at = _local_midnight(seed.published_on, tz)
        if latest is not None and latest.published_at and published_at < latest.published_at:
            # A back-dated version would rewrite which text was in force in the past.
            raise SeedError(
                seed.path,
                "version.published.date",
                _(
                    "%(date)s is before version %(label)s was published (%(latest)s); "
                    "a new version cannot be back-dated"
                )
                % {
                    "date": seed.published_on.isoformat(),
                    "label": latest.version_label,
                    "latest": latest.published_at.astimezone(tz).date().isoformat(),
                },
            )
        label_note = ""
    else:
        # The file's label already names a published text, which stays as it was: the changed
        # content is published today under a label derived from today's date.
        published_at = now
        label = _free_label(policy, now.astimezone(tz).date().isoformat())
        label_note = _(" (the file's label %(label)s names an earlier version)") % {
            "label": seed.version_label
        }

    version = PolicyVersion.objects.create(
        policy=policy, version_label=label, language=seed.language, text=seed.text
    )
    for request_type in seed.request_types:
        RequestTypeRule.objects.create(version=version, **request_type.row())
    for retention in seed.retention_rules:
        rule = RetentionRule.objects.create(version=version, **retention.row())
        for exemption in retention.exemptions:
            RetentionExemption.objects.create(rule=rule, **exemption.row())
    if seed.minors is not None:
        MinorsRule.objects.create(version=version, **seed.minors.row())
    # The file is the statement of what the version promises: a right or rule it no longer lists
    # is dropped on purpose, and the publication record says so.
    version = policy_version_publish(
        version=version,
        at=published_at,
        published_by="load_seeds",
        reason=_("The seeds file %(file)s no longer lists them.") % {"file": seed.path.name},
    )
    if version.published_at is None or version.effective_at is None:
        raise RuntimeError("policy_version_publish left the version without its dates")

    line = _("published version %(label)s on %(published)s, in force from %(effective)s") % {
        "label": label + label_note,
        "published": version.published_at.astimezone(tz).date().isoformat(),
        "effective": version.effective_at.astimezone(tz).date().isoformat(),
    }
    if latest is not None:
        line += _("; replaces %(old)s (changed: %(what)s)") % {
            "old": latest.version_label,
            "what": ", ".join(_what_changed(VersionContent.of(latest), content)),
        }
    outcome.changes.append(line)
    outcome.published = version


@transaction.atomic
def seeds_load(*, seeds: list[Seed], at: datetime | None = None) -> list[SeedOutcome]:
    """Load checked seeds in one transaction; return what changed for each organisation.

    Create or update each organisation and policy, and publish a new version when the text, its
    language or its rules differ from the latest published one (a first version on its file's
    date; a later one on its file's date when the label is new, else ``at``, now by default).
    Raise :class:`SeedError`, with nothing written, when a new version would be back-dated.
    """
    now = at or timezone.now()
    outcomes = []
    for seed in seeds:
        outcome = SeedOutcome(slug=seed.slug)
        organization = _organization_upsert(seed, outcome)
        policy = _policy_upsert(seed, organization, outcome)
        _version_publish_if_changed(seed, policy, outcome, now)
        outcomes.append(outcome)
    return outcomes


def default_seeds_directory() -> Path:
    return Path(settings.BASE_DIR) / "seeds"
