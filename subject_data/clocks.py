"""Retention clocks: when a retention trigger started for a row, as the database sees it.

The subject-data registry says which triggers a model follows and which row's dates start its
clock (``retention_anchor``: a sale follows its account). This module says, for each anchor model
and trigger, how to read that start: "the account was deleted" starts on the local day of
``deleted_at``; "the licence payment is overdue" starts the day after ``licence_paid_until``.

A clock answers in SQL (``due``: the anchors whose clock started on or before a day and whose
trigger still holds), so the purge engine re-checks the trigger in every batch: an account whose
licence is paid, or whose deletion is undone, stops being purged at once.

A host system registers the clocks of its own models in its ``AppConfig.ready()``, beside its
registrations (the sample host: ``pos/clocks.py``); the purge engine (``retention``) reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import Q

from policies.models import RetentionTrigger


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


def clock_unregister(model: type[models.Model], trigger: str) -> None:
    """Forget a clock (a system's data map was replaced)."""
    _CLOCKS.pop((model, trigger), None)
