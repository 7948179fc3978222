"""Workflows on policies that change rows: publishing a version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from policies.models import PolicyVersion, PublishedVersionFrozen


@transaction.atomic
def policy_version_publish(*, version: PolicyVersion, at: datetime | None = None) -> PolicyVersion:
    """Publish a draft: stamp ``published_at`` and ``effective_at`` (published + notice period).

    The update is conditional on the row still being a draft, so publishing twice (a double
    click, two staff members at once) fails with ``PublishedVersionFrozen`` instead of moving the
    dates of a version already in the public record.
    """
    published_at = at or timezone.now()
    tz = version.policy.organization.tz
    # The notice period counts calendar days on the organisation's clock: the same local time
    # N days later, whatever daylight-saving changes fall in between.
    local = published_at.astimezone(tz)
    effective_at = (local + timedelta(days=version.policy.notice_period_days)).astimezone(UTC)
    changed = PolicyVersion.objects.filter(pk=version.pk, published_at__isnull=True).update(
        published_at=published_at, effective_at=effective_at
    )
    if changed != 1:
        raise PublishedVersionFrozen()
    version.refresh_from_db()
    return version
