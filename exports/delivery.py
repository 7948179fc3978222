"""Export packages from request to download: create, re-run, discard, deliver, download, expire.

Staff create a package for a verified access or portability request (the build runs in a
worker), review its row counts, and deliver it: the subject is emailed a secret link valid for
``EXPORT_LINK_DAYS`` and finds the same download on their status page. Every download is recorded
with its bytes. Hourly housekeeping expires links, deletes the files of expired and discarded
packages, and re-queues builds whose worker died. Every step is a conditional update with its
audit event in the same transaction; mail and builds are enqueued once that transaction commits.

One cohesive thing, and so one module: a package's life after it is built, step by step.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import IO, Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from exports.build import (
    MAX_ATTEMPTS,
    delete_quietly,
    export_storage,
    final_name,
    stall_after,
)
from exports.events import export_event
from exports.models import (
    DownloadRoute,
    ExportDownload,
    ExportLink,
    ExportPackage,
    ExportStatus,
)
from exports.sources import export_blockers
from outbox.api import enqueue
from policies.models import RequestType
from requests_app.audit import Actor, event_append
from requests_app.models import EventKind, RequestStatus, SubjectRequest
from requests_app.representation import relationship_blocker
from requests_app.verification import MAX_TOKEN_LENGTH, InvalidLink, status_request, token_hash

logger = logging.getLogger(__name__)

HOUSEKEEPING_JOB = "export-housekeeping"
EMAIL_JOB = "send-export-email"
# Requests whose subject proved their email and that are still being answered.
EXPORTABLE_STATUSES = (RequestStatus.VERIFIED, RequestStatus.IN_PROGRESS, RequestStatus.ON_HOLD)
EXPORT_TYPES = (RequestType.ACCESS, RequestType.PORTABILITY)


class ExportRefused(Exception):
    """The export step cannot be taken now; the message says why, for staff."""


class LinkExpired(Exception):
    """The link was real but its package's download period is over (the file is deleted)."""

    def __init__(self, package: ExportPackage) -> None:
        super().__init__(package.pk)
        self.package = package


def _conditional(package: ExportPackage, *, from_statuses: tuple[str, ...], **values: Any) -> None:
    """Apply ``values`` only while the package still has one of ``from_statuses``, or refuse."""
    updated = ExportPackage.objects.filter(pk=package.pk, status__in=from_statuses).update(**values)
    if updated != 1:
        current = ExportPackage.objects.values_list("status", flat=True).get(pk=package.pk)
        raise ExportRefused(
            _("Export package #%(id)s is “%(status)s”; this cannot be done now.")
            % {"id": package.pk, "status": ExportStatus(current).label}
        )
    package.refresh_from_db()


def _enqueue_build(package_id: int) -> None:
    enqueue("exports.build_export", package_id)


# --- Staff ----------------------------------------------------------------------------------------


@transaction.atomic
def export_create(
    *, request: SubjectRequest, actor: Actor, at: datetime | None = None
) -> ExportPackage:
    """Queue the export package an access or portability request asks for and start its build."""
    now = at or timezone.now()
    if request.request_type not in EXPORT_TYPES:
        raise ExportRefused(
            _("Only access and portability requests get an export package, not “%(type)s”.")
            % {"type": request.get_request_type_display()}
        )
    if request.status not in EXPORTABLE_STATUSES:
        raise ExportRefused(
            _("Request %(reference)s is “%(status)s”: only a confirmed, open request is exported.")
            % {"reference": request.reference, "status": request.get_status_display()}
        )
    blocker = relationship_blocker(request)
    if blocker:
        raise ExportRefused(blocker)
    waiting = export_blockers(request)
    if waiting:
        # Built now, the package would silently lack what these systems are still searching.
        raise ExportRefused(
            _("Request %(reference)s is waiting for systems: %(waiting)s")
            % {"reference": request.reference, "waiting": " ".join(waiting)}
        )
    try:
        with transaction.atomic():
            package = ExportPackage.objects.create(
                request=request, kind=request.request_type, created_at=now, created_by=actor.user
            )
    except IntegrityError:
        raise ExportRefused(
            _("Request %(reference)s already has an export package in preparation.")
            % {"reference": request.reference}
        ) from None
    export_event(
        package=package, event="created", actor=actor, at=now, note="Export package queued."
    )
    _enqueue_build(package.pk)
    return package


@transaction.atomic
def export_rerun(
    *, package: ExportPackage, actor: Actor, at: datetime | None = None
) -> ExportPackage:
    """Queue a failed package's build again, with a fresh allowance of automatic retries."""
    now = at or timezone.now()
    _conditional(
        package, from_statuses=(ExportStatus.FAILED,), status=ExportStatus.QUEUED, attempts=0
    )
    export_event(
        package=package, event="rerun", actor=actor, at=now, note="Export package build re-run."
    )
    _enqueue_build(package.pk)
    return package


@transaction.atomic
def export_discard(
    *, package: ExportPackage, actor: Actor, reason: str, at: datetime | None = None
) -> ExportPackage:
    """Discard a package that will not be delivered (wrong data, rebuilt); its file is deleted."""
    if not reason.strip():
        raise ExportRefused(_("Discarding an export package needs a reason."))
    now = at or timezone.now()
    _conditional(
        package,
        from_statuses=(ExportStatus.QUEUED, ExportStatus.READY, ExportStatus.FAILED),
        status=ExportStatus.DISCARDED,
    )
    export_event(
        package=package,
        event="discarded",
        actor=actor,
        at=now,
        note=f"Export package discarded: {reason}",
    )
    transaction.on_commit(partial(export_files_delete, at=now))
    return package


def _expires_text(package: ExportPackage, expires_at: datetime) -> str:
    local = expires_at.astimezone(package.request.organization.tz)
    return formats.date_format(local, "DATETIME_FORMAT")


@transaction.atomic
def export_deliver(
    *, package: ExportPackage, actor: Actor, at: datetime | None = None
) -> ExportPackage:
    """Deliver a ready package: the subject can download it for ``EXPORT_LINK_DAYS`` from their
    status page, and is emailed a link of its own."""
    now = at or timezone.now()
    request = package.request
    if request.status not in (*EXPORTABLE_STATUSES, RequestStatus.COMPLETED):
        raise ExportRefused(
            _("Request %(reference)s is “%(status)s”: its export can no longer be delivered.")
            % {"reference": request.reference, "status": request.get_status_display()}
        )
    blocker = relationship_blocker(request)
    if blocker:
        raise ExportRefused(blocker)
    expires_at = now + timedelta(days=settings.EXPORT_LINK_DAYS)
    _conditional(
        package,
        from_statuses=(ExportStatus.READY,),
        status=ExportStatus.DELIVERED,
        delivered_at=now,
        delivered_by=actor.user,
        link_expires_at=expires_at,
    )
    with translation.override(request.language):
        public_note = gettext(
            "Your data is ready: download it from this page until %(date)s (%(size)s). "
            "We have also emailed you a link."
        ) % {"date": _expires_text(package, expires_at), "size": filesizeformat(package.size or 0)}
    export_event(
        package=package,
        event="delivered",
        actor=actor,
        at=now,
        public_note=public_note,
        data={"link_expires_at": expires_at.isoformat()},
    )
    enqueue("exports.send_export_email", package.pk)
    return package


# --- The subject's links ----------------------------------------------------------------------


def export_email_send(*, package_id: int) -> bool:
    """Email the subject a new link to a delivered package; return False when it no longer applies.

    The token is made here, in the worker, so no secret travels through the broker; each email
    has its own, and all of a package's links end with the package's download period.
    """
    package = (
        ExportPackage.objects.select_related("request__organization").filter(pk=package_id).first()
    )
    if package is None or not package.is_downloadable():
        return False
    request = package.request
    if not request.emails_subject:
        return False  # a controller's request (OpenDSR): the controller tells its customer
    organization = request.organization
    token = secrets.token_urlsafe(32)
    ExportLink.objects.create(package=package, token_hash=token_hash(token))
    link = f"{settings.SITE_URL}{reverse('exports:export_link', args=[token])}"
    context = {
        "request": request,
        "organization": organization,
        "package": package,
        "link": link,
        "expires_local": package.link_expires_at.astimezone(organization.tz),  # type: ignore[union-attr]
        "link_days": settings.EXPORT_LINK_DAYS,
    }
    with translation.override(request.language):
        subject = " ".join(render_to_string("emails/exports/ready_subject.txt", context).split())
        text = render_to_string("emails/exports/ready.txt", context)
        html = render_to_string("emails/exports/ready.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[request.email],
        reply_to=[organization.contact_email],
    )
    message.attach_alternative(html, "text/html")
    message.send()
    event_append(
        request=request,
        kind=EventKind.EMAIL_SENT,
        actor=Actor.system(EMAIL_JOB),
        at=timezone.now(),
        data={"email": "export_ready", "package": package.pk},
    )
    return True


def package_for_link(*, token: str, at: datetime | None = None) -> ExportPackage:
    """Return the package an emailed link opens; ``LinkExpired`` once its period is over,
    ``InvalidLink`` for anything else (wrong, or a package never delivered or discarded)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidLink
    link = (
        ExportLink.objects.select_related("package__request__organization")
        .filter(token_hash=token_hash(token))
        .first()
    )
    if link is None:
        raise InvalidLink
    return _open_package(link.package, at or timezone.now())


def package_for_status_page(
    *, token: str, package_id: int, at: datetime | None = None
) -> ExportPackage:
    """Return a delivered package of the request a status link opens, like ``package_for_link``."""
    request = status_request(token=token, at=at)
    package = (
        ExportPackage.objects.select_related("request__organization")
        .filter(pk=package_id, request=request)
        .first()
    )
    if package is None:
        raise InvalidLink
    return _open_package(package, at or timezone.now())


def _open_package(package: ExportPackage, now: datetime) -> ExportPackage:
    if package.is_downloadable(now):
        return package
    if package.is_shown_to_subject:
        raise LinkExpired(package)
    raise InvalidLink


class DownloadStream:
    """A package's file as a streaming response reads it: it counts the bytes that leave and,
    when the response closes it (finished or cut off), records the download."""

    def __init__(self, file: IO[bytes], download: ExportDownload) -> None:
        self._file = file
        self.download = download
        self.sent = 0
        self._closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self.sent += len(data)
        return data

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._file.close()
        try:
            download_finish(download=self.download, bytes_sent=self.sent)
        except Exception:
            # The subject already has (or lost) the bytes; a failed record must not turn into an
            # error page or hide the original problem.
            logger.exception("could not record export download %s", self.download.pk)


def download_start(
    *, package: ExportPackage, route: DownloadRoute, at: datetime | None = None
) -> DownloadStream:
    """Open the package's file for a download and record that it started."""
    file = export_storage().open(package.file_path, "rb")
    download = ExportDownload.objects.create(
        package=package, route=route, started_at=at or timezone.now()
    )
    return DownloadStream(file, download)


@transaction.atomic
def download_finish(*, download: ExportDownload, bytes_sent: int) -> ExportDownload:
    """Record how a download ended: when, how many bytes, whether the whole file went out."""
    now = timezone.now()
    package = download.package
    download.finished_at = now
    download.bytes_sent = bytes_sent
    download.completed = bytes_sent == package.size
    download.save(update_fields=["finished_at", "bytes_sent", "completed"])
    export_event(
        package=package,
        event="downloaded",
        actor=Actor.subject(),
        at=now,
        note=f"Export package downloaded: {bytes_sent} of {package.size} bytes.",
        data={"download": download.pk, "bytes": bytes_sent, "completed": download.completed},
    )
    return download


# --- Housekeeping -----------------------------------------------------------------------------


def exports_expire(*, at: datetime | None = None) -> int:
    """Close the download period of delivered packages whose link has expired; return how many.

    Each package is its own conditional update, so the job can run again or twice at once.
    """
    now = at or timezone.now()
    expired = 0
    due = ExportPackage.objects.filter(status=ExportStatus.DELIVERED, link_expires_at__lte=now)
    for package in due.select_related("request").iterator(chunk_size=500):
        with transaction.atomic():
            if (
                ExportPackage.objects.filter(pk=package.pk, status=ExportStatus.DELIVERED).update(
                    status=ExportStatus.EXPIRED
                )
                != 1
            ):
                continue
            export_event(
                package=package,
                event="expired",
                actor=Actor.system(HOUSEKEEPING_JOB),
                at=now,
                note="Export package link expired; the file is deleted.",
            )
        expired += 1
    return expired


def export_files_delete(*, at: datetime | None = None) -> int:
    """Delete the files of expired and discarded packages; return how many were deleted.

    The status changes first and the file goes after, so nobody can start a download of a file
    about to disappear; a file that could not be deleted is tried again on the next run.
    """
    now = at or timezone.now()
    storage = export_storage()
    deleted = 0
    gone = ExportPackage.objects.filter(
        status__in=(ExportStatus.EXPIRED, ExportStatus.DISCARDED)
    ).exclude(Q(file_path="") & Q(partial_path=""))
    for package in gone.iterator(chunk_size=500):
        try:
            for name in (package.file_path, package.partial_path):
                if name:
                    storage.delete(name)
        except OSError:
            logger.exception("could not delete the file of export package %s", package.pk)
            continue
        ExportPackage.objects.filter(pk=package.pk, status=package.status).update(
            file_path="", partial_path="", file_deleted_at=now
        )
        deleted += 1
    return deleted


def exports_recover_stalled(*, at: datetime | None = None) -> int:
    """Find builds whose worker died (no heartbeat for ``WORK_STALL_MINUTES``); return how many.

    Each one's partial file is deleted; it is queued again while it has attempts left, and marked
    failed with the reason otherwise, so staff see it and can re-run it.
    """
    now = at or timezone.now()
    storage = export_storage()
    recovered = 0
    quiet = Q(heartbeat_at__lte=now - stall_after()) | Q(
        heartbeat_at__isnull=True, started_at__lte=now - stall_after()
    )
    stalled = ExportPackage.objects.filter(quiet, status=ExportStatus.BUILDING)
    for package in stalled.select_related("request").iterator(chunk_size=100):
        retry = package.attempts < MAX_ATTEMPTS
        reason = (
            f"The worker building attempt {package.attempts} stopped before it finished"
            f"{'; queued again' if retry else ''}."
        )
        with transaction.atomic():
            if (
                # Still quiet: a heartbeat since the query means the worker lives after all.
                ExportPackage.objects.filter(
                    quiet, pk=package.pk, status=ExportStatus.BUILDING, attempts=package.attempts
                ).update(
                    status=ExportStatus.QUEUED if retry else ExportStatus.FAILED,
                    failure=reason,
                    partial_path="",
                )
                != 1
            ):
                continue
            export_event(
                package=package,
                event="build_stalled",
                actor=Actor.system(HOUSEKEEPING_JOB),
                at=now,
                note=reason,
                data={"attempt": package.attempts},
            )
            partial_path = package.partial_path
            transaction.on_commit(partial(delete_quietly, storage, partial_path))
            if partial_path.startswith("partial/"):
                transaction.on_commit(partial(delete_quietly, storage, final_name(partial_path)))
            if retry:
                _enqueue_build(package.pk)
        recovered += 1
    return recovered


@dataclass(frozen=True)
class HousekeepingReport:
    expired: int
    files_deleted: int
    recovered: int


def exports_housekeeping(*, at: datetime | None = None) -> HousekeepingReport:
    """Run the hourly export jobs: expire links, delete files, recover stalled builds."""
    now = at or timezone.now()
    return HousekeepingReport(
        expired=exports_expire(at=now),
        files_deleted=export_files_delete(at=now),
        recovered=exports_recover_stalled(at=now),
    )
