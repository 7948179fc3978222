"""Retention clocks: when a retention trigger started for a row, as the database sees it.

The subject-data registry says which triggers a model follows and which row's dates start its
clock (``retention_anchor``: a sale follows its account). This module says, for each anchor model
and trigger, how to read that start: "the account was deleted" starts on the local day of
``deleted_at``; "the licence payment is overdue" starts the day after ``licence_paid_until``.

A clock answers in SQL (``due``: the anchors whose clock started on or before a day and whose
trigger still holds), so the purge engine re-checks the trigger in every batch: an account whose
licence is paid, or whose deletion is undone, stops being purged at once.

The POS clocks are registered here beside the engine that reads them; like the registrations in
``pos/subject_data.py`` they stand for what a host system declares about its own models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import Q

from policies.models import RetentionTrigger
from pos.models import Account, AccountUser, UserRole


def start_of_local_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``tz``, in UTC."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class TriggerClock:
    """How one trigger starts for rows of one anchor model.

    ``due(day, tz)`` selects the anchors whose clock started on or before ``day`` (on the
    organisation's calendar, ``tz``) and whose trigger still holds; ``started_on(row, tz)`` is the
    same in Python for one row (``None`` when the trigger does not hold); ``recipients(rows)``
    maps anchor primary keys to the addresses told in advance of a purge.
    """

    model: type[models.Model]
    trigger: RetentionTrigger
    due: Callable[[date, ZoneInfo], Q]
    started_on: Callable[[Any, ZoneInfo], date | None]
    recipients: Callable[[Iterable[int]], dict[int, list[str]]]


_CLOCKS: dict[tuple[type[models.Model], str], TriggerClock] = {}


def clock_register(clock: TriggerClock) -> None:
    _CLOCKS[(clock.model, clock.trigger)] = clock


def clock_for(model: type[models.Model], trigger: str) -> TriggerClock | None:
    return _CLOCKS.get((model, trigger))


def triggers_with_clocks() -> frozenset[str]:
    return frozenset(trigger for _model, trigger in _CLOCKS)


# --- The POS accounts ---------------------------------------------------------------------------


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
