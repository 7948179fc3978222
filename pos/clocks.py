"""When the retention triggers start for the sample host's accounts, as its database sees it.

"The account was deleted" starts on the local day of ``deleted_at``; "the licence payment is
overdue" starts the day after ``licence_paid_until``. Registered by ``PosConfig.ready()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q

from policies.models import RetentionTrigger
from pos.models import Account, AccountUser, UserRole
from subject_data.clocks import TriggerClock, clock_register, start_of_local_day


def _account_owners(account_ids: Iterable[int]) -> dict[int, list[str]]:
    """The owners' and primary contacts' addresses of each account: who runs the business."""
    found: dict[int, list[str]] = {}
    owners = (
        AccountUser.objects.filter(account_id__in=list(account_ids))
        .filter(Q(role=UserRole.OWNER) | Q(is_primary_contact=True))
        .order_by("account_id", "pk")
        .values_list("account_id", "email")
    )
    for account_id, email in owners:
        if email.lower() not in found.setdefault(account_id, []):
            found[account_id].append(email.lower())
    return found


def _deleted_due(day: date, tz: ZoneInfo) -> Q:
    # Deleted on or before `day` locally: before the first instant of the next local day, which
    # keeps the comparison on the indexed column.
    return Q(deleted_at__isnull=False, deleted_at__lt=start_of_local_day(day + timedelta(1), tz))


def _deleted_on(account: Account, tz: ZoneInfo) -> date | None:
    return account.deleted_at.astimezone(tz).date() if account.deleted_at else None


def _overdue_due(day: date, tz: ZoneInfo) -> Q:
    # Overdue since the day after the last paid day: since <= day  <=>  paid_until < day.
    return Q(licence_paid_until__lt=day)


def _overdue_since(account: Account, tz: ZoneInfo) -> date:
    return account.licence_paid_until + timedelta(days=1)


def register() -> None:
    """Register the accounts' clocks with the subject-data registry."""
    clock_register(
        TriggerClock(
            model=Account,
            trigger=RetentionTrigger.ACCOUNT_DELETED,
            due=_deleted_due,
            started_on=_deleted_on,
            recipients=_account_owners,
        )
    )
    clock_register(
        TriggerClock(
            model=Account,
            trigger=RetentionTrigger.LICENCE_OVERDUE,
            due=_overdue_due,
            started_on=_overdue_since,
            recipients=_account_owners,
        )
    )
