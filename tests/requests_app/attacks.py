"""What someone who can switch off the append-only trigger does to the audit trail, in SQL.

Two ways past the trigger on PostgreSQL: ``SET session_replication_role = replica`` (a superuser,
or a role granted the setting; it skips foreign keys too), or the tables' owner, no superuser,
disabling the trigger with ``ALTER TABLE``. Whatever they change, they recompute what they can
without the audit key: the SHA-256 hashes, the links and the head on the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection

from requests_app.audit import GENESIS_HASH, event_hash
from requests_app.models import RequestEvent, SubjectRequest

EVENTS = RequestEvent._meta.db_table
REQUESTS = SubjectRequest._meta.db_table
TRIGGER = "requests_app_requestevent_append_only"
WAYS_PAST_THE_TRIGGER = ["replica", "owner"]
# The event columns an attacker edits here; the names go into SQL, so only these.
EDITABLE = {"note", "public_note", "kind", "actor_label", "key_id", "seal"}


@contextmanager
def trigger_off(way: str) -> Iterator[Any]:
    """Yield a cursor for which the append-only trigger is out of the way (``WAYS_PAST_...``).

    Everything happens inside the test's transaction, so the role and the ownership it creates
    are gone when the test ends.
    """
    with connection.cursor() as cursor:
        # Deferred checks pending from the test's own inserts would block ALTER TABLE.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        if way == "replica":
            cursor.execute("SET session_replication_role = replica")
            try:
                yield cursor
            finally:
                cursor.execute("SET session_replication_role = DEFAULT")
            return
        cursor.execute("CREATE ROLE dsr_audit_owner NOSUPERUSER NOLOGIN")
        cursor.execute(f"ALTER TABLE {EVENTS} OWNER TO dsr_audit_owner")
        cursor.execute(f"ALTER TABLE {REQUESTS} OWNER TO dsr_audit_owner")
        cursor.execute("SET ROLE dsr_audit_owner")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False,)
        cursor.execute(f"ALTER TABLE {EVENTS} DISABLE TRIGGER {TRIGGER}")
        try:
            yield cursor
        finally:
            cursor.execute(f"ALTER TABLE {EVENTS} ENABLE TRIGGER {TRIGGER}")
            cursor.execute("RESET ROLE")


def rewrite(cursor: Any, request: SubjectRequest, sequence: int, **changes: str) -> None:
    """Change event ``sequence`` and recompute the hash and link of it and every later event,
    and the head on the request, so the SHA-256 chain verifies again."""
    assert set(changes) <= EDITABLE
    events = list(RequestEvent.objects.filter(request=request).order_by("sequence"))
    previous = GENESIS_HASH
    for event in events:
        if event.sequence == sequence:
            for name, value in changes.items():
                setattr(event, name, value)
        if event.sequence >= sequence:
            event.previous_hash = previous
            event.hash = event_hash(previous, event)
            columns = dict(changes) if event.sequence == sequence else {}
            columns |= {"previous_hash": event.previous_hash, "hash": event.hash}
            assignments = ", ".join(f"{name} = %s" for name in columns)
            cursor.execute(
                f"UPDATE {EVENTS} SET {assignments} WHERE id = %s",  # noqa: S608
                [*columns.values(), event.pk],
            )
        previous = event.hash
    cursor.execute(f"UPDATE {REQUESTS} SET audit_head = %s WHERE id = %s", [previous, request.pk])  # noqa: S608


def strip_seals(cursor: Any, request: SubjectRequest) -> None:
    """Blank the key id and seal of every event of ``request``."""
    cursor.execute(
        f"UPDATE {EVENTS} SET key_id = '', seal = '' WHERE request_id = %s",  # noqa: S608
        [request.pk],
    )


def truncate(cursor: Any, request: SubjectRequest, keep: int) -> None:
    """Delete the events after number ``keep`` and set the request's length and head to match."""
    head = RequestEvent.objects.get(request=request, sequence=keep).hash if keep else ""
    cursor.execute(
        f"DELETE FROM {EVENTS} WHERE request_id = %s AND sequence > %s",  # noqa: S608
        [request.pk, keep],
    )
    roll_back_head(cursor, request, keep, head)


def roll_back_head(cursor: Any, request: SubjectRequest, length: int, head: str) -> None:
    """Set the length and head recorded on the request, leaving the events alone."""
    cursor.execute(
        f"UPDATE {REQUESTS} SET audit_length = %s, audit_head = %s WHERE id = %s",  # noqa: S608
        [length, head, request.pk],
    )


def delete_request(cursor: Any, request: SubjectRequest, *, with_events: bool = True) -> None:
    """Delete the request row (foreign keys are skipped as replica), and its events if asked."""
    if with_events:
        cursor.execute(f"DELETE FROM {EVENTS} WHERE request_id = %s", [request.pk])  # noqa: S608
    cursor.execute(f"DELETE FROM {REQUESTS} WHERE id = %s", [request.pk])  # noqa: S608
