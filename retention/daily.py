"""The daily retention job: every retention rule in force, then the purges other apps register.

- ``retention_rule_apply``: one rule's advance notices and its purge run for a day; the beat job
  (``retention_apply``) and ``manage.py purge`` both apply a rule through it.
- Purge sources: retention rules are not the only reason rows are purged on a given day; the rows
  an erasure kept under a legal hold are deleted when the hold ends (``erasure``). Such an app
  registers a source in its ``ready()`` (``purge_source_register``); the daily job and ``manage.py
  purge`` start every source's due runs after the rules', so retention never imports the apps
  built on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date
from typing import Protocol

from policies.models import (
    RetentionRule,
)
from retention.models import PurgeKind, PurgeRun
from retention.notices import notices_create_due
from retention.purge import (
    run_dispatch,
)
from retention.rules import (
    RETENTION_JOB,
    RuleRefused,
    organization_today,
    retention_run_start,
    rule_check,
    rules_in_force,
)

logger = logging.getLogger(__name__)


def retention_rule_apply(
    *,
    rule: RetentionRule,
    as_of: date,
    triggered_by: str = RETENTION_JOB,
    batch_size: int | None = None,
) -> tuple[PurgeRun, list[int]]:
    """Create the rule's advance notices due by ``as_of`` and start (or resume) its purge run.

    Returns the run (not yet dispatched) and the ids of the notices queued. The daily job and
    ``manage.py purge`` both apply a rule through here.
    """
    notices = notices_create_due(rule=rule, as_of=as_of)
    run = retention_run_start(
        rule=rule, as_of=as_of, triggered_by=triggered_by, batch_size=batch_size
    )
    return run, notices


def retention_apply(
    *,
    as_of: date | None = None,
    rules: Iterable[RetentionRule] | None = None,
    triggered_by: str = RETENTION_JOB,
    dispatch: bool = True,
) -> list[PurgeRun]:
    """Send due notices and start (or resume) a purge run for every rule in force.

    ``as_of`` is the day to count from (each organisation's today by default). A refused rule is
    logged and skipped; the others still run. With ``dispatch`` the runs' first steps are queued
    to the workers; without, the caller executes them (``purge.run_execute``).
    """
    runs: list[PurgeRun] = []
    for rule in rules if rules is not None else rules_in_force(as_of):
        organization = rule.version.policy.organization
        day = as_of or organization_today(organization)
        try:
            rule_check(rule)
        except RuleRefused as error:
            logger.error("%s", error)
            continue
        run, _notices = retention_rule_apply(rule=rule, as_of=day, triggered_by=triggered_by)
        if dispatch:
            run_dispatch(run)
        runs.append(run)
    return runs


# --- Purges other apps register ----------------------------------------------------------------


class PurgeSource(Protocol):
    def __call__(self, *, as_of: date, triggered_by: str | None = None) -> list[PurgeRun]: ...


_SOURCES: dict[str, PurgeSource] = {}
_TITLES: dict[str, Callable[[PurgeRun], str]] = {}


def purge_source_register(
    kind: PurgeKind, source: PurgeSource, *, title: Callable[[PurgeRun], str]
) -> None:
    """Start ``source``'s due runs with the daily job; ``title`` names one of its runs."""
    _SOURCES[kind] = source
    _TITLES[kind] = title


def purges_start_due(*, as_of: date, triggered_by: str | None = None) -> list[PurgeRun]:
    """Start the runs every registered source has due on ``as_of`` (not yet dispatched)."""
    runs: list[PurgeRun] = []
    for source in _SOURCES.values():
        runs.extend(source(as_of=as_of, triggered_by=triggered_by))
    return runs


def run_title(run: PurgeRun) -> str:
    """How the run's source names it, or the run's kind."""
    title = _TITLES.get(run.kind)
    return title(run) if title is not None else str(run.get_kind_display())
