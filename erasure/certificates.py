"""The erasure certificate: what an erasure did, stored when its purge run finishes, and the
evidence section it adds to the request's record.

``erasure_finish`` (a purge finisher, registered in ``ErasureConfig.ready()``) stores the
certificate (rows per model, what was retained under which basis and until when, the
timestamps), adds it to the audit trail, emails it to the subject and completes the request, all
in the transaction that finishes the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from erasure.models import ErasureCertificate, ErasureSchedule, ErasureStatus
from erasure.services import ERASURE_JOB, _event
from outbox.api import enqueue
from policies.models import DataCategory
from requests_app.audit import Actor
from requests_app.models import (
    RequestStatus,
    SubjectRequest,
)
from requests_app.workflow import CompletionBlocked, request_complete
from retention.models import PurgeRun
from retention.scopes import (
    registration_for,
)

logger = logging.getLogger(__name__)

# Registered by ``systems`` in its ``ready()`` (this app imports none of it): listeners told when
# an erasure's run finished (the engine's own systems settle their tasks), what the certificate
# waits for (outside systems still erasing: it is issued when the last one answers, through
# ``certificate_issue_waiting``), and the outside systems' part of the certificate.
_FINISH_LISTENERS: list[Callable[[SubjectRequest, PurgeRun], None]] = []
_WAITS: list[Callable[[SubjectRequest], list[str]]] = []
_OUTSIDE: list[Callable[[SubjectRequest], list[dict[str, Any]]]] = []


def finish_listener_register(listener: Callable[[SubjectRequest, PurgeRun], None]) -> None:
    if listener not in _FINISH_LISTENERS:
        _FINISH_LISTENERS.append(listener)


def certificate_wait_register(wait: Callable[[SubjectRequest], list[str]]) -> None:
    if wait not in _WAITS:
        _WAITS.append(wait)


def outside_source_register(source: Callable[[SubjectRequest], list[dict[str, Any]]]) -> None:
    if source not in _OUTSIDE:
        _OUTSIDE.append(source)


# --- The certificate ------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def certificate_content(
    schedule: ErasureSchedule, run: PurgeRun, *, at: datetime
) -> dict[str, Any]:
    """Return the certificate of an erasure whose run has just finished."""
    request = schedule.request
    models = []
    for label, counts in sorted(run.totals.items()):
        registration = registration_for(label)
        retained = sum(e["rows"] for e in run.retained if e["model"] == label)
        models.append(
            {
                "model": label,
                "system": registration.system_name,
                "name": str(registration.model._meta.verbose_name_plural),
                "category": registration.category,
                "deleted": counts.get("deleted", 0),
                "anonymised": counts.get("anonymised", 0),
                "kept_referenced": counts.get("kept", 0),
                "retained": retained,
            }
        )
    by_category: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for entry in run.retained:
        key = (entry["category"], entry["legal_basis"], entry["until"])
        found = by_category.setdefault(
            key,
            {
                "category": entry["category"],
                "category_name": str(DataCategory(entry["category"]).label),
                "legal_basis": entry["legal_basis"],
                "until": entry["until"],
                "models": [],
                "rows": 0,
            },
        )
        found["models"].append(entry["model"])
        found["rows"] += entry["rows"]
    outside = [entry for source in _OUTSIDE for entry in source(request)]
    due = schedule.deadline
    return {
        "format": "dsr-tracker/erasure-certificate",
        "format_version": 1,
        "request": request.reference,
        "organization": {
            "name": request.organization.name,
            "legal_name": request.organization.legal_name,
        },
        "policy_version": request.policy_version.version_label,
        "approved_at": _iso(schedule.approved_at),
        "approved_by": schedule.approved_by.get_username() if schedule.approved_by else "",
        "grace_period_ended_at": _iso(schedule.execute_after),
        "deadline": _iso(due),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "issued_at": _iso(at),
        "on_time": due is None or at <= due,
        "purge_run": run.pk,
        "systems": sorted({m["system"] for m in models} | {e["system"] for e in outside}),
        "models": models,
        # Systems outside the engine: what each said it erased and kept (under which legal
        # basis), "nothing found", or why an officer closed its task.
        "outside_systems": outside,
        "retained": sorted(by_category.values(), key=lambda e: (e["category"], e["until"] or "")),
    }


def certificate_summary(content: dict[str, Any]) -> str:
    """A few sentences for the subject (in the active language): what was done and kept."""
    deleted = sum(m["deleted"] for m in content["models"])
    anonymised = sum(m["anonymised"] for m in content["models"])
    parts = [
        _("Your data was erased."),
        ngettext("%(count)d record was deleted.", "%(count)d records were deleted.", deleted)
        % {"count": deleted},
        ngettext(
            "%(count)d record was anonymised.", "%(count)d records were anonymised.", anonymised
        )
        % {"count": anonymised},
    ]
    for entry in content["retained"]:
        if entry["until"] is None:
            # Shared with other users, or under a legal hold: the basis says which and why.
            parts.append(
                ngettext(
                    "%(count)d record of %(category)s is kept: %(basis)s",
                    "%(count)d records of %(category)s are kept: %(basis)s",
                    entry["rows"],
                )
                % {
                    "count": entry["rows"],
                    "category": str(DataCategory(entry["category"]).label).lower(),
                    "basis": entry["legal_basis"],
                }
            )
            continue
        parts.append(
            ngettext(
                "%(count)d record of %(category)s is kept under %(basis)s until %(until)s, "
                "then deleted.",
                "%(count)d records of %(category)s are kept under %(basis)s until %(until)s, "
                "then deleted.",
                entry["rows"],
            )
            % {
                "count": entry["rows"],
                "category": str(DataCategory(entry["category"]).label).lower(),
                "basis": entry["legal_basis"],
                "until": entry["until"],
            }
        )
    for entry in content.get("outside_systems", []):
        erased = sum(v for v in entry["counts"].values() if isinstance(v, int))
        if entry["status"] == "done":
            parts.append(
                ngettext(
                    "%(system)s: %(count)d record was erased.",
                    "%(system)s: %(count)d records were erased.",
                    erased,
                )
                % {"system": entry["system"], "count": erased}
            )
        elif entry["status"] == "nothing_found":
            parts.append(
                _("%(system)s: nothing about you was found.") % {"system": entry["system"]}
            )
        else:
            parts.append(
                _("%(system)s: %(status)s (%(reason)s).")
                % {
                    "system": entry["system"],
                    "status": entry["status_name"].lower(),
                    "reason": entry["reason"],
                }
            )
    parts.append(_("The erasure certificate was emailed to you."))
    return " ".join(parts)


def erasure_finish(run: PurgeRun) -> None:
    """Issue the certificate of a finished erasure run and complete its request.

    Called by the purge engine inside the transaction that finishes the run, so the certificate,
    the audit event and the completion commit together, or not at all and the run is finished
    again by whoever resumes it.
    """
    now = run.finished_at or timezone.now()
    schedule = ErasureSchedule.objects.select_related(
        "request__organization", "request__rule", "request__policy_version", "approved_by"
    ).get(run=run)
    request = schedule.request
    ErasureSchedule.objects.filter(pk=schedule.pk).update(
        status=ErasureStatus.DONE, finished_at=now
    )
    for listener in _FINISH_LISTENERS:
        listener(request, run)
    waiting = [name for wait in _WAITS for name in wait(request)]
    if waiting:
        # The certificate covers every system: it is issued when the last of these answers.
        _event(
            request,
            "certificate_waits",
            actor=Actor.system(ERASURE_JOB),
            at=now,
            note="The certificate waits for: " + ", ".join(waiting),
            run=run.pk,
            systems=waiting,
        )
        return
    _certificate_issue(schedule, run, now)


def certificate_issue_waiting(request: SubjectRequest) -> ErasureCertificate | None:
    """Issue the certificate of ``request``'s finished erasure that waited for outside systems
    (once none is waited for), and complete the request; None when there is nothing to issue."""
    with transaction.atomic():
        schedule = (
            ErasureSchedule.objects.select_for_update(of=("self",))
            .select_related(
                "request__organization", "request__rule", "request__policy_version", "approved_by"
            )
            .filter(request=request, status=ErasureStatus.DONE, run__isnull=False)
            .first()
        )
        if schedule is None or ErasureCertificate.objects.filter(schedule=schedule).exists():
            return None
        if schedule.run is None or any(wait(schedule.request) for wait in _WAITS):
            return None
        return _certificate_issue(schedule, schedule.run, timezone.now())


def _certificate_issue(
    schedule: ErasureSchedule, run: PurgeRun, now: datetime
) -> ErasureCertificate:
    request = schedule.request
    # The stored certificate is evidence: always in English, whoever's language is active.
    with translation.override("en"):
        content = certificate_content(schedule, run, at=now)
    certificate = ErasureCertificate.objects.create(
        schedule=schedule,
        request=request,
        issued_at=now,
        content=content,
        sha256=ErasureCertificate.digest(content),
    )
    actor = Actor.system(ERASURE_JOB)
    with translation.override(request.language):
        summary = certificate_summary(content)
    _event(
        request,
        "certificate",
        actor=actor,
        at=now,
        certificate=certificate.pk,
        sha256=certificate.sha256,
        run=run.pk,
    )
    if request.status == RequestStatus.IN_PROGRESS:
        try:
            request_complete(request=request, actor=actor, outcome=summary, at=now)
        except CompletionBlocked:
            # Another task of the request is still open: staff complete it once it is settled.
            logger.warning("erasure of %s finished with tasks open", request.reference)
    else:
        # Staff moved the request while it ran: the data is erased, they close it.
        logger.warning("erasure of %s finished while it is %s", request.reference, request.status)
    enqueue("erasure.send_erasure_email", schedule.pk, "certificate")
    return certificate


# --- Evidence ------------------------------------------------------------------------------------


def erasure_evidence(request: SubjectRequest) -> dict[str, Any]:
    """The erasure's part of the evidence record: schedule, certificate and legal holds."""
    schedule = (
        ErasureSchedule.objects.select_related("approved_by", "run").filter(request=request).first()
    )
    if schedule is None:
        return {}
    section: dict[str, Any] = {
        "status": schedule.status,
        "approved_at": _iso(schedule.approved_at),
        "approved_by": schedule.approved_by.get_username() if schedule.approved_by else "",
        "grace_period_ends_at": _iso(schedule.execute_after),
        "deadline": _iso(schedule.deadline),
        "cancelled_at": _iso(schedule.cancelled_at),
        "started_at": _iso(schedule.started_at),
        "finished_at": _iso(schedule.finished_at),
    }
    certificate = ErasureCertificate.objects.filter(schedule=schedule).first()
    if certificate is not None:
        section["certificate"] = {
            "content": certificate.content,
            "sha256": certificate.sha256,
            "sha256_matches_content": certificate.is_intact(),
            "sent_at": _iso(certificate.sent_at),
        }
    if schedule.run_id is not None:
        section["legal_hold_releases"] = [
            {"run": release.pk, "as_of": release.as_of.isoformat(), "totals": release.totals}
            for release in PurgeRun.objects.filter(
                parent_id=schedule.run_id, finished_at__isnull=False
            )
        ]
    return section
