"""Audit checkpoints: every chain's length and head, signed and kept outside the database.

Seals (``requests_app.audit``) make a rewritten event visible, but not an event that is gone: a
chain whose last events were deleted, and whose request row was set back to match, is a shorter
chain that verifies, and a request deleted with its events leaves nothing to verify. A checkpoint
records, for every request, its id, reference, audit length and head, with the count of
requests, signed (HMAC) with the audit key in use, as a JSON file in ``AUDIT_CHECKPOINT_DIR``
(and mailed to the auditors when ``AUDIT_CHECKPOINT_EMAIL`` is on). ``audit_verify`` checks every
chain against the latest one, so a chain cut or rolled back below it, or a request deleted since,
is reported.

A checkpoint never vouches for damage: the trail is verified against the previous checkpoint
first, and a request with a problem (or deleted) keeps the mark the previous checkpoint gave it,
so the problem is reported again next time, while every healthy chain moves on. Only an operator
who has looked (after restoring a backup, say) accepts the current state as it is.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.utils import timezone, translation
from django.utils.translation import gettext

from outbox.api import enqueue
from requests_app.audit import Anchor, UnknownAuditKey, audit_key_current, audit_sign, chain_breaks
from requests_app.models import SubjectRequest
from requests_app.roles import AUDITORS

logger = logging.getLogger(__name__)

FORMAT = "dsr-tracker/audit-checkpoint"
FORMAT_VERSION = 1
# The name carries the UTC time to the microsecond, so names sort in the order they were taken.
NAME = re.compile(r"audit-checkpoint-\d{8}T\d{12}Z\.json")


@dataclass(frozen=True)
class ChainMark:
    """One request's chain as a checkpoint recorded it."""

    id: int
    reference: str
    length: int
    head: str


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint file's contents, its signature checked; ``name`` is the file's name."""

    name: str
    taken_at: datetime
    key_id: str
    requests: int
    chains: tuple[ChainMark, ...]
    problems: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"checkpoint {self.name}"


@dataclass
class AuditReport:
    """What ``audit_verify`` found: one line per problem, none when the trail is intact."""

    checked: int
    checkpoint: Checkpoint | None
    problems: list[str] = field(default_factory=list)
    # The requests (by id) with a problem, deleted ones included.
    broken: set[int] = field(default_factory=set)


class CheckpointInvalid(Exception):
    """A checkpoint file that cannot be trusted: unreadable, malformed or not validly signed."""


def checkpoint_directory() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_DIR)


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checkpoint_read(path: Path) -> Checkpoint:
    """Return the checkpoint in ``path`` once its signature checks; raise ``CheckpointInvalid``."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointInvalid(f"unreadable ({exc})") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise CheckpointInvalid("not an audit checkpoint")
    if body.get("format_version") != FORMAT_VERSION:
        raise CheckpointInvalid(f"unknown format version {body.get('format_version')!r}")
    signature = str(body.pop("signature", ""))
    key_id = str(body.get("key_id", ""))
    try:
        expected = audit_sign(key_id, _canonical(body))
    except UnknownAuditKey:
        raise CheckpointInvalid(
            f"signed with the audit key {key_id!r}, which AUDIT_KEYS does not list"
        ) from None
    if not hmac.compare_digest(expected, signature):
        raise CheckpointInvalid("its signature does not match: changed or forged")
    try:
        chains = tuple(
            ChainMark(int(c["id"]), str(c["reference"]), int(c["length"]), str(c["head"]))
            for c in body["chains"]
        )
        checkpoint = Checkpoint(
            name=path.name,
            taken_at=datetime.fromisoformat(body["taken_at"]),
            key_id=key_id,
            requests=int(body["requests"]),
            chains=chains,
            problems=tuple(str(problem) for problem in body.get("problems", [])),
        )
    except (KeyError, TypeError, ValueError):
        raise CheckpointInvalid("signed but malformed") from None
    if checkpoint.requests != len(chains):
        raise CheckpointInvalid("its count of requests does not match its list")
    return checkpoint


def checkpoint_latest(directory: Path | None = None) -> tuple[Checkpoint | None, list[str]]:
    """Return the newest checkpoint whose signature checks, and a line per newer invalid one."""
    directory = directory or checkpoint_directory()
    problems: list[str] = []
    names = sorted(
        (
            path.name
            for path in directory.glob("audit-checkpoint-*.json")
            if NAME.fullmatch(path.name)
        ),
        reverse=True,
    )
    for name in names:
        try:
            return checkpoint_read(directory / name), problems
        except CheckpointInvalid as exc:
            problems.append(f"checkpoint {name}: {exc}")
    return None, problems


def audit_verify(
    *, references: list[str] | None = None, checkpoint_path: Path | None = None
) -> AuditReport:
    """Check every chain (or those of ``references``) and the latest checkpoint (or the given one).

    One line per problem: a rewritten, unsealed or missing event, a chain truncated or a head
    rolled back below the checkpoint, a request deleted since the checkpoint, events left by a
    deleted request, a checkpoint that is not validly signed.
    """
    problems: list[str] = []
    checkpoint: Checkpoint | None
    if checkpoint_path is not None:
        try:
            checkpoint = checkpoint_read(checkpoint_path)
        except CheckpointInvalid as exc:
            checkpoint, problems = None, [f"checkpoint {checkpoint_path.name}: {exc}"]
    else:
        checkpoint, problems = checkpoint_latest()
    requests = SubjectRequest.objects.all()
    if references:
        requests = requests.filter(reference__in=references)
    marks = [] if checkpoint is None else list(checkpoint.chains)
    if references:
        wanted = set(references)
        marks = [mark for mark in marks if mark.reference in wanted]
    present = set(
        SubjectRequest.objects.filter(pk__in=[mark.id for mark in marks]).values_list(
            "pk", flat=True
        )
    )
    deleted = {mark.id for mark in marks if mark.id not in present}
    report = AuditReport(checked=requests.count(), checkpoint=checkpoint, problems=problems)
    for mark in marks:
        if mark.id in deleted:
            report.problems.append(
                f"{mark.reference}: deleted ({checkpoint} recorded its trail at event "
                f"{mark.length})"
            )
            report.broken.add(mark.id)
    anchors = {
        mark.id: Anchor(mark.length, mark.head, str(checkpoint))
        for mark in marks
        if mark.id in present
    }
    for problem in chain_breaks(requests if references else None, anchors=anchors):
        # Events left behind by a request reported as deleted are the same problem.
        if problem.request_id not in deleted:
            report.problems.append(str(problem))
        if problem.request_id is not None:
            report.broken.add(problem.request_id)
    return report


def checkpoint_take(
    *, at: datetime | None = None, accept: bool = False
) -> tuple[Checkpoint, AuditReport]:
    """Sign every chain's length and head into a new checkpoint file.

    The chains are read first, then the whole trail is verified against the latest checkpoint. A
    request with a problem keeps its mark from that checkpoint (a deleted one too), unless
    ``accept``, which records everything as it is now. Return the new checkpoint and the
    verification against the previous one (whose problems the file records too).
    """
    now = (at or timezone.now()).astimezone(UTC)
    rows = [
        ChainMark(*row)
        for row in SubjectRequest.objects.order_by("pk").values_list(
            "pk", "reference", "audit_length", "audit_head"
        )
    ]
    report = audit_verify()
    kept = (
        {}
        if accept or report.checkpoint is None
        else {mark.id: mark for mark in report.checkpoint.chains if mark.id in report.broken}
    )
    current = {mark.id for mark in rows}
    chains = sorted(
        [kept.get(mark.id, mark) for mark in rows]
        + [mark for mark in kept.values() if mark.id not in current],
        key=lambda mark: mark.id,
    )
    key_id = audit_key_current()
    body: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "taken_at": now.isoformat(timespec="microseconds"),
        "key_id": key_id,
        "requests": len(chains),
        "chains": [
            {"id": m.id, "reference": m.reference, "length": m.length, "head": m.head}
            for m in chains
        ],
        "problems": report.problems,
        "accepted": accept,
    }
    body["signature"] = audit_sign(key_id, _canonical(body))
    name = f"audit-checkpoint-{now:%Y%m%dT%H%M%S%f}Z.json"
    _write_new(checkpoint_directory(), name, _canonical(body))
    if settings.AUDIT_CHECKPOINT_EMAIL:
        enqueue("requests_app.send_audit_checkpoint", name)
    checkpoint = Checkpoint(
        name=name,
        taken_at=now,
        key_id=key_id,
        requests=len(chains),
        chains=tuple(chains),
        problems=tuple(report.problems),
    )
    return checkpoint, report


def _write_new(directory: Path, name: str, text: str) -> None:
    """Write ``text`` to a new file ``name``: complete or not there at all, never overwritten."""
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{name}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.link(partial, directory / name)  # fails rather than replace a checkpoint of that name
    partial.unlink()


def auditor_emails() -> list[str]:
    """Return the addresses of the active auditors."""
    users = get_user_model().objects.filter(is_active=True, groups__name=AUDITORS).exclude(email="")
    return list(users.order_by("username").values_list("email", flat=True).distinct())


def checkpoint_email_send(*, name: str) -> bool:
    """Mail the checkpoint file ``name`` to the active auditors; False when there are none."""
    if not NAME.fullmatch(name):
        raise ValueError(f"not an audit checkpoint name: {name!r}")
    recipients = auditor_emails()
    if not recipients:
        logger.warning("audit checkpoint %s not mailed: no active auditor has an address", name)
        return False
    path = checkpoint_directory() / name
    checkpoint = checkpoint_read(path)
    with translation.override(settings.LANGUAGE_CODE):
        subject = gettext("Audit checkpoint %(name)s") % {"name": name}
        lines = [
            gettext(
                "The attached file is a signed checkpoint of the audit trail, taken at "
                "%(taken_at)s: the length and last hash of the trail of every request."
            )
            % {"taken_at": checkpoint.taken_at.isoformat(timespec="seconds")},
            gettext("Requests: %(count)s") % {"count": checkpoint.requests},
        ]
        if checkpoint.problems:
            lines.append(
                "\n".join(
                    [gettext("Problems found when it was taken:")]
                    + [f"- {problem}" for problem in checkpoint.problems]
                )
            )
        lines.append(
            gettext(
                "Keep it where the tracker cannot change it. To check the trail against it "
                "later: %(command)s"
            )
            % {"command": f"python manage.py verify_audit_chain --checkpoint {name}"}
        )
    body = "\n\n".join(lines)
    message = EmailMessage(
        subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients
    )
    message.attach(name, path.read_bytes(), "application/json")
    message.send()
    return True
