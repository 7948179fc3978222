"""Manual systems: a person searches them, answering through a secret link without an account.

Sending a manual task (``ManualHandler.send``) emails its owner, in the owner's language (the
system's ``owner_language``, else the organisation's), a link to ``/systems/tasks/<id>/<token>/``.
Like the subject's links (``requests_app.verification``) the token is 256 random bits and only its
SHA-256 is stored; it expires after ``SYSTEM_OWNER_LINK_DAYS``, opens its own task only, and
records one answer. Each email issues its own link (issued in the worker: no secret travels
through the broker). Wrong, expired, used and other tasks' links all get the same page.

The page shows what is asked and takes one answer: the subject's data as a CSV or JSON file
(access), a confirmed erasure or change with counts and a note, or "nothing found". A question to
the privacy officers does not spend the link. Every answer and question is recorded in the
request's audit trail with the owner's address and the time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from requests_app.audit import Actor
from requests_app.emails import absolute_url
from requests_app.models import OPEN_STATUSES
from requests_app.reminders import officer_emails
from systems.handlers import AnswerRefused, task_answer, task_event
from systems.models import OwnerLink, SystemTask, TaskAction, TaskStatus

MAX_TOKEN_LENGTH = 64
OWNER_EMAILS = frozenset({"request", "reminder"})
OFFICER_EMAILS = frozenset({"escalation", "question"})
MAX_QUESTION = 2000


class InvalidOwnerLink(Exception):
    """The link is wrong, expired, used, or for another task."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ManualHandler:
    """Sends a manual task: the owner is emailed a link; the answer comes through the page.

    The email is sent within the attempt, so a mail server that is down fails the attempt with
    its error (shown on the task) and the beat job retries it.
    """

    def send(self, task: SystemTask) -> None:
        if not task.owner_address:
            raise ValueError(_("The system names no owner with an email address."))
        owner_email_send(task_id=task.pk, kind="request")


def link_issue(task: SystemTask, *, to: str, at: datetime | None = None) -> str:
    """Create an owner link for ``task`` and return its token; only the hash is kept."""
    now = at or timezone.now()
    token = secrets.token_urlsafe(32)
    OwnerLink.objects.create(
        task=task,
        token_hash=_hash(token),
        sent_to=to,
        created_at=now,
        expires_at=now + timedelta(days=settings.SYSTEM_OWNER_LINK_DAYS),
    )
    return token


def link_task(
    *, task_id: int, token: str, at: datetime | None = None
) -> tuple[OwnerLink, SystemTask]:
    """Return the link and its open task, or raise ``InvalidOwnerLink`` (the same for every
    reason: wrong, expired, used, another task's, or the task settled already)."""
    now = at or timezone.now()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidOwnerLink
    link = (
        OwnerLink.objects.select_related(
            "task__system", "task__request__organization", "task__owner_user"
        )
        .filter(token_hash=_hash(token), task_id=task_id, used_at__isnull=True, expires_at__gt=now)
        .first()
    )
    # A request closed meanwhile (rejected, withdrawn) asks nothing more of its systems.
    if link is None or not link.task.is_open or link.task.request.status not in OPEN_STATUSES:
        raise InvalidOwnerLink
    return link, link.task


def _spend(link: OwnerLink, now: datetime) -> None:
    spent = OwnerLink.objects.filter(pk=link.pk, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now
    )
    if spent != 1:
        raise InvalidOwnerLink


# --- Answers from the page ------------------------------------------------------------------------


def csv_as_json(upload: IO[bytes], *, name: str) -> bytes:
    """Turn an uploaded CSV file (UTF-8, a header row) into the answer JSON: one set ``name``."""
    text = io.TextIOWrapper(getattr(upload, "file", upload), encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text)
        header = next(reader, None)
        if not header or not all(column.strip() for column in header):
            raise AnswerRefused(_("The CSV file needs a first row naming every column."))
        if len(set(header)) != len(header):
            raise AnswerRefused(_("The CSV file names a column twice."))
        rows = []
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise AnswerRefused(
                    _("Line %(line)d of the CSV file has %(found)d values for %(columns)d columns.")
                    % {"line": number, "found": len(row), "columns": len(header)}
                )
            rows.append(dict(zip(header, row, strict=True)))
    except UnicodeDecodeError:
        raise AnswerRefused(_("The CSV file is not UTF-8 text.")) from None
    except csv.Error as exc:
        raise AnswerRefused(
            _("The CSV file cannot be read: %(problem)s") % {"problem": exc}
        ) from None
    finally:
        text.detach()
    return json.dumps({name: rows}, ensure_ascii=False).encode("utf-8")


def _chunks(upload: IO[bytes]) -> Iterator[bytes]:
    while chunk := upload.read(64 * 1024):
        yield chunk


def owner_upload(
    *, task_id: int, token: str, upload: Any, note: str = "", at: datetime | None = None
) -> SystemTask:
    """Record the subject's data the owner uploaded (CSV or JSON); spend the link."""
    now = at or timezone.now()
    link, task = link_task(task_id=task_id, token=token, at=now)
    if task.action != TaskAction.EXPORT:
        raise AnswerRefused(_("This task does not ask for the subject's data."))
    if upload.size > settings.SYSTEM_ANSWER_MAX_BYTES:
        raise AnswerRefused(
            _("The file is larger than the %(limit)d bytes allowed.")
            % {"limit": settings.SYSTEM_ANSWER_MAX_BYTES}
        )
    filename = (upload.name or "").lower()
    if filename.endswith(".csv"):
        data: Iterator[bytes] = iter([csv_as_json(upload, name=task.system.name)])
    elif filename.endswith(".json"):
        data = _chunks(upload)
    else:
        raise AnswerRefused(_("Send a .csv or .json file."))
    with transaction.atomic():
        _spend(link, now)
        return task_answer(
            task, status=TaskStatus.DONE, note=note, data=data, by=link.sent_to, at=now
        )


def owner_done(
    *,
    task_id: int,
    token: str,
    count: int,
    kept: int = 0,
    kept_basis: str = "",
    note: str = "",
    at: datetime | None = None,
) -> SystemTask:
    """Record that the owner erased or changed the subject's data (with counts); spend the link."""
    now = at or timezone.now()
    link, task = link_task(task_id=task_id, token=token, at=now)
    if task.action == TaskAction.EXPORT:
        raise AnswerRefused(_("Upload the subject's data, or answer that nothing was found."))
    if kept and not kept_basis.strip():
        raise AnswerRefused(_("Say under which legal basis the kept records are kept."))
    counts = {"erased" if task.action == TaskAction.ERASE else "changed": count}
    kept_list = [{"rows": kept, "legal_basis": kept_basis.strip()}] if kept else None
    with transaction.atomic():
        _spend(link, now)
        return task_answer(
            task,
            status=TaskStatus.DONE,
            counts=counts,
            kept=kept_list,
            note=note,
            by=link.sent_to,
            at=now,
        )


def owner_nothing_found(
    *, task_id: int, token: str, note: str = "", at: datetime | None = None
) -> SystemTask:
    """Record that the owner found nothing about the subject; spend the link."""
    now = at or timezone.now()
    link, task = link_task(task_id=task_id, token=token, at=now)
    with transaction.atomic():
        _spend(link, now)
        return task_answer(
            task, status=TaskStatus.NOTHING_FOUND, note=note, by=link.sent_to, at=now
        )


def owner_question(*, task_id: int, token: str, question: str, at: datetime | None = None) -> None:
    """Pass the owner's question to the privacy officers; the link stays valid for the answer."""
    now = at or timezone.now()
    link, task = link_task(task_id=task_id, token=token, at=now)
    text = question.strip()
    if not text:
        raise AnswerRefused(_("Write your question."))
    if len(text) > MAX_QUESTION:
        raise AnswerRefused(
            _("A question is at most %(limit)d characters.") % {"limit": MAX_QUESTION}
        )
    with transaction.atomic():
        task_event(
            task,
            what="question from the owner",
            actor=Actor.system(f"owner {link.sent_to}"[:150]),
            at=now,
            note=text,
        )
        from outbox.api import enqueue

        enqueue("systems.send_officer_email", task.pk, "question", text)


# --- Emails ---------------------------------------------------------------------------------------


def owner_language(task: SystemTask) -> str:
    return task.system.owner_language or task.request.organization.default_language or "en"


def owner_email_send(*, task_id: int, kind: str) -> bool:
    """Email the owner of an open manual task a fresh link; False when it no longer applies."""
    if kind not in OWNER_EMAILS:
        raise ValueError(f"unknown owner email {kind!r}")
    task = (
        SystemTask.objects.select_related("system", "request__organization", "owner_user")
        .filter(pk=task_id)
        .first()
    )
    if (
        task is None
        or not task.is_open
        or not task.owner_address
        or task.request.status not in OPEN_STATUSES
    ):
        return False
    organization = task.request.organization
    token = link_issue(task, to=task.owner_address)
    context = {
        "task": task,
        "system": task.system,
        "request": task.request,
        "organization": organization,
        "kind": kind,
        "link": absolute_url(reverse("systems:owner_task", args=[task.pk, token])),
        "due_local": timezone.localtime(task.due_at, organization.tz) if task.due_at else None,
        "link_days": settings.SYSTEM_OWNER_LINK_DAYS,
    }
    with translation.override(owner_language(task)):
        subject = " ".join(render_to_string("emails/systems/owner_subject.txt", context).split())
        body = render_to_string("emails/systems/owner.txt", context)
    EmailMessage(
        subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[task.owner_address]
    ).send()
    task_event(
        task,
        what=f"owner emailed ({kind})",
        actor=Actor.system("systems.send_owner_email"),
        at=timezone.now(),
        to=task.owner_address,
    )
    return True


def officer_email_send(*, task_id: int, kind: str, text: str = "") -> bool:
    """Email the privacy officers about a task: overdue/exhausted, or the owner's question."""
    if kind not in OFFICER_EMAILS:
        raise ValueError(f"unknown officer email {kind!r}")
    task = (
        SystemTask.objects.select_related("system", "request__organization", "owner_user")
        .filter(pk=task_id)
        .first()
    )
    recipients = officer_emails()
    if task is None or not recipients:
        return False
    context = {
        "task": task,
        "system": task.system,
        "request": task.request,
        "organization": task.request.organization,
        "kind": kind,
        "text": text,
        "link": absolute_url(reverse("admin:systems_systemtask_change", args=[task.pk])),
    }
    with translation.override(settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string("emails/systems/officer_subject.txt", context).split())
        body = render_to_string("emails/systems/officer.txt", context)
    EmailMessage(
        subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients
    ).send()
    return True
