"""The audit trail: appending hash-chained, sealed events and checking that no chain was broken.

Each event's ``hash`` chains it to the one before (SHA-256, so anyone can recompute a chain from
an evidence record); its ``seal`` is the HMAC-SHA256 of that hash under an audit key that lives
outside the database (``AUDIT_KEYS``). Whoever can switch off the append-only trigger can still
edit events and recompute the hashes, but not the seals. Dropping the last events, or a whole
request, leaves no broken seal: checkpoints (``requests_app.checkpoints``) catch those.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet

from requests_app.models import ActorKind, RequestEvent, SubjectRequest

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did something: the subject, a staff user, or a named system job."""

    kind: ActorKind
    user: User | None = None
    label: str = ""

    @classmethod
    def subject(cls) -> Actor:
        return cls(ActorKind.SUBJECT)

    @classmethod
    def staff(cls, user: User) -> Actor:
        return cls(ActorKind.STAFF, user=user, label=user.get_username())

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(ActorKind.SYSTEM, label=job)


def canonical_fields(event: RequestEvent) -> dict[str, Any]:
    """Return the fields an event's hash covers, in a form that survives a database round trip."""
    return {
        "request": event.request_id,
        "sequence": event.sequence,
        "kind": event.kind,
        "actor_kind": event.actor_kind,
        "actor_user": event.actor_user_id,
        "actor_label": event.actor_label,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "note": event.note,
        "public_note": event.public_note,
        "subject_visible": event.subject_visible,
        "data": event.data,
        "created_at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }


def event_hash(previous_hash: str, event: RequestEvent) -> str:
    """Return SHA-256 over the previous hash and the event's canonical JSON."""
    payload = json.dumps(
        canonical_fields(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256((previous_hash + payload).encode("utf-8")).hexdigest()


class UnknownAuditKey(LookupError):
    """Something was signed with a key id that ``AUDIT_KEYS`` does not list."""


def audit_key_current() -> str:
    """Return the id of the audit key that seals new events and signs checkpoints."""
    return next(iter(settings.AUDIT_KEYS))


def audit_sign(key_id: str, message: str) -> str:
    """Return the HMAC-SHA256 of ``message`` (UTF-8) under the audit key ``key_id``, in hex."""
    try:
        secret = settings.AUDIT_KEYS[key_id]
    except KeyError:
        raise UnknownAuditKey(key_id) from None
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def event_seal(key_id: str, digest: str) -> str:
    """Return the seal of an event whose hash is ``digest``: its HMAC under ``key_id``."""
    return audit_sign(key_id, digest)


@transaction.atomic
def event_append(
    *,
    request: SubjectRequest,
    kind: str,
    actor: Actor,
    at: datetime,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
    public_note: str = "",
    subject_visible: bool = False,
    data: dict[str, Any] | None = None,
) -> RequestEvent:
    """Append an event to ``request``'s trail, chained to the event before it and sealed.

    The request row is locked first, so two writers append one after the other and both see the
    chain's current end; callers that already changed the row hold the lock already.
    """
    length, head = (
        SubjectRequest.objects.select_for_update()
        .filter(pk=request.pk)
        .values_list("audit_length", "audit_head")
        .get()
    )
    sequence, previous_hash = length + 1, head or GENESIS_HASH
    event = RequestEvent(
        request=request,
        sequence=sequence,
        kind=kind,
        actor_kind=actor.kind,
        actor_user=actor.user,
        actor_label=actor.label,
        from_status=from_status,
        to_status=to_status,
        note=note,
        public_note=public_note,
        subject_visible=subject_visible,
        data=data or {},
        # The hash covers microseconds; PostgreSQL and SQLite both keep them.
        created_at=at.astimezone(UTC),
        previous_hash=previous_hash,
    )
    event.hash = event_hash(previous_hash, event)
    event.key_id = audit_key_current()
    event.seal = event_seal(event.key_id, event.hash)
    event.save()
    SubjectRequest.objects.filter(pk=request.pk).update(
        audit_length=sequence, audit_head=event.hash
    )
    request.audit_length, request.audit_head = sequence, event.hash
    return event


@dataclass(frozen=True)
class ChainBreak:
    """Where a request's chain stops verifying, and why."""

    reference: str
    sequence: int
    reason: str
    request_id: int | None = None

    def __str__(self) -> str:
        return f"{self.reference} event {self.sequence}: {self.reason}"


@dataclass(frozen=True)
class Anchor:
    """A state of a chain recorded outside the database: its length and head then."""

    length: int
    head: str
    source: str


def chain_breaks(
    requests: QuerySet[SubjectRequest] | None = None,
    *,
    anchors: Mapping[int, Anchor] | None = None,
) -> Iterator[ChainBreak]:
    """Yield the first break of every request whose audit chain does not verify.

    Each event must follow the one before it (sequence, link and its own hash), carry a seal made
    with a known audit key, and the last one must be the head recorded on the request, so an
    edited, inserted or removed event is found. ``anchors`` (by request id, from a checkpoint)
    add what the database alone cannot show: a chain now shorter than it was, or different up
    to then. Events are streamed in (request, sequence) order, so memory stays flat however
    long the trail; events whose request is gone are reported when every request is checked.
    """
    scope = requests if requests is not None else SubjectRequest.objects.all()
    anchors = anchors or {}
    heads: dict[int, tuple[str, int, str]] = {
        pk: (reference, length, head)
        for pk, reference, length, head in scope.values_list(
            "pk", "reference", "audit_length", "audit_head"
        )
    }
    events = RequestEvent.objects.order_by("request_id", "sequence")
    if requests is not None:
        events = events.filter(request_id__in=list(heads))
    seen: set[int] = set()
    for request_id, group in groupby(events.iterator(chunk_size=2000), key=lambda e: e.request_id):
        seen.add(request_id)
        if request_id not in heads:
            yield ChainBreak(
                f"request {request_id}",
                1,
                "its events remain but the request was deleted",
                request_id,
            )
            continue
        reference, length, head = heads[request_id]
        problem = _check_chain(group, length=length, head=head, anchor=anchors.get(request_id))
        if problem is not None:
            sequence, reason = problem
            yield ChainBreak(reference, sequence, reason, request_id)
    for request_id, (reference, length, head) in heads.items():
        if request_id not in seen:
            problem = _check_chain([], length=length, head=head, anchor=anchors.get(request_id))
            if problem is not None:
                yield ChainBreak(reference, problem[0], problem[1], request_id)


def _check_chain(
    events: Iterable[RequestEvent], *, length: int, head: str, anchor: Anchor | None
) -> tuple[int, str] | None:
    """Return the first problem of one request's chain as (sequence, reason), or None."""
    expected, previous_hash = 1, GENESIS_HASH
    for event in events:
        if event.sequence != expected:
            return expected, f"missing (the next event is number {event.sequence})"
        if event.previous_hash != previous_hash:
            return event.sequence, "does not link to the event before it"
        if event_hash(previous_hash, event) != event.hash:
            return event.sequence, "rewritten: its content does not match its hash"
        problem = _seal_problem(event)
        if problem:
            return event.sequence, problem
        if anchor is not None and event.sequence == anchor.length and event.hash != anchor.head:
            return event.sequence, (
                f"rewritten: the trail up to this event is not the one {anchor.source} recorded"
            )
        expected, previous_hash = expected + 1, event.hash
    count = expected - 1
    if anchor is not None and count < anchor.length:
        return count + 1, (
            f"truncated: the trail ends at event {count}, {anchor.source} recorded {anchor.length}"
        )
    if anchor is not None and length < anchor.length:
        return length + 1, (
            f"head rolled back: the request stops at event {length}, "
            f"{anchor.source} recorded {anchor.length}"
        )
    if count < length:
        return expected, f"missing (the trail ends at {count}, the request at {length})"
    if count > length:
        return length + 1, (
            f"head rolled back: the request stops at event {length}, its trail at {count}"
        )
    if previous_hash != (head or GENESIS_HASH):
        return length, "is not the last event recorded on the request"
    return None


def _seal_problem(event: RequestEvent) -> str:
    if not event.seal:
        return "rewritten: it has no seal"
    try:
        expected = event_seal(event.key_id, event.hash)
    except UnknownAuditKey:
        return f"sealed with the audit key {event.key_id!r}, which AUDIT_KEYS does not list"
    if not hmac.compare_digest(expected, event.seal):
        return "rewritten: its seal does not match its hash"
    return ""
