"""The end of a legal hold: rows an erasure kept under a legal basis are deleted when it ends.

Two kinds end here: a category's hold (a retention exemption's period, over on its date) and a
hold an officer placed on a subject or account (``requests_app.holds``), over when released:
``subject_hold_released`` dates the rows an erasure kept for it, and the next daily run erases
them.

``holds_release_start`` is a purge source (registered in ``ErasureConfig.ready()``): the daily
retention job and ``manage.py purge`` start its runs after the retention rules'.
"""

from __future__ import annotations

import logging
from datetime import date

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from erasure.models import ErasureSchedule
from erasure.services import RELEASE_JOB, _event
from requests_app.audit import Actor
from requests_app.models import LEGAL_HOLD_BASIS_PREFIX, LegalHold
from retention.models import PurgeAction, PurgeKind, PurgeRun, PurgeTarget
from retention.purge import (
    StepSpec,
    steps_create,
)
from retention.scopes import (
    deletion_order,
    registration_for,
)
from subject_data.registry import model_label

logger = logging.getLogger(__name__)


# --- The end of a legal hold ---------------------------------------------------------------------


def holds_release_start(*, as_of: date, triggered_by: str | None = None) -> list[PurgeRun]:
    """Start a run deleting the rows erasures kept under a legal hold that ended by ``as_of``."""
    runs: list[PurgeRun] = []
    due = PurgeTarget.objects.filter(
        action=PurgeAction.RETAIN, released_at__isnull=True, retained_until__lte=as_of
    )
    for parent_id in due.order_by("run_id").values_list("run_id", flat=True).distinct():
        with transaction.atomic():
            parent = PurgeRun.objects.select_for_update(of=("self",)).get(pk=parent_id)
            existing = PurgeRun.objects.filter(
                kind=PurgeKind.HOLD_RELEASE, parent=parent, finished_at__isnull=True
            ).first()
            if existing is not None:
                runs.append(existing)
                continue
            labels = set(due.filter(run=parent).values_list("model_label", flat=True))
            ordered = deletion_order(registration_for(label).model for label in sorted(labels))
            run = PurgeRun.objects.create(
                kind=PurgeKind.HOLD_RELEASE,
                organization_id=parent.organization_id,
                parent=parent,
                as_of=as_of,
                triggered_by=(triggered_by or RELEASE_JOB)[:150],
                batch_size=int(settings.PURGE_BATCH_SIZE),
                totals={
                    model_label(m): {"deleted": 0, "anonymised": 0, "kept": 0} for m in ordered
                },
            )
            steps_create(
                run,
                [
                    StepSpec(index, model_label(model), PurgeAction.DELETE)
                    for index, model in enumerate(ordered)
                ],
            )
            runs.append(run)
    return runs


def release_title(run: PurgeRun) -> str:
    """How ``manage.py purge`` names a run that ends a legal hold."""
    return _("legal hold ended (run #%(id)s)") % {"id": run.parent_id}


def hold_release_finish(run: PurgeRun) -> None:
    """Mark the held rows released and say so in the erasure's audit trail."""
    now = run.finished_at or timezone.now()
    if run.parent_id is None:
        raise ValueError(f"legal hold release {run.pk} names no erasure run")
    PurgeTarget.objects.filter(
        run_id=run.parent_id,
        action=PurgeAction.RETAIN,
        retained_until__lte=run.as_of,
        released_at__isnull=True,
    ).update(released_at=now)
    schedule = (
        ErasureSchedule.objects.select_related("request").filter(run_id=run.parent_id).first()
    )
    if schedule is not None:
        _event(
            schedule.request,
            "hold_ended",
            actor=Actor.system(RELEASE_JOB),
            at=now,
            run=run.pk,
            deleted=run.total("deleted"),
            kept=run.total("kept"),
        )


def subject_hold_released(hold: LegalHold) -> int:
    """Date the rows erasures kept under ``hold`` to the day it was released (a release
    listener), so the daily job erases them; return how many."""
    released_on = timezone.localdate(hold.released_at or timezone.now(), hold.organization.tz)
    return PurgeTarget.objects.filter(
        action=PurgeAction.RETAIN,
        released_at__isnull=True,
        retained_until__isnull=True,
        legal_basis__startswith=f"{LEGAL_HOLD_BASIS_PREFIX}{hold.pk}:",
    ).update(retained_until=released_on)
