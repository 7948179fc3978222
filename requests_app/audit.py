"""The audit trail: appending hash-chained events and checking that no chain was broken."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

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
    """Append an event to ``request``'s trail, chained to the event before it.

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

    def __str__(self) -> str:
        return f"{self.reference} event {self.sequence}: {self.reason}"


def chain_breaks(requests: QuerySet[SubjectRequest] | None = None) -> Iterator[ChainBreak]:
    """Yield the first break of every request whose audit chain does not verify.

    Each event must follow the one before it (sequence, link and its own hash) and the last one
    must be the head recorded on the request, so an edited, inserted or removed event is found.
    Events are streamed in (request, sequence) order, so memory stays flat however long the trail.
    """
    scope = requests if requests is not None else SubjectRequest.objects.all()
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
        reference, length, head = heads.get(request_id, (f"request {request_id}", 0, ""))
        problem = _check_chain(reference, group, length=length, head=head)
        if problem is not None:
            yield problem
    for request_id, (reference, length, _head) in heads.items():
        if request_id not in seen and length:
            yield ChainBreak(reference, 1, f"all {length} events are missing")


def _check_chain(
    reference: str, events: Iterable[RequestEvent], *, length: int, head: str
) -> ChainBreak | None:
    expected, previous_hash = 1, GENESIS_HASH
    for event in events:
        if event.sequence != expected:
            return ChainBreak(
                reference, expected, f"missing (the next event is number {event.sequence})"
            )
        if event.previous_hash != previous_hash:
            return ChainBreak(reference, event.sequence, "does not link to the event before it")
        if event_hash(previous_hash, event) != event.hash:
            return ChainBreak(reference, event.sequence, "its content does not match its hash")
        expected, previous_hash = expected + 1, event.hash
    if expected - 1 != length:
        return ChainBreak(
            reference,
            expected,
            f"missing (the trail ends at {expected - 1}, the request at {length})",
        )
    if previous_hash != (head or GENESIS_HASH):
        return ChainBreak(reference, length, "is not the last event recorded on the request")
    return None
