"""The audit trail: append-only in the database, hash-chained, and sealed with a key it lacks."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from policies.models import PolicyVersion
from requests_app.audit import Actor, chain_breaks, event_append
from requests_app.models import EventKind, RequestEvent, RequestEventImmutable, SubjectRequest
from requests_app.workflow import request_mark_verified
from tests.requests_app import attacks
from tests.requests_app.attacks import WAYS_PAST_THE_TRIGGER
from tests.tracker import file_request

pytestmark = pytest.mark.django_db

TABLE = RequestEvent._meta.db_table


def test_the_database_refuses_to_update_an_event(version: PolicyVersion) -> None:
    request = file_request(version)
    event = request.events.get()

    with (
        pytest.raises(IntegrityError, match="audit trail"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"UPDATE {TABLE} SET note = 'edited' WHERE id = %s", [event.pk])  # noqa: S608

    assert RequestEvent.objects.get(pk=event.pk).note == ""


def test_the_database_refuses_to_delete_an_event(version: PolicyVersion) -> None:
    request = file_request(version)

    with (
        pytest.raises(IntegrityError, match="audit trail"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {TABLE} WHERE request_id = %s", [request.pk])  # noqa: S608

    assert RequestEvent.objects.filter(request=request).count() == 1


def test_queryset_updates_are_refused_by_the_database_too(version: PolicyVersion) -> None:
    request = file_request(version)

    with pytest.raises(IntegrityError), transaction.atomic():
        RequestEvent.objects.filter(request=request).update(note="edited")


def test_python_refuses_to_save_or_delete_an_existing_event(version: PolicyVersion) -> None:
    event = file_request(version).events.get()
    event.note = "edited"

    with pytest.raises(RequestEventImmutable):
        event.save()
    with pytest.raises(RequestEventImmutable):
        event.delete()


def test_events_chain_to_the_one_before(version: PolicyVersion) -> None:
    request = request_mark_verified(request=file_request(version))
    first, second = request.events.order_by("sequence")

    assert second.previous_hash == first.hash
    assert request.audit_head == second.hash
    assert request.audit_length == 2
    assert list(chain_breaks()) == []


def test_verify_audit_chain_passes_an_intact_trail(version: PolicyVersion, capsys) -> None:
    request_mark_verified(request=file_request(version))

    call_command("verify_audit_chain")

    assert "intact for 1 request" in capsys.readouterr().out


def _tamper(sql: str, params: list[int]) -> None:
    # What a database superuser could do: switch the trigger off, edit, switch it back on.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


def test_verify_audit_chain_finds_an_edited_event_and_names_it_on_a_line_of_its_own(
    version: PolicyVersion,
) -> None:
    tampered = request_mark_verified(request=file_request(version, email="a@example.com"))
    request_mark_verified(request=file_request(version, email="b@example.com"))
    first = tampered.events.get(sequence=1)
    _tamper(f"UPDATE {TABLE} SET note = 'nothing happened' WHERE id = %s", [first.pk])  # noqa: S608

    with pytest.raises(CommandError) as failed:
        call_command("verify_audit_chain")

    assert str(failed.value).splitlines() == [
        "audit trail broken (1 problem(s)):",
        f"{tampered.reference} event 1: rewritten: its content does not match its hash",
    ]


def test_verify_audit_chain_finds_a_removed_last_event(version: PolicyVersion) -> None:
    request = request_mark_verified(request=file_request(version))
    _tamper(f"DELETE FROM {TABLE} WHERE request_id = %s AND sequence = 2", [request.pk])  # noqa: S608

    with pytest.raises(CommandError, match=f"{request.reference} event 2: missing"):
        call_command("verify_audit_chain")


def test_verify_audit_chain_exits_non_zero(version: PolicyVersion) -> None:
    request = file_request(version)
    _tamper(f"UPDATE {TABLE} SET kind = 'verified' WHERE request_id = %s", [request.pk])  # noqa: S608

    with pytest.raises(CommandError) as failed:
        call_command("verify_audit_chain", request.reference)

    assert failed.value.returncode == 1


# --- Seals: what a rewriter without the audit key cannot make ------------------------------------


def verify_lines(*references: str) -> list[str]:
    """Run verify_audit_chain; return its problem lines (none when the trail is intact)."""
    try:
        call_command("verify_audit_chain", *references)
    except CommandError as failed:
        return str(failed).splitlines()[1:]
    return []


def test_each_event_is_sealed_with_the_audit_key_in_use(
    version: PolicyVersion, settings: Any
) -> None:
    settings.AUDIT_KEYS = {"2026a": "a" * 32, "2025b": "b" * 32}
    request = request_mark_verified(request=file_request(version))

    for event in request.events.all():
        assert event.key_id == "2026a"
        expected = hmac.new(b"a" * 32, event.hash.encode(), hashlib.sha256).hexdigest()
        assert event.seal == expected


@pytest.mark.parametrize("way", WAYS_PAST_THE_TRIGGER)
def test_an_event_rewritten_with_every_hash_recomputed_is_found(
    version: PolicyVersion, way: str
) -> None:
    request = request_mark_verified(request=file_request(version))
    with attacks.trigger_off(way) as cursor:
        attacks.rewrite(cursor, request, 1, note="filed by phone", actor_label="someone else")

    assert verify_lines() == [
        f"{request.reference} event 1: rewritten: its seal does not match its hash"
    ]


def test_a_rewritten_chain_stripped_of_its_seals_is_found(version: PolicyVersion) -> None:
    request = request_mark_verified(request=file_request(version))
    with attacks.trigger_off("replica") as cursor:
        attacks.rewrite(cursor, request, 2, kind=EventKind.NOTE)
        attacks.strip_seals(cursor, request)

    assert verify_lines() == [f"{request.reference} event 1: rewritten: it has no seal"]


def test_a_chain_resealed_with_a_key_of_the_attackers_own_is_found(
    version: PolicyVersion, settings: Any
) -> None:
    request = request_mark_verified(request=file_request(version))
    theirs = {"forged": "f" * 32}
    with attacks.trigger_off("owner") as cursor:
        attacks.rewrite(cursor, request, 2, note="no verification happened")
        for event in request.events.all():
            seal = hmac.new(b"f" * 32, event.hash.encode(), hashlib.sha256).hexdigest()
            cursor.execute(
                f"UPDATE {TABLE} SET key_id = %s, seal = %s WHERE id = %s",  # noqa: S608
                [next(iter(theirs)), seal, event.pk],
            )

    assert verify_lines() == [
        f"{request.reference} event 1: sealed with the audit key 'forged', "
        "which AUDIT_KEYS does not list"
    ]


def test_a_head_rolled_back_on_the_request_is_found(version: PolicyVersion) -> None:
    request = request_mark_verified(request=file_request(version))
    first = request.events.get(sequence=1)
    with attacks.trigger_off("owner") as cursor:
        attacks.roll_back_head(cursor, request, 1, first.hash)

    assert verify_lines() == [
        f"{request.reference} event 2: head rolled back: the request stops at event 1, "
        "its trail at 2"
    ]


def test_events_left_by_a_deleted_request_are_found(version: PolicyVersion) -> None:
    request = request_mark_verified(request=file_request(version))
    with attacks.trigger_off("replica") as cursor:
        attacks.delete_request(cursor, request, with_events=False)

    assert verify_lines() == [
        f"request {request.pk} event 1: its events remain but the request was deleted"
    ]


def test_old_keys_still_check_what_they_sealed_after_a_rotation(
    version: PolicyVersion, settings: Any
) -> None:
    settings.AUDIT_KEYS = {"old": "o" * 32}
    request = file_request(version)
    settings.AUDIT_KEYS = {"new": "n" * 32, "old": "o" * 32}
    request = request_mark_verified(request=request)

    assert list(request.events.values_list("key_id", flat=True)) == ["old", "new"]
    assert verify_lines() == []

    settings.AUDIT_KEYS = {"new": "n" * 32}
    assert verify_lines() == [
        f"{request.reference} event 1: sealed with the audit key 'old', "
        "which AUDIT_KEYS does not list"
    ]


def test_without_a_checkpoint_a_cut_chain_or_a_deleted_request_goes_unnoticed(
    version: PolicyVersion,
) -> None:
    # What seals alone cannot show; the checkpoints' tests show them caught.
    cut = request_mark_verified(request=file_request(version, email="a@example.com"))
    gone = file_request(version, email="b@example.com")
    with attacks.trigger_off("replica") as cursor:
        attacks.truncate(cursor, cut, keep=1)
        attacks.delete_request(cursor, gone)

    assert verify_lines() == []
    assert SubjectRequest.objects.count() == 1


def test_appending_an_event_costs_one_hmac(version: PolicyVersion, monkeypatch: Any) -> None:
    request = file_request(version)
    calls = []
    real = hmac.new

    def counted(*args: Any, **kwargs: Any) -> hmac.HMAC:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(hmac, "new", counted)

    event_append(
        request=request, kind=EventKind.NOTE, actor=Actor.system("test"), at=request.received_at
    )

    assert len(calls) == 1
