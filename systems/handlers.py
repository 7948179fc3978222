"""Systems the tracker reaches through a handler: how a task is sent, answered and failed.

A system of a kind the tracker's engine does not act on itself (``manual``, ``http``,
``opendsr``) has a *handler*, registered per kind in an ``AppConfig.ready()``::

    handler_register("http", WebhookHandler())

``handler.send(task)`` is called by the Celery job ``systems.send_task`` (queued through the
outbox, and again by the beat job for due retries). It asks the system to act and either answers
at once with ``task_answer`` or leaves the task in progress until the system calls back (the
callback view calls ``task_answer``), or raises / calls ``task_fail``.

``task_answer`` is the one way an answer lands: it checks that the task is still open and that the
answer fits it, stores the subject's data (access) size-limited and validated in the private
export storage, records who answered and when in the audit trail, and tells the request's
listeners (``systems.work``) so what waited for the systems goes on. ``task_fail`` records an
error; a retryable one is tried again after an exponential backoff (``next_attempt_at``, which the
beat job reads) until ``SYSTEM_TASK_MAX_ATTEMPTS``, then it waits for an officer.

**The answer file** (access) is UTF-8 JSON: an object whose keys name sets of records (the
tables, lists or files the system keeps; 1-100 characters) and whose values are arrays of flat
objects (field name to a string, number, true, false or null)::

    {"tickets": [{"id": 12, "subject": "Refund", "opened": "2026-11-02"}]}

A top-level array of such objects is one set named ``records``. Anything else is refused with a
message naming the problem, and nothing is stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import IO, Any, Protocol

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from exports.build import delete_quietly, export_storage
from outbox.api import enqueue
from requests_app.audit import Actor, event_append
from requests_app.models import OPEN_STATUSES, EventKind
from systems.models import (
    OPEN_TASK_STATUSES,
    SETTLED_TASK_STATUSES,
    SystemTask,
    TaskAction,
    TaskStatus,
)

logger = logging.getLogger(__name__)

SEND_JOB = "systems.send_task"
ANSWER_DIR = "systems"
MAX_SET_NAME = 100
MAX_ERROR = 2000
# Backoff between attempts: 1, 2, 4, ... minutes, at most six hours apart.
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)

# The statuses an answer may give; "failed" is task_fail's, "closed" an officer's.
ANSWER_STATUSES = frozenset(
    {TaskStatus.IN_PROGRESS, TaskStatus.DONE, TaskStatus.NOTHING_FOUND, TaskStatus.NOT_APPLICABLE}
)


class Handler(Protocol):
    def send(self, task: SystemTask) -> None: ...


_HANDLERS: dict[str, Handler] = {}
# Called (on commit) with the task's request id whenever a task settles.
_SETTLED: list[Callable[[int], None]] = []


def handler_register(kind: str, handler: Handler) -> None:
    """Make ``handler`` send the tasks of systems of ``kind``; a second call replaces the first."""
    _HANDLERS[kind] = handler


def handler_for(kind: str) -> Handler | None:
    return _HANDLERS.get(kind)


def settled_listener_register(listener: Callable[[int], None]) -> None:
    """Call ``listener(request_id)`` after the commit of any task of that request settling."""
    if listener not in _SETTLED:
        _SETTLED.append(listener)


class AnswerRefused(ValueError):
    """The answer does not fit the task (settled already, malformed, too large); nothing changed."""


def _label(by: str) -> str:
    return (by.strip() or "system")[:150]


def task_event(
    task: SystemTask, *, what: str, actor: Actor, at: datetime, note: str = "", **data: Any
) -> None:
    """Append a note about ``task`` to its request's audit trail (one event kind for them all)."""
    event_append(
        request=task.request,
        kind=EventKind.NOTE,
        actor=actor,
        at=at,
        note=note,
        data={
            "system_task": what,
            "task": task.pk,
            "system": task.system.slug,
            "action": task.action,
            "status": task.status,
            **data,
        },
    )


# --- The answer file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAnswer:
    name: str
    sha256: str
    rows: int
    size: int


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _refuse_constant(name: str) -> object:
    raise AnswerRefused(
        _("The answer holds %(value)s, which is not a JSON number.") % {"value": name}
    )


def answer_records(stream: IO[bytes]) -> dict[str, list[dict[str, Any]]]:
    """Parse and check an answer file; return its record sets or raise ``AnswerRefused``."""
    try:
        parsed = json.load(stream, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise AnswerRefused(_("The answer is not UTF-8 text.")) from None
    except json.JSONDecodeError as exc:
        raise AnswerRefused(
            _("The answer is not valid JSON (line %(line)d, column %(column)d: %(problem)s).")
            % {"line": exc.lineno, "column": exc.colno, "problem": exc.msg}
        ) from None
    if isinstance(parsed, list):
        parsed = {"records": parsed}
    if not isinstance(parsed, dict):
        raise AnswerRefused(_("The answer must be a JSON object of record sets, or an array."))
    for name, rows in parsed.items():
        if not name or len(name) > MAX_SET_NAME or not name.isprintable() or "/" in name:
            raise AnswerRefused(
                _("“%(name)s” cannot name a set of records (1 to 100 printable characters, no /).")
                % {"name": name[:MAX_SET_NAME]}
            )
        if not isinstance(rows, list):
            raise AnswerRefused(_("“%(name)s” must be an array of records.") % {"name": name})
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, dict) or not all(
                isinstance(key, str) and _scalar(value) for key, value in row.items()
            ):
                raise AnswerRefused(
                    _(
                        "Record %(number)d of “%(name)s” must be an object of fields with text, "
                        "number, true, false or null values."
                    )
                    % {"number": number, "name": name}
                )
    return parsed


def _store_answer(task: SystemTask, chunks: Iterable[bytes]) -> StoredAnswer:
    """Write the answer to the private export storage, size-limited and checked."""
    limit = settings.SYSTEM_ANSWER_MAX_BYTES
    digest = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise AnswerRefused(
                    _("The answer is larger than the %(limit)d bytes a system may send.")
                    % {"limit": limit}
                )
            digest.update(chunk)
            spool.write(chunk)
        if size == 0:
            raise AnswerRefused(_("The answer is empty."))
        spool.seek(0)
        records = answer_records(spool)
        rows = sum(len(found) for found in records.values())
        spool.seek(0)
        name = export_storage().save(
            f"{ANSWER_DIR}/{task.request_id}/{task.pk}-{task.system.slug}.json", File(spool)
        )
    return StoredAnswer(name=name, sha256=digest.hexdigest(), rows=rows, size=size)


def answer_open(task: SystemTask) -> IO[bytes]:
    """Open the task's stored answer file for reading."""
    return export_storage().open(task.data_name, "rb")


# --- Answers and failures -------------------------------------------------------------------------


def _checked_counts(counts: Mapping[str, Any] | None) -> dict[str, int]:
    checked: dict[str, int] = {}
    for name, value in (counts or {}).items():
        if (
            not isinstance(name, str)
            or not name
            or len(name) > MAX_SET_NAME
            or isinstance(value, bool)
            or not isinstance(value, int)
            or value < 0
        ):
            raise AnswerRefused(
                _("Counts are names of what was acted on, each with a whole number from 0.")
            )
        checked[name] = value
    return checked


def _checked_kept(kept: Any) -> list[dict[str, Any]]:
    if kept is None:
        return []
    if not isinstance(kept, list) or not all(
        isinstance(entry, dict) and all(isinstance(k, str) and _scalar(v) for k, v in entry.items())
        for entry in kept
    ):
        raise AnswerRefused(
            _("What was kept is a list of objects (what, how many, legal basis, until when).")
        )
    return kept


def task_answer(
    task: SystemTask,
    *,
    status: str,
    counts: Mapping[str, Any] | None = None,
    kept: Any = None,
    note: str = "",
    data: Iterable[bytes] | None = None,
    by: str,
    actor: Actor | None = None,
    at: datetime | None = None,
) -> SystemTask:
    """Record a system's answer to ``task``; raise ``AnswerRefused`` and change nothing if it
    does not fit.

    ``data`` (access only) is the subject's data as chunks of the JSON described above. ``by``
    says who answered (an owner's address, a system's name); ``actor`` defaults to a system actor
    of that name.
    """
    now = at or timezone.now()
    if status not in ANSWER_STATUSES:
        raise AnswerRefused(_("A system cannot answer “%(status)s”.") % {"status": status})
    checked_counts = _checked_counts(counts)
    checked_kept = _checked_kept(kept)
    if status == TaskStatus.NOT_APPLICABLE and not note.strip():
        raise AnswerRefused(_("Say why the task does not apply."))
    if data is not None and task.action != TaskAction.EXPORT:
        raise AnswerRefused(_("Only a task to find the subject's data takes a data file."))
    if status == TaskStatus.DONE and task.action == TaskAction.EXPORT and data is None:
        raise AnswerRefused(_("Send the subject's data, or answer that nothing was found."))
    if not task.is_open:
        raise AnswerRefused(_("This task was answered already."))
    stored = _store_answer(task, data) if data is not None else None
    try:
        with transaction.atomic():
            locked = (
                SystemTask.objects.select_for_update()
                .select_related("system", "request")
                .get(pk=task.pk)
            )
            if not locked.is_open:
                raise AnswerRefused(_("This task was answered already."))
            locked.status = status
            locked.counts = checked_counts or locked.counts
            locked.kept = checked_kept or locked.kept
            locked.note = note.strip() or locked.note
            if status == TaskStatus.NOT_APPLICABLE:
                locked.reason = note.strip()
            locked.answered_by = by.strip()[:254]
            locked.last_error = ""
            locked.stuck_since = None
            if stored is not None:
                locked.data_name = stored.name
                locked.data_sha256 = stored.sha256
                locked.data_rows = stored.rows
                locked.data_size = stored.size
            if status in SETTLED_TASK_STATUSES:
                locked.finished_at = now
                locked.next_attempt_at = None
            locked.evidence = {
                **locked.evidence,
                "answered_at": now.isoformat(),
                "answered_by": locked.answered_by,
            }
            locked.save()
            task_event(
                locked,
                what="answered",
                actor=actor or Actor.system(_label(by)),
                at=now,
                note=note.strip(),
                counts=checked_counts,
                rows=locked.data_rows,
                sha256=locked.data_sha256,
            )
            if locked.status in SETTLED_TASK_STATUSES:
                settled_notify(locked.request_id)
    except BaseException:
        if stored is not None:
            delete_quietly(export_storage(), stored.name)
        raise
    return locked


def settled_notify(request_id: int) -> None:
    for listener in _SETTLED:
        transaction.on_commit(partial(listener, request_id))


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    return min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def task_fail(
    task: SystemTask, error: str, *, retryable: bool, at: datetime | None = None
) -> SystemTask:
    """Record that the system failed ``task``.

    A retryable failure is tried again after the backoff while attempts remain; otherwise the
    task waits, failed, for an officer to retry or close it ("Waiting on systems").
    """
    now = at or timezone.now()
    with transaction.atomic():
        locked = (
            SystemTask.objects.select_for_update()
            .select_related("system", "request")
            .get(pk=task.pk)
        )
        if not locked.is_open:
            return locked
        locked.status = TaskStatus.FAILED
        locked.last_error = error.strip()[:MAX_ERROR] or _("The system failed without a reason.")
        exhausted = locked.attempts >= settings.SYSTEM_TASK_MAX_ATTEMPTS
        if retryable and not exhausted:
            locked.next_attempt_at = now + backoff(locked.attempts)
        else:
            locked.next_attempt_at = None
            locked.stuck_since = locked.stuck_since or now
        locked.save()
        task_event(
            locked,
            what="failed",
            actor=Actor.system(SEND_JOB),
            at=now,
            note=locked.last_error,
            retry_at=locked.next_attempt_at.isoformat() if locked.next_attempt_at else None,
            attempts=locked.attempts,
        )
    return locked


def task_wake(task: SystemTask) -> None:
    """Queue the task's send job in the caller's transaction (delivered on commit)."""
    enqueue(SEND_JOB, task.pk)


def task_send(*, task_id: int, at: datetime | None = None) -> SystemTask | None:
    """Send one task to its system through the handler of its kind (the job ``systems.send_task``).

    An attempt is counted and claimed by a conditional update, so a duplicate wake-up for the same
    attempt does nothing. What the handler raises fails the task, retryably.
    """
    now = at or timezone.now()
    task = SystemTask.objects.select_related("system", "request").filter(pk=task_id).first()
    if task is None or task.status not in OPEN_TASK_STATUSES:
        return task
    if task.request.status not in OPEN_STATUSES:
        return task  # rejected, withdrawn or expired meanwhile: nothing more to ask
    if task.next_attempt_at is not None and task.next_attempt_at > now:
        return task
    handler = handler_for(task.system.kind)
    if handler is None:
        # The engine's kinds are settled by the engine's own results; nothing to send.
        return task
    claimed = SystemTask.objects.filter(
        pk=task.pk, attempts=task.attempts, status__in=list(OPEN_TASK_STATUSES)
    ).update(
        attempts=task.attempts + 1,
        status=TaskStatus.IN_PROGRESS,
        next_attempt_at=None,
        updated_at=now,
    )
    if claimed != 1:
        return task
    task.refresh_from_db()
    try:
        handler.send(task)
    except Exception as exc:
        logger.warning("system task %s failed: %s", task.pk, exc)
        return task_fail(task, f"{type(exc).__name__}: {exc}", retryable=True, at=now)
    task.refresh_from_db()
    return task
